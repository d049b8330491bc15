//! The agent in Kubernetes mode: an [`AgentProcess`] watching a
//! [`KubeApi`] as node [`NODE`].

use super::api::KubeApi;
use crate::{agent::AgentProcess, cgroup::TestCgroup};

/// The node the test agents run on.
pub const NODE: &str = "node-a";
/// The namespace the test agents run in (status Lease, DaemonSet).
pub const NAMESPACE: &str = "kvlb-system";

/// Starts an agent on `cgroup` watching `api` as node [`NODE`], with `extra`
/// flags, and waits until it has applied its first table.
pub fn start(cgroup: &TestCgroup, api: &KubeApi, extra: &[&str]) -> AgentProcess {
    AgentProcess::start_kubernetes(cgroup, &api.kubeconfig(), NODE, NAMESPACE, extra)
}
