//! The `kvlb-sim` command line: `serve`, `fleet` and `profiles`.

use std::{
    io::Write,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
};

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::{
    api::DEFAULT_MAX_BODY_BYTES,
    engine::{EngineConfig, OutputLen},
    fleet::{Replica, replica_addrs, start_fleet},
    metrics::MetricsFlavor,
    profile::{self, PROFILES},
};

/// Simulated LLM model servers (vLLM-shaped engine, OpenAI and SGLang APIs).
#[derive(Debug, Parser)]
#[command(name = "kvlb-sim", version)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve one replica.
    Serve(ServeArgs),
    /// Serve several replicas from one process.
    Fleet(FleetArgs),
    /// Print the built-in hardware/model profiles as JSON.
    Profiles,
}

/// `kvlb-sim serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: Ipv4Addr,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Hardware/model profile.
    #[arg(long, default_value = "h100-8b")]
    pub profile: String,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `kvlb-sim fleet`.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Number of replicas.
    #[arg(long)]
    pub replicas: usize,
    /// Address of replica 0; replica i listens on base+i.
    #[arg(long, default_value = "127.0.0.1")]
    pub base_addr: Ipv4Addr,
    /// Port of every replica (or of replica 0 with --consecutive-ports; 0 = any free port).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Put all replicas on --base-addr, on ports port, port+1, ...
    #[arg(long)]
    pub consecutive_ports: bool,
    /// Profiles, one per replica or cycled (e.g. h100-8b,h100-8b,l4-8b).
    #[arg(long, value_delimiter = ',', default_value = "h100-8b")]
    pub profile: Vec<String>,
    /// Engine settings shared by all replicas.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// Engine settings; unset ones come from the profile.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Served model name.
    #[arg(long, default_value = "meta-llama/Llama-3.1-8B-Instruct")]
    pub model: String,
    /// Run model time this many times faster than wall time.
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// KV-cache blocks (default: the profile's).
    #[arg(long)]
    pub num_gpu_blocks: Option<usize>,
    /// Tokens per KV block (default: the profile's, 16).
    #[arg(long)]
    pub block_size: Option<usize>,
    /// Most running sequences (default: the profile's).
    #[arg(long)]
    pub max_num_seqs: Option<usize>,
    /// Token budget per step (default: the profile's).
    #[arg(long)]
    pub max_num_batched_tokens: Option<usize>,
    /// Context window (default: the profile's).
    #[arg(long)]
    pub max_model_len: Option<usize>,
    /// Waiting-queue cap; beyond it requests get 429.
    #[arg(long, default_value_t = 1000)]
    pub max_waiting: usize,
    /// LoRA adapters served (names, comma separated).
    #[arg(long, value_delimiter = ',')]
    pub lora_modules: Vec<String>,
    /// LoRA adapters loaded at once.
    #[arg(long, default_value_t = 1)]
    pub max_loras: usize,
    /// Disable prefix caching.
    #[arg(long)]
    pub no_prefix_caching: bool,
    /// Metric names to expose.
    #[arg(long, value_enum, default_value = "vllm")]
    pub metrics_flavor: MetricsFlavor,
    /// Seed for output lengths and text (replica i uses seed + i).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Median sampled output length (requests without ignore_eos).
    #[arg(long, default_value_t = OutputLen::default().median)]
    pub output_len_median: f64,
    /// Log-normal sigma of the sampled output length.
    #[arg(long, default_value_t = OutputLen::default().sigma)]
    pub output_len_sigma: f64,
    /// Request body limit in bytes (larger bodies get 413).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
}

impl EngineArgs {
    /// The config of replica `index` running `profile`.
    pub fn config(&self, profile_name: &str, index: usize) -> anyhow::Result<EngineConfig> {
        let Some(profile) = profile::find(profile_name) else {
            bail!(
                "unknown profile `{profile_name}` (known: {})",
                profile::names()
            );
        };
        let mut config = EngineConfig::new(profile, self.model.clone());
        config.num_gpu_blocks = self.num_gpu_blocks.unwrap_or(config.num_gpu_blocks);
        config.block_size = self.block_size.unwrap_or(config.block_size);
        config.max_num_seqs = self.max_num_seqs.unwrap_or(config.max_num_seqs);
        config.max_num_batched_tokens = self
            .max_num_batched_tokens
            .unwrap_or(config.max_num_batched_tokens);
        config.max_model_len = self.max_model_len.unwrap_or(config.max_model_len);
        config.max_waiting = self.max_waiting;
        config.lora_adapters = self
            .lora_modules
            .iter()
            .map(|m| Arc::from(m.as_str()))
            .collect();
        config.max_loras = self.max_loras;
        config.enable_prefix_caching = !self.no_prefix_caching;
        config.metrics_flavor = self.metrics_flavor;
        config.seed = self.seed.wrapping_add(index as u64);
        config.output_len = OutputLen {
            median: self.output_len_median,
            sigma: self.output_len_sigma,
        };
        config.time_scale = self.time_scale;
        config.validate()?;
        Ok(config)
    }
}

/// Runs a parsed command line until interrupted.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let (configs, addrs, max_body) = match cli.command {
        Command::Profiles => {
            println!("{}", serde_json::to_string_pretty(PROFILES)?);
            return Ok(());
        }
        Command::Serve(args) => {
            let config = args.engine.config(&args.profile, 0)?;
            let addr = SocketAddr::from((args.host, args.port));
            (vec![config], vec![addr], args.engine.max_body_bytes)
        }
        Command::Fleet(args) => {
            if args.replicas == 0 {
                bail!("--replicas must be at least 1");
            }
            if args.profile.len() > args.replicas {
                bail!(
                    "{} profiles given for {} replicas",
                    args.profile.len(),
                    args.replicas
                );
            }
            let configs = (0..args.replicas)
                .map(|i| args.engine.config(&args.profile[i % args.profile.len()], i))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let addrs = replica_addrs(
                args.base_addr,
                args.port,
                args.replicas,
                args.consecutive_ports,
            )?;
            (configs, addrs, args.engine.max_body_bytes)
        }
    };
    let replicas = start_fleet(configs, &addrs, max_body).await?;
    announce(&replicas)?;
    shutdown_signal().await
}

/// Prints one JSON line per replica once every listener is bound.
fn announce(replicas: &[Replica]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for replica in replicas {
        serde_json::to_writer(&mut out, &replica.line())?;
        writeln!(out)?;
    }
    out.flush().context("writing replica addresses")
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
