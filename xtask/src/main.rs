//! `cargo xtask`: the project's automation, wired in by the alias in
//! `.cargo/config.toml`. Every command but `setup` runs setup first, so a
//! fresh machine needs nothing else.
//!
//! - `setup`: install what a fresh machine lacks (idempotent).
//! - `test`: setup, build, run every test.
//! - `demo`: setup, build, run the standalone demo.
//! - `fuzz`: run the fuzz targets.
//! - `bench connect`: connection setup through a VIP against direct.
//! - `bench sim`: the simulator's own capacity on one core.
//! - `bench quality`: routing quality against other routers on a simulator fleet.
//! - `bench agent`: the agent's CPU, memory and score age.
//! - `bench epp`: kvlb as Envoy's Endpoint Picker against Envoy round robin.
//! - `crd`: regenerate the chart's CRDs from the Rust types.

mod bench;
mod cmd;
mod crd;
mod demo;
mod fuzz;
mod setup;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "kvlb project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install the toolchain and test tools a fresh machine lacks.
    Setup,
    /// Set up, build, and run all tests (arguments go to `cargo test`).
    Test {
        /// Extra arguments for `cargo test`, after `--`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, build, and run the standalone demo on this machine.
    Demo,
    /// Regenerate the Helm chart's CRDs (charts/kvlb/crds/) from the Rust types.
    Crd,
    /// Run the fuzz targets (every parser of untrusted input).
    Fuzz(fuzz::Args),
    /// Run a benchmark.
    Bench {
        #[command(subcommand)]
        which: bench::Bench,
    },
}

fn main() -> std::process::ExitCode {
    let result = match Cli::parse().command {
        Command::Setup => setup::run(),
        Command::Test { args } => setup::run().and_then(|()| test(&args)),
        Command::Fuzz(args) => setup::run().and_then(|()| fuzz::run(&args)),
        Command::Demo => setup::run().and_then(|()| build()).and_then(|()| demo::run()),
        Command::Crd => setup::run().and_then(|()| crd::run()),
        Command::Bench { which } => setup::run().and_then(|()| build()).and_then(|()| bench::run(which)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Builds every binary the tests, the demo and the benchmarks start.
fn build() -> anyhow::Result<()> {
    cmd::run("cargo", &["build", "--quiet", "--bins", "-p", "kvlb-agent", "-p", "kvlb-e2e", "-p", "kvlb-sim", "-p", "kvlb-proxy"])
}

/// Seconds each fuzz target runs during `cargo xtask test`.
const TEST_FUZZ_SECONDS: u64 = 15;

/// Builds, runs each fuzz target briefly, then every test (last, so the test
/// runner's summary closes the output).
fn test(args: &[String]) -> anyhow::Result<()> {
    build()?;
    for target in fuzz::TARGETS {
        fuzz::run_target(target, TEST_FUZZ_SECONDS)?;
    }
    let mut all = vec!["test"];
    all.extend(args.iter().map(String::as_str));
    cmd::run_counting_tests("cargo", &all)
}
