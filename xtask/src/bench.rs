//! `cargo xtask bench …`: benchmarks. They compare side by side in one run and
//! report ratios, because the machine is shared and noisy; none runs in CI.

mod agent;
mod connect;
mod contenders;
mod epp;
mod fleet;
mod overhead;
mod process;
mod quality;
mod sim;
mod soak;
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
    /// The agent's CPU, memory and score age with 16 scraped model servers.
    Agent(agent::Args),
    /// kvlb as Envoy's Endpoint Picker: decision time, and throughput against Envoy round robin.
    Epp(epp::Args),
    /// What each path to a model server costs: direct, kvlb connect, kvlb l7,
    /// kvlb's EPP behind Envoy, nginx, Envoy and sglang-router in front of a
    /// fast static backend.
    Overhead(overhead::Args),
    /// Stability: sustained load through an l7 and a connect-mode pool at once; errors, memory and descriptors over time.
    Soak(soak::Args),
}

/// Runs one benchmark against release builds of the binaries.
pub fn run(which: Bench) -> anyhow::Result<()> {
    crate::cmd::run("cargo", &["build", "--quiet", "--release", "--bins", "-p", "kvlb-agent", "-p", "kvlb-e2e", "-p", "kvlb-sim", "-p", "kvlb-proxy", "-p", "kvlb-bench"])?;
    kvlb_e2e::bins::use_dir(crate::cmd::root().join("target/release"));
    match which {
        Bench::Connect(args) => connect::run(&args),
        Bench::Sim(args) => sim::run(&args),
        Bench::Quality(args) => quality::run(&args),
        Bench::Agent(args) => agent::run(&args),
        Bench::Epp(args) => epp::run(&args),
        Bench::Overhead(args) => overhead::run(&args),
        Bench::Soak(args) => soak::run(&args),
    }
}
