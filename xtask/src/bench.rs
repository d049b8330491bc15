//! `cargo xtask bench …`: benchmarks. They compare side by side in one run and
//! report ratios, because the machine is shared and noisy; none runs in CI.

mod connect;
mod fleet;
mod quality;
mod sim;
mod tools;

use clap::Subcommand;

/// The benchmarks.
#[derive(Subcommand)]
pub enum Bench {
    /// Connection setup through a VIP (kvlb connect mode) against direct.
    Connect(connect::Args),
    /// The simulator's own capacity: one pinned core, many replicas and
    /// streams; is it the model or the process that sets the pace?
    Sim(sim::Args),
    /// Routing quality against other routers on a simulator fleet.
    Quality(quality::Args),
}

/// Runs one benchmark.
pub fn run(which: Bench) -> anyhow::Result<()> {
    match which {
        Bench::Connect(args) => connect::run(&args),
        Bench::Sim(args) => sim::run(&args),
        Bench::Quality(args) => quality::run(&args),
    }
}
