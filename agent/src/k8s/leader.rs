//! Which agent writes KvlbPool status: the holder of one Lease
//! (`coordination.k8s.io/v1`, named [`LEASE`], in the agent's namespace), so
//! a DaemonSet on a thousand nodes writes status as one controller would.
//! Leadership follows kube-lease-manager; losing the API only means this
//! agent stops writing status, never that routing changes.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

/// The Lease's name.
pub const LEASE: &str = "kvlb-status-writer";
/// How long a holder's claim lasts without renewal, in seconds.
const LEASE_SECONDS: u64 = 15;
/// How long before expiry the holder renews, in seconds.
const RENEW_BEFORE_SECONDS: u64 = 5;
/// Pause before trying again after the Lease API failed.
const RETRY: Duration = Duration::from_secs(5);

/// Competes for the Lease as `identity` (the node name) in the background;
/// the receiver says whether this agent holds it now.
pub fn spawn(client: Client, namespace: String, identity: String) -> watch::Receiver<bool> {
    let (leader, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut last_error = String::new();
        loop {
            let built = LeaseManagerBuilder::new(client.clone(), LEASE)
                .with_namespace(&namespace)
                .with_identity(&identity)
                .with_duration(LEASE_SECONDS)
                .with_grace(RENEW_BEFORE_SECONDS)
                .build()
                .await;
            match built {
                Ok(manager) => {
                    let (mut changes, task) = manager.watch().await;
                    while changes.changed().await.is_ok() {
                        let holds = *changes.borrow_and_update();
                        tracing::info!(lease = %format!("{namespace}/{LEASE}"), "{}", if holds { "writing KvlbPool status (Lease held)" } else { "Lease lost; another agent writes KvlbPool status" });
                        if leader.send(holds).is_err() {
                            return;
                        }
                    }
                    let _ = leader.send(false);
                    if let Ok(Err(e)) = task.await {
                        last_error = e.to_string();
                        tracing::warn!("status Lease {namespace}/{LEASE}: {e}; retrying");
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    if message != last_error {
                        tracing::warn!("cannot use the status Lease {namespace}/{LEASE} (KvlbPool status stays unwritten by this agent): {message}");
                        last_error = message;
                    }
                }
            }
            if leader.is_closed() {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    });
    rx
}
