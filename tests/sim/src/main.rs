//! `kvlb-sim`: serve one simulated replica or a fleet. Replica addresses go
//! to stdout as JSON lines; logs go to stderr (`RUST_LOG`, default `warn`).

use clap::Parser;
use kvlb_sim::cli::{Cli, run};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    run(cli).await
}
