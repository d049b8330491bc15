//! `cargo xtask fuzz`: runs the cargo-fuzz targets in `tests/fuzz` (every
//! parser of untrusted input), each for a while. `cargo xtask test` runs them
//! briefly; longer runs are for finding bugs. New inputs go to
//! `target/fuzz-corpus/<target>`; the committed seeds in
//! `tests/fuzz/corpus/<target>` are only read.

use anyhow::Context;

use crate::cmd;

/// The fuzz targets, by name.
pub const TARGETS: [&str; 5] = ["pool_file", "prometheus_text", "request_body", "sse_usage", "anthropic_translation"];

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Only this target.
    target: Option<String>,
}

/// Runs the targets.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let targets: Vec<&str> = match &args.target {
        Some(t) => vec![TARGETS.iter().copied().find(|x| x == t).with_context(|| format!("unknown fuzz target {t:?}; known: {}", TARGETS.join(", ")))?],
        None => TARGETS.to_vec(),
    };
    for target in targets {
        run_target(target, args.seconds)?;
    }
    Ok(())
}

/// Runs one target for `seconds`; fails if it finds a crash.
pub fn run_target(target: &str, seconds: u64) -> anyhow::Result<()> {
    let root = cmd::root();
    let corpus = root.join("target/fuzz-corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    let seeds = root.join("tests/fuzz/corpus").join(target);
    let max_time = format!("-max_total_time={seconds}");
    eprintln!("fuzz: {target} for {seconds} s");
    cmd::run(
        "cargo",
        &[
            "+nightly",
            "fuzz",
            "run",
            "--fuzz-dir",
            "tests/fuzz",
            target,
            corpus.to_str().context("non-UTF-8 path")?,
            seeds.to_str().context("non-UTF-8 path")?,
            "--",
            &max_time,
            "-print_final_stats=1",
        ],
    )
}
