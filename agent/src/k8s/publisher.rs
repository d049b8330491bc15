//! The loop between the watches and the agent: after every burst of changes
//! it translates a fresh snapshot, hands a changed pool table to the main
//! loop, rewrites the Kubernetes state file when it changed, logs new
//! verdicts and node-level problems, and, while holding the status Lease,
//! brings KvlbPool status up to date.

use std::{path::PathBuf, time::Duration};

use tokio::sync::{mpsc, watch};

use super::{
    kube_state,
    status::StatusWriter,
    translate::{Translation, translate},
    watches::Watches,
};
use crate::table::PoolTable;

/// Quiet time that ends a burst of watch events (an initial list, a rollout).
const DEBOUNCE: Duration = Duration::from_millis(50);
/// Rebuild at least this often, to retry status writes that failed.
const RESYNC: Duration = Duration::from_secs(30);

/// Turns watch events into tables, state and status.
pub struct Publisher {
    /// The stores.
    pub watches: Watches,
    /// This node.
    pub node: String,
    /// Where the Kubernetes state file goes.
    pub kube_state_file: PathBuf,
    /// Whether this agent holds the status Lease.
    pub leader: watch::Receiver<bool>,
    /// The status writer.
    pub status: StatusWriter,
    /// The last translation.
    pub last: Translation,
}

impl Publisher {
    /// Translates the current snapshot and acts on what changed; returns the
    /// table if it differs from the last one.
    pub async fn rebuild(&mut self) -> Option<PoolTable> {
        let snapshot = self.watches.snapshot(&self.node);
        let now = translate(&snapshot);
        for note in now.notes.iter().filter(|n| !self.last.notes.contains(n)) {
            tracing::warn!("{note}");
        }
        for verdict in now.verdicts.iter().filter(|v| !self.last.verdicts.contains(v)) {
            let problems: Vec<String> = [&verdict.accepted, &verdict.resolved].into_iter().filter_map(|r| r.as_ref().err()).map(|p| format!("{} ({})", p.message, p.reason)).collect();
            let at = format!("{}/{}", verdict.namespace, verdict.name);
            if problems.is_empty() {
                tracing::info!(kvlbpool = %at, vip = ?verdict.vip, "KvlbPool accepted");
            } else {
                tracing::warn!(kvlbpool = %at, "KvlbPool not in service: {}", problems.join("; "));
            }
        }
        if now.state != self.last.state
            && let Err(e) = kube_state::write(&self.kube_state_file, &now.state)
        {
            tracing::error!("{e:#}");
        }
        let leader = *self.leader.borrow_and_update();
        if leader {
            self.status.write(&snapshot.kvlb_pools, &now.verdicts).await;
        }
        let changed = now.table != self.last.table;
        self.last = now;
        changed.then(|| self.last.table.clone())
    }

    /// Rebuilds after every burst of `changed` signals, on a change of
    /// leadership and every [`RESYNC`], sending changed tables to `tables`,
    /// until either channel closes.
    pub async fn run(mut self, mut changed: mpsc::Receiver<()>, tables: mpsc::Sender<PoolTable>) {
        let mut resync = tokio::time::interval(RESYNC);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        resync.tick().await;
        loop {
            tokio::select! {
                signal = changed.recv() => {
                    if signal.is_none() {
                        return;
                    }
                    tokio::time::sleep(DEBOUNCE).await;
                    while changed.try_recv().is_ok() {}
                }
                Ok(()) = self.leader.changed() => {}
                _ = resync.tick() => {}
            }
            if let Some(table) = self.rebuild().await
                && tables.send(table).await.is_err()
            {
                return;
            }
        }
    }
}
