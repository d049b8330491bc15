//! `kvlb-loadgen`: writes workload traces and drives them against
//! OpenAI-compatible servers and routers (see `kvlb-loadgen --help`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    match kvlb_bench::cli::main(kvlb_bench::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlb-loadgen: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
