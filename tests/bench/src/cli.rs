//! The `kvlb-loadgen` command line: `generate` writes a trace, `run` drives
//! one and prints the JSON summary.

use std::{io::Write, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::{
    client::{self, ConnectionMode},
    generate::Workload,
    oracle::Oracle,
    request::SendOptions,
    run::{RunOptions, run},
    target::Target,
    trace,
};

/// Workload traces and an open-loop streaming load generator for
/// OpenAI-compatible LLM servers and routers.
#[derive(Debug, Parser)]
#[command(name = "kvlb-loadgen", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a seeded workload trace (JSON Lines).
    Generate {
        /// Output file (default: stdout).
        #[arg(long, global = true)]
        out: Option<PathBuf>,
        /// The workload.
        #[command(subcommand)]
        workload: Workload,
    },
    /// Drive a trace against servers and print the summary as JSON.
    Run(RunArgs),
}

/// `kvlb-loadgen run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The trace (JSON Lines).
    #[arg(long)]
    pub trace: PathBuf,
    /// Base URLs to send to, in turn (one for a router or VIP).
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present = "oracle",
        conflicts_with = "oracle"
    )]
    pub url: Vec<String>,
    /// Simulator replicas to pick from with their exact state (the oracle).
    #[arg(long, value_delimiter = ',')]
    pub oracle: Vec<String>,
    /// Open loop at this mean rate (requests per model second), rescaling
    /// the trace's arrival offsets; default: the trace's own offsets.
    #[arg(long, conflicts_with = "concurrency")]
    pub qps: Option<f64>,
    /// Closed loop with this many concurrent streams (cycles the trace).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Stop sending after this many wall-clock seconds.
    #[arg(long)]
    pub duration_s: Option<f64>,
    /// Send at most this many requests.
    #[arg(long)]
    pub max_requests: Option<usize>,
    /// Connection handling.
    #[arg(long, value_enum, default_value = "keep-alive")]
    pub connection: ConnectionMode,
    /// Per-request limit, wall-clock seconds.
    #[arg(long, default_value_t = 300.0)]
    pub timeout_s: f64,
    /// TTFT objective for goodput, model milliseconds.
    #[arg(long, default_value_t = 2000.0)]
    pub ttft_slo_ms: f64,
    /// The servers' time scale (kvlb-sim --time-scale): rates are given and
    /// reported per model second, latencies in model milliseconds.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Do not send `"ignore_eos": true` (the server decides output lengths).
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the summary to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate { out, workload } => {
            let requests = workload.generate()?;
            match out {
                Some(path) => {
                    let mut file = std::fs::File::create(&path)
                        .with_context(|| format!("--out {}", path.display()))?;
                    trace::write(&mut std::io::BufWriter::new(&mut file), &requests)?;
                }
                None => trace::write(&mut std::io::stdout().lock(), &requests)?,
            }
            Ok(())
        }
        Command::Run(args) => run_command(&args),
    }
}

fn run_command(args: &RunArgs) -> anyhow::Result<()> {
    let positive = |x: f64, flag: &str| {
        anyhow::ensure!(
            x > 0.0 && x.is_finite(),
            "{flag} must be a positive number, got {x}"
        );
        Ok(Duration::from_secs_f64(x))
    };
    let options = RunOptions {
        qps: args.qps,
        concurrency: args.concurrency,
        duration: args
            .duration_s
            .map(|d| positive(d, "--duration-s"))
            .transpose()?,
        max_requests: args.max_requests,
        send: SendOptions {
            ignore_eos: !args.no_ignore_eos,
            timeout: positive(args.timeout_s, "--timeout-s")?,
        },
        time_scale: args.time_scale,
        ttft_slo_ms: args.ttft_slo_ms,
    };
    let requests = Arc::new(trace::read(&args.trace)?);
    let target = Arc::new(if args.oracle.is_empty() {
        Target::round_robin(args.url.clone())?
    } else {
        Target::Oracle(Oracle::new(args.oracle.clone())?)
    });
    let client = client::build(args.connection)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        anyhow::ensure!(threads >= 1, "--threads must be at least 1");
        runtime.worker_threads(threads);
    }
    let summary = runtime
        .enable_all()
        .build()?
        .block_on(run(requests, target, client, &options))?;
    let json = serde_json::to_string_pretty(&summary)?;
    if let Some(path) = &args.out {
        std::fs::write(path, &json).with_context(|| format!("--out {}", path.display()))?;
    }
    writeln!(std::io::stdout().lock(), "{json}")?;
    Ok(())
}
