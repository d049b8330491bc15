//! `cargo xtask crd`: regenerates the chart's CustomResourceDefinitions from
//! the Rust types (`kvlb-agent crd` prints them). A test in the agent fails
//! while the committed copy is stale.

use std::process::Command;

use anyhow::{Context, bail};

use crate::cmd::root;

/// Where the chart keeps the KvlbPool CRD (Helm installs `crds/` first).
const CRD_FILE: &str = "charts/kvlb/crds/kvlbpools.kvlb.dev.yaml";

/// Writes the generated CRDs into the chart.
pub fn run() -> anyhow::Result<()> {
    let out = Command::new("cargo")
        .args(["run", "--quiet", "--package", "kvlb-agent", "--bin", "kvlb-agent", "--", "crd"])
        .current_dir(root())
        .output()
        .context("cannot start cargo")?;
    if !out.status.success() {
        bail!("`kvlb-agent crd` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
    }
    let path = root().join(CRD_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, &out.stdout).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("crd: wrote {CRD_FILE}");
    Ok(())
}
