//! kvlb's own resource, `KvlbPool` (`kvlb.dev/v1alpha1`): what an
//! InferencePool cannot say. It names the InferencePool whose pods are the
//! endpoints and the Service whose ClusterIP and port clients dial (the VIP),
//! and carries kvlb's routing settings. The CRD in `charts/kvlb/crds/` is
//! generated from these types (`cargo xtask crd`).

use k8s_openapi::apimachinery::pkg::{apis::meta::v1::Condition, util::intstr::IntOrString};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The InferencePool group kvlb reads (GA, `inference.networking.k8s.io/v1`).
pub const INFERENCE_POOL_GROUP: &str = "inference.networking.k8s.io";

/// kvlb's settings for one InferencePool, and the address its clients use.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kvlb.dev",
    version = "v1alpha1",
    kind = "KvlbPool",
    namespaced,
    status = "KvlbPoolStatus",
    shortname = "kvlbpool",
    category = "kvlb",
    derive = "PartialEq",
    doc = "kvlb's routing for one InferencePool: the Service whose ClusterIP and port are the VIP, the mode, the score weights, the model names, provider egress.",
    printcolumn = r#"{"name": "InferencePool", "type": "string", "jsonPath": ".spec.poolRef.name"}"#,
    printcolumn = r#"{"name": "VIP", "type": "string", "jsonPath": ".status.vip"}"#,
    printcolumn = r#"{"name": "Mode", "type": "string", "jsonPath": ".spec.mode"}"#,
    printcolumn = r#"{"name": "Accepted", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KvlbPoolSpec {
    /// The InferencePool, in the same namespace, whose ready pods on each
    /// node are that node's endpoints (one per pod IP and target port).
    pub pool_ref: InferencePoolRef,
    /// The Service clients dial: its ClusterIP and this port are the VIP.
    /// kvlb rewrites a connection to the VIP only while the node has a ready
    /// local endpoint, and otherwise leaves it to the cluster's Service
    /// handling (kube-proxy or Cilium).
    pub service: ServiceRef,
    /// How clients reach the pool: `connect` (the kernel picks an endpoint at
    /// connect time) or `l7` (the node's kvlb-proxy picks per request).
    #[serde(default)]
    pub mode: PoolMode,
    /// How the model servers' metrics are scraped for scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSettings>,
    /// Score weights and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scoring: Option<ScoringSettings>,
    /// Model names the pool serves (the OpenAI `model` field the L7 proxy
    /// routes on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// LoRA adapters its model servers serve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adapters: Vec<String>,
    /// This pool's share of a model's requests among the pools serving it (a
    /// canary split), 1-65535; default 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub split_weight: Option<u32>,
    /// Hosted-provider backends requests may go to (used by the L7 proxy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub egress: Vec<EgressBackend>,
}

/// A reference to an InferencePool in the KvlbPool's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolRef {
    /// API group; only `inference.networking.k8s.io` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind; only `InferencePool` is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The InferencePool's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Service port in the KvlbPool's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRef {
    /// The Service's name; it needs a ClusterIP (not headless).
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// One of its ports, by number or by name.
    pub port: IntOrString,
}

/// How clients reach a pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// The kernel rewrites each new connection to a local endpoint.
    #[default]
    Connect,
    /// Connections go to the node's kvlb-proxy, which picks per request.
    L7,
}

/// Where and how model servers are scraped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSettings {
    /// Scrape the endpoints (default true); false balances on live
    /// connections only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The engine's metric names; default: each pod's
    /// `inference.networking.k8s.io/engine-type` label, else vllm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<MetricsEngine>,
    /// The metrics path (default `/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The metrics port (default: each endpoint's own port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
}

/// A model-server engine, by its metric names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricsEngine {
    /// vLLM.
    Vllm,
    /// SGLang.
    Sglang,
    /// TensorRT-LLM (trtllm-serve or Triton).
    Trtllm,
}

/// Score weights and limits; unset fields take the preset's values.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoringSettings {
    /// The weighting family (default `kvlb-default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<ScoringPreset>,
    /// Weight of waiting requests, 0-1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub queue: Option<f64>,
    /// Weight of running requests, 0-1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub running: Option<f64>,
    /// Weight of KV-cache use, 0-1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub kv: Option<f64>,
    /// Weight of live connections, 0-1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub conn: Option<f64>,
    /// Scores older than this many milliseconds are ignored, 1-60000
    /// (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 60000))]
    pub staleness_ms: Option<u64>,
    /// Waiting requests at which an endpoint counts as saturated (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saturation_queue: Option<f64>,
    /// KV-cache use (0-1] at which an endpoint counts as saturated (default 0.8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1))]
    pub saturation_kv: Option<f64>,
}

/// A named weighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScoringPreset {
    /// kvlb's own weights.
    KvlbDefault,
    /// The Gateway API Inference Extension's default scorer weights.
    GieDefault,
}

/// A hosted-provider backend (OpenAI- or Anthropic-compatible) with its
/// credentials in a Secret of the KvlbPool's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressBackend {
    /// A name unique within the KvlbPool.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// The provider's API flavour.
    pub provider: EgressProvider,
    /// The API base URL (default: the provider's public endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The provider-side model name, when it differs from the requested one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The Secret key holding the API key.
    pub secret_ref: SecretKeyRef,
}

/// A provider API flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EgressProvider {
    /// The OpenAI API.
    Openai,
    /// The Anthropic API.
    Anthropic,
}

/// One key of a Secret in the KvlbPool's namespace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key within it.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// What kvlb made of a KvlbPool, written by one agent (the holder of the
/// status Lease) for the whole DaemonSet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KvlbPoolStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The resolved VIP (`ClusterIP:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<String>,
    /// `Accepted` (the spec is valid and its VIP unique) and `ResolvedRefs`
    /// (the InferencePool and Service exist).
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// The CustomResourceDefinitions kvlb defines, as one YAML stream (what
/// `kvlb-agent crd` prints and `cargo xtask crd` writes into the chart).
pub fn crds_yaml() -> Result<String, serde_norway::Error> {
    let header = "# Generated from agent/src/k8s/crd.rs by `cargo xtask crd`; do not edit.\n";
    Ok(format!("{header}{}", serde_norway::to_string(&KvlbPool::crd())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chart's copy of the CRDs, which `cargo xtask crd` writes.
    const CHART_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/kvlb/crds/kvlbpools.kvlb.dev.yaml");

    #[test]
    fn the_charts_crds_match_the_rust_types() {
        let committed = std::fs::read_to_string(CHART_CRDS).unwrap_or_else(|e| panic!("{CHART_CRDS}: {e}; run `cargo xtask crd`"));
        assert!(committed == crds_yaml().unwrap(), "{CHART_CRDS} is stale: run `cargo xtask crd`");
    }

    #[test]
    fn a_minimal_kvlbpool_reads_with_defaults() {
        let pool: KvlbPoolSpec = serde_json::from_value(serde_json::json!({"poolRef": {"name": "llama"}, "service": {"name": "llama", "port": "http"}})).unwrap();
        assert_eq!(pool.mode, PoolMode::Connect);
        assert_eq!(pool.service.port, IntOrString::String("http".into()));
        assert!(pool.egress.is_empty() && pool.scoring.is_none());
    }
}
