//! Running commands, with the command line in every error.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Runs a command in the workspace root, inheriting stdio; fails unless it
/// exits 0.
pub fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    run_env(program, args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .with_context(|| format!("cannot start {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Runs a command quietly and tells whether it exited 0 (false if it cannot start).
pub fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command's standard output, or an empty string if it cannot run.
pub fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The workspace root.
pub fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// Runs a test command like [`run`], echoing its output, and ends with one
/// line totalling every `test result:` line (`tests: N passed, N failed`):
/// cargo's own last summary is the doc-tests', often zero.
pub fn run_counting_tests(program: &str, args: &[&str]) -> anyhow::Result<()> {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {program}"))?;
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in BufReader::new(child.stdout.take().context("no stdout")?).lines() {
        let line = line?;
        println!("{line}");
        if let Some(summary) = line.strip_prefix("test result: ") {
            let count = |word: &str| -> u64 {
                summary.split(';').find_map(|part| part.trim().strip_suffix(word)?.trim().rsplit(' ').next()?.parse().ok()).unwrap_or(0)
            };
            passed += count("passed");
            failed += count("failed");
        }
    }
    let status = child.wait()?;
    println!("tests: {passed} passed, {failed} failed");
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
