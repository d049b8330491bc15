//! Builders for the Kubernetes objects the tests feed in, written as the JSON
//! an API server would send.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::DynamicObject;
use serde_json::{Value, json};

use crate::k8s::{crd::KvlbPool, gie::InferencePool, translate::Snapshot};

/// The node the tests' agent runs on.
pub const NODE: &str = "node-a";

fn from<T: serde::de::DeserializeOwned>(value: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(value).expect("fixture deserializes"))
}

/// A KvlbPool `ns/name` with `spec`, created at second `created`.
pub fn kvlb_pool(ns: &str, name: &str, created: u32, spec: Value) -> Arc<KvlbPool> {
    from(json!({
        "apiVersion": "kvlb.dev/v1alpha1", "kind": "KvlbPool",
        "metadata": {"namespace": ns, "name": name, "generation": 2, "creationTimestamp": format!("2026-01-01T00:00:{created:02}Z")},
        "spec": spec,
    }))
}

/// The usual KvlbPool spec: InferencePool `llama`, Service `llama` port 8000.
pub fn spec() -> Value {
    json!({"poolRef": {"name": "llama"}, "service": {"name": "llama", "port": 8000}})
}

/// An InferencePool selecting `app=<name>` with `ports`.
pub fn inference_pool(ns: &str, name: &str, ports: &[i32]) -> Arc<InferencePool> {
    let ports: Vec<Value> = ports.iter().map(|p| json!({"number": p})).collect();
    from(json!({
        "apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "targetPorts": ports, "endpointPickerRef": {"name": "epp", "port": {"number": 9002}}},
    }))
}

/// A ClusterIP Service with named TCP ports.
pub fn service(ns: &str, name: &str, cluster_ip: &str, ports: &[(&str, i32)]) -> Arc<Service> {
    let ports: Vec<Value> = ports.iter().map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"})).collect();
    from(json!({"metadata": {"namespace": ns, "name": name}, "spec": {"clusterIP": cluster_ip, "ports": ports}}))
}

/// A pod of app `app` on `node` with `ips`, Ready or not.
pub fn pod(ns: &str, name: &str, app: &str, node: &str, ips: &[&str], ready: bool) -> Arc<Pod> {
    let pod_ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    from(json!({
        "metadata": {"namespace": ns, "name": name, "labels": {"app": app}},
        "spec": {"nodeName": node, "containers": [{"name": "server"}]},
        "status": {
            "phase": "Running", "podIP": ips.first(), "podIPs": pod_ips,
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
        },
    }))
}

/// A pod with extra metadata merged in (labels, deletionTimestamp).
pub fn pod_with(base: &Pod, metadata: Value) -> Arc<Pod> {
    let mut value = serde_json::to_value(base).expect("pod serializes");
    for (k, v) in metadata.as_object().expect("an object") {
        match (value["metadata"].get_mut(k), v) {
            (Some(Value::Object(have)), Value::Object(add)) => have.extend(add.clone()),
            _ => value["metadata"][k] = v.clone(),
        }
    }
    from(value)
}

/// An InferenceObjective in `group`.
pub fn objective(group: &str, ns: &str, name: &str, pool: &str, priority: Option<i32>) -> Arc<DynamicObject> {
    from(json!({
        "apiVersion": format!("{group}/v1alpha2"), "kind": "InferenceObjective",
        "metadata": {"namespace": ns, "name": name},
        "spec": {"priority": priority, "poolRef": {"group": "inference.networking.k8s.io", "name": pool}},
    }))
}

/// The common world: namespace `models`, InferencePool and Service `llama`
/// (ClusterIP 127.96.0.10, port `http` 8000), KvlbPool `llama`.
pub fn world() -> Snapshot {
    Snapshot {
        node: NODE.into(),
        kvlb_pools: vec![kvlb_pool("models", "llama", 1, spec())],
        inference_pools: vec![inference_pool("models", "llama", &[8000])],
        services: vec![service("models", "llama", "127.96.0.10", &[("http", 8000)])],
        pods: Vec::new(),
        objectives: [Vec::new(), Vec::new()],
    }
}
