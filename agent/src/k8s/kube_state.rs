//! The Kubernetes-only state the pool table has no field for, for kvlb-proxy:
//! each pool's InferencePool and application protocol, and the
//! InferenceObjective priorities. Written atomically next to the agent's
//! state file (`/run/kvlb/kvlb.json` → `/run/kvlb/kvlb.kubernetes.json`):
//!
//! ```json
//! {
//!   "pools": [
//!     { "name": "llama.models", "inference_pool": "models/llama", "app_protocol": "http" }
//!   ],
//!   "objectives": [
//!     { "namespace": "models", "name": "premium", "group": "llm-d.ai",
//!       "inference_pool": "models/llama", "pools": ["llama.models"], "priority": 2 }
//!   ]
//! }
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Facts about the pools and objectives of this node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubeState {
    /// One per pool in the table, by pool name.
    pub pools: Vec<PoolInfo>,
    /// Every InferenceObjective, by namespace and name.
    pub objectives: Vec<Objective>,
}

/// What a pool is in Kubernetes terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolInfo {
    /// The pool-table name (`<kvlbpool>.<namespace>`).
    pub name: String,
    /// Its InferencePool, `namespace/name`.
    pub inference_pool: String,
    /// The InferencePool's `appProtocol`: `http` or `kubernetes.io/h2c`.
    pub app_protocol: String,
}

/// One InferenceObjective: the priority of the requests that name it (header
/// `x-gateway-inference-objective`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objective {
    /// Its namespace.
    pub namespace: String,
    /// Its name, as requests carry it.
    pub name: String,
    /// The API group it came from (`llm-d.ai` wins over GIE's on a clash).
    pub group: String,
    /// The InferencePool it applies to, `namespace/name`.
    pub inference_pool: String,
    /// The kvlb pools on that InferencePool.
    pub pools: Vec<String>,
    /// Higher is more critical; below 0 is sheddable.
    pub priority: i32,
}

/// The Kubernetes state file next to `state_file`.
pub fn path_for(state_file: &Path) -> PathBuf {
    let stem = state_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "kvlb".into());
    state_file.with_file_name(format!("{stem}.kubernetes.json"))
}

/// Replaces the file.
pub fn write(path: &Path, state: &KubeState) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sits_next_to_the_state_file() {
        assert_eq!(path_for(Path::new("/run/kvlb/kvlb.json")), PathBuf::from("/run/kvlb/kvlb.kubernetes.json"));
        assert_eq!(path_for(Path::new("/run/kvlb/kvlb-test-1.json")), PathBuf::from("/run/kvlb/kvlb-test-1.kubernetes.json"));
    }
}
