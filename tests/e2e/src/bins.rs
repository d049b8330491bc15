//! Locating the workspace's binaries next to the running executable (a test
//! binary in `target/<profile>/deps`, or xtask in `target/<profile>`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// A directory chosen by [`use_dir`], overriding the default.
static DIR: OnceLock<PathBuf> = OnceLock::new();

/// Makes [`path`] look in `dir` (e.g. `target/release` for benchmarks);
/// the first call wins.
pub fn use_dir(dir: PathBuf) {
    let _ = DIR.set(dir);
}

/// The path of a workspace binary; panics with what to run if it is not built.
pub fn path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    let mut dir = match DIR.get() {
        Some(dir) => dir.clone(),
        None => exe.parent().expect("executable directory").to_path_buf(),
    };
    if dir.ends_with("deps") {
        dir.pop();
    }
    let bin = dir.join(name);
    assert!(bin.exists(), "{} is not built: run `cargo build --bins` (cargo xtask test does)", bin.display());
    bin
}

/// The test venv's Python (`.tools/venv`, made by `cargo xtask setup`).
pub fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
    assert!(venv.exists(), "{} is missing: run `cargo xtask setup` (cargo xtask test does)", venv.display());
    venv
}

/// A command for a third-party program whose traffic must stay on loopback:
/// no proxies from the environment, and Hugging Face Hub lookups (routers
/// fetch tokenizers) pointed at a closed local port.
pub fn loopback_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        command.env_remove(var);
    }
    command.env("NO_PROXY", "*").env("HF_ENDPOINT", "http://127.0.0.1:9").env("HF_HUB_OFFLINE", "1");
    command
}

/// A Python script of the harness, by file name.
pub fn python_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python").join(name)
}
