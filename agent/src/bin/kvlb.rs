//! `kvlb`: inspect what the kernel balances, read from the pinned maps.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use kvlb_agent::{inspect::Snapshot, maps::Maps, state, status::NodeStatus};
use kvlb_common::DEFAULT_PIN_DIR;

#[derive(Parser)]
#[command(version, about = "Inspect kvlb's pools, endpoints and counters")]
struct Cli {
    /// bpffs directory the agent pinned into.
    #[arg(long, global = true, env = "KVLB_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pools, endpoints, weights, flags, live connections and counters.
    List {
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Each endpoint's live score, the scraped inputs behind it and their age
    /// (asks the running agent).
    Status {
        /// The agent's metrics address (its --metrics-addr).
        #[arg(long, env = "KVLB_METRICS_ADDR", default_value = "127.0.0.1:9464")]
        agent: std::net::SocketAddr,
        /// Print JSON for scripts.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlb: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(cli: &Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::List { json } => {
            let maps = Maps::open(&cli.pin_dir)
                .map_err(|e| e.context(format!("is kvlb-agent running with --pin-dir {}?", cli.pin_dir.display())))?;
            // Names are a nicety: without a state file, pools show by id.
            let names: Vec<_> = state::read(&state::path_for(&cli.pin_dir)).map(|s| s.pools.into_iter().map(|p| p.ids).collect()).unwrap_or_default();
            let snapshot = Snapshot::read(&maps, &names)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&snapshot)?);
            } else {
                print!("{}", snapshot.to_text());
            }
            Ok(())
        }
        Command::Status { agent, json } => {
            let url = format!("http://{agent}/status");
            let body = ureq::get(&url)
                .config()
                .timeout_global(Some(std::time::Duration::from_secs(3)))
                .build()
                .call()
                .and_then(|r| r.into_body().read_to_string())
                .map_err(|e| anyhow::anyhow!("cannot reach the agent at {url}: {e} (is kvlb-agent running with --metrics-addr {agent}?)"))?;
            if json {
                println!("{body}");
            } else {
                let status: NodeStatus = serde_json::from_str(&body)?;
                print!("{}", status.to_text());
            }
            Ok(())
        }
    }
}
