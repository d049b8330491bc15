//! Writes KvlbPool status. Only the agent holding the status Lease calls it
//! (see [`super::leader`]), and it writes a status only when what it says
//! changed, so a DaemonSet of any size makes one write per real change.

use std::{collections::HashMap, sync::Arc};

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
};

use super::{
    crd::{KvlbPool, KvlbPoolStatus},
    verdict::{Verdict, same_status},
};

/// The field manager kvlb writes status as.
pub const FIELD_MANAGER: &str = "kvlb-agent";

/// Writes changed statuses and remembers what it wrote.
pub struct StatusWriter {
    client: Client,
    written: HashMap<(String, String), KvlbPoolStatus>,
}

impl StatusWriter {
    /// A writer using `client`.
    pub fn new(client: Client) -> Self {
        Self { client, written: HashMap::new() }
    }

    /// Brings every KvlbPool's status in line with its verdict; returns how
    /// many were written. A failed write is logged and retried next time.
    pub async fn write(&mut self, pools: &[Arc<KvlbPool>], verdicts: &[Verdict]) -> usize {
        let mut writes = 0;
        let mut seen = Vec::with_capacity(verdicts.len());
        for verdict in verdicts {
            let key = (verdict.namespace.clone(), verdict.name.clone());
            seen.push(key.clone());
            let Some(pool) = pools.iter().find(|p| p.namespace().as_deref() == Some(verdict.namespace.as_str()) && p.name_any() == verdict.name) else {
                continue;
            };
            let desired = verdict.status(pool.status.as_ref(), Timestamp::now());
            let current = pool.status.as_ref().is_some_and(|s| same_status(s, &desired));
            let just_written = self.written.get(&key).is_some_and(|s| same_status(s, &desired));
            if current || just_written {
                continue;
            }
            let api: Api<KvlbPool> = Api::namespaced(self.client.clone(), &verdict.namespace);
            let patch = Patch::Merge(serde_json::json!({ "status": desired }));
            let params = PatchParams { field_manager: Some(FIELD_MANAGER.into()), ..PatchParams::default() };
            match api.patch_status(&verdict.name, &params, &patch).await {
                Ok(_) => {
                    writes += 1;
                    self.written.insert(key, desired);
                }
                Err(e) => tracing::warn!(kvlbpool = %format!("{}/{}", verdict.namespace, verdict.name), "cannot write status: {e}"),
            }
        }
        self.written.retain(|k, _| seen.contains(k));
        writes
    }
}
