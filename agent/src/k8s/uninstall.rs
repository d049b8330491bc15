//! Telling `helm uninstall` from a rolling update at SIGTERM. In a rolling
//! update the agent's DaemonSet stays, and the agent leaves programs and maps
//! pinned for its successor. When the DaemonSet is gone or being deleted, or
//! the agent's access to it was revoked (Helm deletes the RBAC objects with
//! the DaemonSet), nothing will take over: the agent detaches as
//! `kvlb-agent detach` does.

use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::{Api, Client};

/// How long the check may take at shutdown.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The agent's own DaemonSet, checked at shutdown.
pub struct UninstallCheck {
    api: Api<DaemonSet>,
    name: String,
    /// The DaemonSet was readable at start, so a refusal later means the
    /// agent's RBAC was removed rather than never granted.
    readable: bool,
}

impl UninstallCheck {
    /// Checks once that `namespace/name` is readable, so a later refusal
    /// means something.
    pub async fn new(client: Client, namespace: &str, name: String) -> Self {
        let api: Api<DaemonSet> = Api::namespaced(client, namespace);
        let readable = match api.get(&name).await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!("cannot read DaemonSet {namespace}/{name} ({e}): SIGTERM will always leave programs and maps pinned");
                false
            }
        };
        Self { api, name, readable }
    }

    /// Whether the DaemonSet is going away: gone, being deleted, or no longer
    /// readable by this agent. Any other failure answers no (keep routing),
    /// and so does every check when the DaemonSet was not readable at start.
    pub async fn uninstalling(&self) -> bool {
        if !self.readable {
            return false;
        }
        match tokio::time::timeout(CHECK_TIMEOUT, self.api.get(&self.name)).await {
            Ok(Ok(ds)) => ds.metadata.deletion_timestamp.is_some(),
            Ok(Err(kube::Error::Api(status))) if [401, 403, 404].contains(&status.code) => true,
            Ok(Err(e)) => {
                tracing::warn!("cannot read DaemonSet {}: {e}; leaving programs and maps pinned", self.name);
                false
            }
            Err(_) => {
                tracing::warn!("reading DaemonSet {} timed out; leaving programs and maps pinned", self.name);
                false
            }
        }
    }
}
