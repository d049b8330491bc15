//! The agent's state file: the pool names and ids it last applied, for the
//! `kvlb` CLI (the maps hold ids, not names). Written atomically; never read
//! back by the agent, which recovers everything it needs from the maps.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::reconcile::AppliedPool;

/// Directory for state files.
pub const STATE_DIR: &str = "/run/kvlb";

/// The state file that belongs to a pin directory: one per agent instance.
pub fn path_for(pin_dir: &Path) -> PathBuf {
    let name = pin_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "kvlb".into());
    Path::new(STATE_DIR).join(format!("{name}.json"))
}

/// Replaces the state file.
pub fn write(path: &Path, pools: &[AppliedPool]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(pools)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Reads the state file; a missing or unreadable one yields no names.
pub fn read(path: &Path) -> Vec<AppliedPool> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}
