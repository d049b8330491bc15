//! `cargo xtask setup`: installs what a fresh machine lacks, one line of
//! progress per step; a second run only checks and finishes in seconds.

use std::time::Instant;

use anyhow::Context;

use crate::cmd::{self, output, root, run_env, succeeds};

/// Debian packages: LLVM 22 for bpf-linker.
const APT_PACKAGES: [&str; 2] = ["llvm-22-dev", "libpolly-22-dev"];
/// Debian packages of `cargo xtask bench quality`'s contenders.
const BENCH_APT_PACKAGES: [&str; 2] = ["nginx", "haproxy"];
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

/// The routing-quality benchmark's peers: nginx and HAProxy (Debian), and
/// with `litellm` LiteLLM's proxy (tests/requirements-litellm.txt, large).
/// Envoy and sglang-router come with tests/requirements.txt.
pub fn bench_peers(litellm: bool) -> anyhow::Result<()> {
    step("benchmark peers (nginx, haproxy)", || apt_install(&BENCH_APT_PACKAGES))?;
    if litellm {
        step("LiteLLM proxy (.tools/venv)", || pip_requirements("tests/requirements-litellm.txt"))?;
    }
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
    apt_install(&APT_PACKAGES)
}

/// Installs those of `packages` that are missing; false if none was.
fn apt_install(packages: &[&str]) -> anyhow::Result<bool> {
    let missing: Vec<&str> = packages
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
    pip_requirements("tests/requirements.txt")
}

/// Installs a requirements file (relative to the root) into the venv,
/// creating it if needed; a stamp per file skips an unchanged one.
fn pip_requirements(file: &str) -> anyhow::Result<bool> {
    let root = root();
    let venv = root.join(".tools/venv");
    let requirements = root.join(file);
    let wanted = std::fs::read_to_string(&requirements).with_context(|| format!("cannot read {file}"))?;
    let name = requirements.file_name().and_then(|n| n.to_str()).context("requirements file name")?;
    let stamp = venv.join(format!("kvlb-{name}"));
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
