//! What every benchmark needs: release builds of the simulator and the load
//! generator, the load generator as a process, and process CPU time.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;

use crate::cmd;

/// Builds `kvlb-sim` and `kvlb-loadgen` with optimizations (debug builds
/// would measure themselves).
pub fn build_release() -> anyhow::Result<()> {
    cmd::run(
        "cargo",
        &[
            "build",
            "--release",
            "--quiet",
            "-p",
            "kvlb-sim",
            "-p",
            "kvlb-bench",
        ],
    )
}

/// A release binary of the workspace: xtask runs from `<target>/debug`.
pub fn release_bin(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .context("xtask runs from <target>/<profile>")?;
    let bin = target.join("release").join(name);
    anyhow::ensure!(
        bin.exists(),
        "{} is not built (cargo build --release -p kvlb-sim -p kvlb-bench)",
        bin.display()
    );
    Ok(bin)
}

/// Runs a prepared `kvlb-loadgen run ...` command and returns its summary.
pub fn loadgen(mut command: Command) -> anyhow::Result<serde_json::Value> {
    let out = command.output().context("cannot start kvlb-loadgen")?;
    anyhow::ensure!(
        out.status.success(),
        "kvlb-loadgen failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    serde_json::from_slice(&out.stdout).context("kvlb-loadgen printed no JSON summary")
}

/// Writes a trace with `kvlb-loadgen generate --out FILE <args>`.
pub fn generate(loadgen: &Path, out: &Path, args: &[String]) -> anyhow::Result<()> {
    let status = Command::new(loadgen)
        .arg("generate")
        .arg("--out")
        .arg(out)
        .args(args)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "kvlb-loadgen generate {} failed",
        args.join(" ")
    );
    Ok(())
}

/// User + system CPU seconds of a process and all its descendants (0 for
/// processes that are gone).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(all) = procfs::process::all_processes() else {
        return 0.0;
    };
    let stats: Vec<_> = all.filter_map(|p| p.ok()?.stat().ok()).collect();
    let mut tree = vec![pid as i32];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
        i += 1;
    }
    let ticks: u64 = stats
        .iter()
        .filter(|s| tree.contains(&s.pid))
        .map(|s| s.utime + s.stime)
        .sum();
    ticks as f64 / procfs::ticks_per_second() as f64
}
