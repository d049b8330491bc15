//! The agent's state file: the routing table it last applied (pools with
//! their specs and map ids, and the request objectives). The `kvlb` CLI reads
//! it for pool names and the L7 proxy for everything the maps do not hold
//! (model names, splits, weights). Written atomically; never read back by the
//! agent, which recovers what it needs from the maps.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::{egress::EgressTable, reconcile::AppliedPool, table::PoolSpec};

/// Directory for state files.
pub const STATE_DIR: &str = "/run/kvlb";

/// What the agent applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoutingState {
    /// Every pool, in table order.
    pub pools: Vec<RoutedPool>,
    /// Request objective → priority.
    pub objectives: BTreeMap<String, i32>,
    /// External providers (where their keys are, never the keys) and
    /// per-model fallback chains.
    #[serde(default)]
    pub egress: EgressTable,
}

/// One pool: its spec and the ids the maps know it by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoutedPool {
    /// As configured.
    pub spec: PoolSpec,
    /// Map ids.
    pub ids: AppliedPool,
}

/// The state file that belongs to a pin directory: one per agent instance.
pub fn path_for(pin_dir: &Path) -> PathBuf {
    let name = pin_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "kvlb".into());
    Path::new(STATE_DIR).join(format!("{name}.json"))
}

/// Replaces the state file.
pub fn write(path: &Path, state: &RoutingState) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

/// Reads the state file.
pub fn read(path: &Path) -> anyhow::Result<RoutingState> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a kvlb state file", path.display()))
}
