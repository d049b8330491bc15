//! `cargo xtask setup`: installs what a fresh machine lacks, one line of
//! progress per step; a second run only checks and finishes in seconds.

use std::time::Instant;

use anyhow::Context;

use crate::cmd::{self, output, root, run_env, succeeds};

/// Debian packages: LLVM 22 for bpf-linker.
const APT_PACKAGES: [&str; 2] = ["llvm-22-dev", "libpolly-22-dev"];
/// The bpf-linker release line that works with the pinned aya family.
const BPF_LINKER_VERSION: &str = "0.13";

/// Runs every step.
pub fn run() -> anyhow::Result<()> {
    step("Debian packages", apt)?;
    step("rust-src for the nightly toolchain", rust_src)?;
    step("bpf-linker", bpf_linker)?;
    step("cargo-fuzz", cargo_fuzz)?;
    step("Python test tools (.tools/venv)", python_tools)?;
    Ok(())
}

/// Runs one step and reports it: `setup: NAME ... present` or `... installed (Ns)`.
fn step(name: &str, f: fn() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let start = Instant::now();
    eprint!("setup: {name} ... ");
    let installed = f().with_context(|| format!("setup step {name:?} failed"))?;
    if installed {
        eprintln!("installed ({:.0}s)", start.elapsed().as_secs_f64());
    } else {
        eprintln!("present");
    }
    Ok(())
}

fn apt() -> anyhow::Result<bool> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !output("dpkg-query", &["-W", "-f=${Status}", p]).contains("install ok installed"))
        .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    cmd::run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(&missing);
    run_env("apt-get", &args, &[("DEBIAN_FRONTEND", "noninteractive")])?;
    Ok(true)
}

fn rust_src() -> anyhow::Result<bool> {
    if output("rustup", &["component", "list", "--toolchain", "nightly", "--installed"]).contains("rust-src") {
        return Ok(false);
    }
    cmd::run("rustup", &["component", "add", "rust-src", "--toolchain", "nightly"])?;
    Ok(true)
}

fn bpf_linker() -> anyhow::Result<bool> {
    if output("bpf-linker", &["--version"]).contains(&format!("bpf-linker {BPF_LINKER_VERSION}")) {
        return Ok(false);
    }
    let version = format!("~{BPF_LINKER_VERSION}");
    run_env(
        "cargo",
        &["install", "--locked", "bpf-linker", "--version", &version, "--no-default-features", "--features", "llvm-22"],
        &[("LLVM_PREFIX", "/usr/lib/llvm-22")],
    )?;
    Ok(true)
}

fn cargo_fuzz() -> anyhow::Result<bool> {
    if succeeds("cargo", &["fuzz", "--version"]) {
        return Ok(false);
    }
    cmd::run("cargo", &["install", "--locked", "cargo-fuzz"])?;
    Ok(true)
}

fn python_tools() -> anyhow::Result<bool> {
    let root = root();
    let venv = root.join(".tools/venv");
    let requirements = root.join("tests/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements).context("cannot read tests/requirements.txt")?;
    let stamp = venv.join("kvlb-requirements.txt");
    let python = venv.join("bin/python");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) && python.exists() {
        return Ok(false);
    }
    if !succeeds(python.to_str().context("non-UTF-8 path")?, &["--version"]) {
        cmd::run("python3", &["-m", "venv", venv.to_str().context("non-UTF-8 path")?])?;
    }
    let py = python.to_str().context("non-UTF-8 path")?;
    cmd::run(py, &["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements.to_str().context("non-UTF-8 path")?])?;
    std::fs::write(&stamp, wanted)?;
    Ok(true)
}
