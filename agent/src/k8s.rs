//! Kubernetes mode: the pool table from InferencePools, the pods they select
//! on this node, KvlbPools and Services, the same [`PoolTable`] the pool file
//! produces, applied by the same main loop.
//!
//! Each KvlbPool names an InferencePool and a Service; the Service's
//! ClusterIP and port become the pool's VIP, and the InferencePool's ready,
//! non-terminating pods on this node (one endpoint per pod IP and target
//! port) its endpoints. Every pool passes through when it has no eligible
//! endpoint, so a client on a node without a local replica reaches the
//! Service through the cluster's own handling (kube-proxy or Cilium).
//!
//! # Layout
//! - [`crd`]: the `KvlbPool` resource (`kvlb.dev/v1alpha1`).
//! - [`gie`]: the InferencePool and InferenceObjective fields kvlb reads.
//! - [`watches`]: reflectors for every resource, this node's pods only.
//! - [`translate`]: a snapshot of the watches → table, verdicts, state.
//! - [`spec`]: a KvlbPool spec → a validated pool, problems named by field.
//! - [`endpoints`]: an InferencePool's endpoints on this node.
//! - [`verdict`]: `Accepted` and `ResolvedRefs`.
//! - [`kube_state`]: pool facts and objective priorities for the proxy.
//! - [`leader`]: the Lease that picks the one agent writing status.
//! - [`status`]: writes changed KvlbPool status.
//! - [`publisher`]: the loop from watch events to tables, state and status.
//! - [`uninstall`]: at SIGTERM, a rolling update or `helm uninstall`?

pub mod crd;
pub mod endpoints;
pub mod gie;
pub mod kube_state;
pub mod leader;
pub mod publisher;
pub mod spec;
pub mod status;
pub mod translate;
pub mod uninstall;
pub mod verdict;
pub mod watches;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use anyhow::Context;
use kube::Client;
use tokio::sync::mpsc;

use crate::table::PoolTable;
use publisher::Publisher;
use status::StatusWriter;
use uninstall::UninstallCheck;
use watches::Watches;

/// What Kubernetes mode needs to know.
#[derive(Clone, Debug)]
pub struct KubeOptions {
    /// This node's name (the downward API's `spec.nodeName`).
    pub node_name: String,
    /// The agent's namespace, for the status Lease and its DaemonSet;
    /// default: the client's (the service account's namespace in a pod).
    pub namespace: Option<String>,
    /// The agent's DaemonSet: when it is gone at SIGTERM the agent detaches.
    pub daemonset: Option<String>,
    /// The agent's state file; the Kubernetes state file goes next to it.
    pub state_file: PathBuf,
}

/// A running Kubernetes source of pool tables.
pub struct Discovery {
    /// The table once every watch listed.
    pub first: PoolTable,
    /// Every later changed table.
    pub tables: mpsc::Receiver<PoolTable>,
    /// The shutdown check, when the DaemonSet is known.
    pub uninstall: Option<UninstallCheck>,
}

/// Connects, starts the watches and waits for their first lists.
pub async fn start(opts: KubeOptions) -> anyhow::Result<Discovery> {
    let client = Client::try_default()
        .await
        .context("cannot set up the Kubernetes client (in a pod: its service account; elsewhere: KUBECONFIG or ~/.kube/config)")?;
    let namespace = opts.namespace.clone().unwrap_or_else(|| client.default_namespace().to_owned());
    let (changed_tx, changed) = mpsc::channel(1);
    let watches = Watches::spawn(&client, &opts.node_name, changed_tx);
    watches.synced().await;
    let uninstall = match opts.daemonset {
        Some(name) => Some(UninstallCheck::new(client.clone(), &namespace, name).await),
        None => None,
    };
    let mut publisher = Publisher {
        watches,
        node: opts.node_name.clone(),
        kube_state_file: kube_state::path_for(&opts.state_file),
        leader: leader::spawn(client.clone(), namespace, opts.node_name),
        status: StatusWriter::new(client),
        last: Default::default(),
    };
    publisher.rebuild().await;
    let first = publisher.last.table.clone();
    let (tables_tx, tables) = mpsc::channel(4);
    tokio::spawn(publisher.run(changed, tables_tx));
    Ok(Discovery { first, tables, uninstall })
}
