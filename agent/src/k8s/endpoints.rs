//! An InferencePool's endpoints on this node: its selected pods that run here,
//! are Ready and are not terminating; one endpoint per pod IP (of the VIP's
//! address family) and target port.

use std::{net::{IpAddr, SocketAddr}, sync::Arc};

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use super::gie::InferencePool;
use crate::{scrape::Engine, table::EndpointSpec};

/// The pod label naming a model server's engine (GIE's convention).
pub const ENGINE_LABEL: &str = "inference.networking.k8s.io/engine-type";

/// The endpoints `pool` has on `node`, sorted by address. With
/// `engine_from_label`, each endpoint's engine is its pod's engine label.
/// Pods skipped for a reason worth knowing are reported in `notes`.
pub fn local_endpoints(
    pool: &InferencePool,
    pods: &[Arc<Pod>],
    node: &str,
    vip: SocketAddr,
    engine_from_label: bool,
    notes: &mut Vec<String>,
) -> Vec<EndpointSpec> {
    let namespace = pool.namespace().unwrap_or_default();
    let labels = &pool.spec.selector.match_labels;
    let mut endpoints: Vec<EndpointSpec> = Vec::new();
    for pod in pods {
        if pod.namespace().as_deref() != Some(namespace.as_str())
            || !labels.iter().all(|(k, v)| pod.labels().get(k) == Some(v))
            || pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) != Some(node)
            || pod.metadata.deletion_timestamp.is_some()
            || !is_ready(pod)
        {
            continue;
        }
        let Some(ip) = pod_ip(pod, vip.is_ipv4()) else {
            notes.push(format!("pod {namespace}/{} has no IP of the VIP {vip}'s address family; skipped", pod.name_any()));
            continue;
        };
        let engine = if engine_from_label { pod.labels().get(ENGINE_LABEL).and_then(|l| Engine::from_label(l)) } else { None };
        for port in &pool.spec.target_ports {
            let Ok(port) = u16::try_from(port.number) else { continue };
            endpoints.push(EndpointSpec { address: SocketAddr::new(ip, port), weight: 1, draining: false, engine });
        }
    }
    endpoints.sort_by_key(|e| e.address);
    endpoints.dedup_by_key(|e| e.address);
    endpoints
}

/// Ready: the pod's `Ready` condition is `True` (which implies running).
fn is_ready(pod: &Pod) -> bool {
    let conditions = pod.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The pod's IP of the wanted family (dual-stack pods have two).
fn pod_ip(pod: &Pod, v4: bool) -> Option<IpAddr> {
    let status = pod.status.as_ref()?;
    let listed = status.pod_ips.iter().flatten().map(|p| p.ip.as_str());
    listed.chain(status.pod_ip.as_deref()).filter_map(|ip| ip.parse::<IpAddr>().ok()).find(|ip| ip.is_ipv4() == v4)
}
