//! The Gateway API Inference Extension resources kvlb reads: InferencePool
//! (`inference.networking.k8s.io/v1`) and InferenceObjective, which lives in
//! two groups (GIE's `inference.networking.x-k8s.io/v1alpha2` up to GIE v1.5,
//! and llm-d's `llm-d.ai/v1alpha2` since). Only the fields kvlb uses are
//! modelled; the rest is ignored. Their CRDs belong to GIE and llm-d.

use std::collections::BTreeMap;

use kube::{
    CustomResource,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde::{Deserialize, Serialize};

/// The fields of an InferencePool's spec kvlb uses.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[kube(group = "inference.networking.k8s.io", version = "v1", kind = "InferencePool", namespaced, schema = "disabled")]
#[serde(rename_all = "camelCase")]
pub struct InferencePoolSpec {
    /// Which pods of the pool's namespace are its endpoints.
    pub selector: PoolSelector,
    /// The model-server ports (1-8); each pod IP and port is one endpoint.
    pub target_ports: Vec<TargetPort>,
    /// `http` (default) or `kubernetes.io/h2c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
}

/// An InferencePool's label selector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSelector {
    /// Labels a pod must carry, all of them.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// One target port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPort {
    /// The port number.
    pub number: i32,
}

/// The largest number of target ports InferencePool v1 allows.
pub const MAX_TARGET_PORTS: usize = 8;

/// The application protocols InferencePool v1 defines.
pub const APP_PROTOCOLS: [&str; 2] = ["http", "kubernetes.io/h2c"];

/// The InferenceObjective groups kvlb reads, oldest first (a same-named
/// objective in a later group wins).
pub const OBJECTIVE_GROUPS: [&str; 2] = ["inference.networking.x-k8s.io", "llm-d.ai"];

/// The InferenceObjective API resource of `group` (version v1alpha2).
pub fn objective_resource(group: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, "v1alpha2", "InferenceObjective"), "inferenceobjectives")
}

/// The fields of an InferenceObjective's spec kvlb uses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectiveSpec {
    /// Higher is more critical; negative is sheddable; unset is 0.
    #[serde(default)]
    pub priority: Option<i32>,
    /// The InferencePool it applies to, in the same namespace.
    pub pool_ref: ObjectivePoolRef,
}

/// An InferenceObjective's pool reference.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ObjectivePoolRef {
    /// The InferencePool's name.
    pub name: String,
}

/// The spec of an InferenceObjective read as a dynamic object.
pub fn objective_spec(obj: &DynamicObject) -> Result<ObjectiveSpec, serde_json::Error> {
    serde_json::from_value(obj.data.get("spec").cloned().unwrap_or_default())
}
