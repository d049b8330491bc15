//! The Helm chart `charts/kvlb`, checked with real tools from the test venv
//! (`cargo xtask setup` installs them): helm (run by `python/helm.py`),
//! kubernetes-validate, and PyYAML to read rendered manifests.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

use serde_json::Value;

use crate::bins;

/// The release namespace the tests render into.
pub const NAMESPACE: &str = "kvlb-system";

/// The chart's directory.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/kvlb")
}

/// Runs helm with `args`.
pub fn helm(args: &[&str]) -> Output {
    Command::new(bins::python()).arg(bins::python_script("helm.py")).args(args).output().expect("run helm.py")
}

/// `helm template` of the chart as release `kvlb` with extra `args`
/// (`--set`, `-f`); panics with helm's message if it fails.
pub fn render(args: &[&str]) -> String {
    let dir = dir();
    let mut all = vec!["template", "kvlb", dir.to_str().expect("UTF-8 path"), "--namespace", NAMESPACE];
    all.extend(args);
    let out = helm(&all);
    assert!(out.status.success(), "helm {all:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 manifests")
}

/// The documents of a YAML stream, as JSON.
pub fn documents(yaml: &str) -> Vec<Value> {
    let out = pipe(Command::new(bins::python()).arg(bins::python_script("yaml_to_json.py")), yaml);
    assert!(out.status.success(), "yaml_to_json.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("a JSON array")
}

/// Validates manifests offline against the Kubernetes `version` schemas,
/// strictly (unknown fields are errors).
pub fn validate(yaml: &str, version: &str) -> Output {
    let tool = bins::python().with_file_name("kubernetes-validate");
    assert!(tool.exists(), "{} is missing: run `cargo xtask setup`", tool.display());
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), yaml).expect("write manifests");
    Command::new(tool).args(["--strict", "--kubernetes-version", version]).arg(file.path()).output().expect("run kubernetes-validate")
}

fn pipe(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("wait")
}
