//! `cargo xtask bench …`: benchmarks. They compare side by side in one run and
//! report ratios, because the machine is shared and noisy; none runs in CI.

mod connect;

use clap::Subcommand;

/// The benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Connection setup through a VIP (kvlb connect mode) against direct.
    Connect(connect::Args),
}

/// Runs one benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Connect(args) => connect::run(&args),
    }
}
