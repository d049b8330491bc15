//! The objects a Kubernetes test puts into its [`KubeApi`], in namespace
//! [`NS`]: Services, InferencePools selecting `app: <name>` pods, pods with a
//! node, an IP and readiness, KvlbPools, InferenceObjectives, a DaemonSet.

use std::time::Duration;

use serde_json::{Value, json};

use super::{agent::NAMESPACE, api::KubeApi};
use crate::wait_for;

/// The namespace of the test's model servers.
pub const NS: &str = "models";

/// A kmock API server and the writes tests make to it.
pub struct Cluster {
    /// The API server.
    pub api: KubeApi,
}

impl Cluster {
    /// Starts an empty API server.
    pub fn start() -> Self {
        Self { api: KubeApi::start() }
    }

    /// A ClusterIP Service with one TCP port named `http`.
    pub fn service(&self, name: &str, cluster_ip: &str, port: u16) {
        self.api.create(
            &format!("/api/v1/namespaces/{NS}/services"),
            &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
                "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": port, "protocol": "TCP"}]}}),
        );
    }

    /// An InferencePool selecting `app: <name>` with `ports`.
    pub fn inference_pool(&self, name: &str, ports: &[u16]) {
        let ports: Vec<Value> = ports.iter().map(|p| json!({"number": p})).collect();
        self.api.create(
            &format!("/apis/inference.networking.k8s.io/v1/namespaces/{NS}/inferencepools"),
            &json!({"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool", "metadata": {"name": name, "namespace": NS},
                "spec": {"selector": {"matchLabels": {"app": "llama"}}, "targetPorts": ports,
                    "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}}}),
        );
    }

    /// A pod of app `llama` on `node` with IP `ip`.
    pub fn pod(&self, name: &str, node: &str, ip: &str, ready: bool) {
        self.api.create(
            &format!("/api/v1/namespaces/{NS}/pods"),
            &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": "llama"}},
                "spec": {"nodeName": node, "containers": [{"name": "vllm", "image": "vllm"}]},
                "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "conditions": [readiness(ready)]}}),
        );
    }

    /// Flips a pod's Ready condition.
    pub fn set_ready(&self, name: &str, ready: bool) {
        self.api.patch(&format!("/api/v1/namespaces/{NS}/pods/{name}"), &json!({"status": {"conditions": [readiness(ready)]}}));
    }

    /// A KvlbPool for InferencePool and Service `llama` (scraping off: the
    /// endpoints are plain TCP servers), at generation 4, with `overlay`'s
    /// spec fields on top.
    pub fn kvlb_pool(&self, name: &str, overlay: Value) {
        let mut spec = json!({"poolRef": {"name": "llama"}, "service": {"name": "llama", "port": "http"}, "metrics": {"enabled": false}});
        for (k, v) in overlay.as_object().expect("an object") {
            spec[k] = v.clone();
        }
        self.api.create(
            &format!("/apis/kvlb.dev/v1alpha1/namespaces/{NS}/kvlbpools"),
            &json!({"apiVersion": "kvlb.dev/v1alpha1", "kind": "KvlbPool", "metadata": {"name": name, "namespace": NS, "generation": 4}, "spec": spec}),
        );
    }

    /// A GIE InferenceObjective for `pool`.
    pub fn objective(&self, name: &str, pool: &str, priority: i32) {
        self.api.create(
            &format!("/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/{NS}/inferenceobjectives"),
            &json!({"apiVersion": "inference.networking.x-k8s.io/v1alpha2", "kind": "InferenceObjective", "metadata": {"name": name, "namespace": NS},
                "spec": {"priority": priority, "poolRef": {"group": "inference.networking.k8s.io", "name": pool}}}),
        );
    }

    /// The agents' DaemonSet, in the agents' namespace.
    pub fn daemonset(&self, name: &str) {
        self.api.create(
            &format!("/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets"),
            &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": NAMESPACE}}),
        );
    }

    /// Waits until KvlbPool `name` carries condition `kind` with `status`;
    /// returns the object.
    pub fn wait_condition(&self, name: &str, kind: &str, status: &str) -> Value {
        let path = format!("/apis/kvlb.dev/v1alpha1/namespaces/{NS}/kvlbpools/{name}");
        let mut last = Value::Null;
        let found = wait_for(Duration::from_secs(20), || {
            last = self.api.get(&path)?;
            (Self::condition(&last, kind)["status"] == status).then(|| last.clone())
        });
        found.unwrap_or_else(|| panic!("KvlbPool {name}: no {kind}={status} condition: {last}"))
    }

    /// Condition `kind` of an object's status (null if absent).
    pub fn condition(object: &Value, kind: &str) -> Value {
        let conditions = object["status"]["conditions"].as_array().cloned().unwrap_or_default();
        conditions.into_iter().find(|c| c["type"] == kind).unwrap_or(Value::Null)
    }
}

fn readiness(ready: bool) -> Value {
    json!({"type": "Ready", "status": if ready { "True" } else { "False" }})
}
