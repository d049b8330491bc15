//! Kubernetes objects → the pool table, the verdict on every KvlbPool, and the
//! Kubernetes-only state for the proxy. A pure function of one snapshot, so
//! it is tested without an API server.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use k8s_openapi::{
    api::core::v1::{Pod, Service},
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::{ResourceExt, api::DynamicObject};

use super::{
    crd::KvlbPool,
    endpoints::local_endpoints,
    gie::{APP_PROTOCOLS, InferencePool, MAX_TARGET_PORTS, OBJECTIVE_GROUPS, objective_spec},
    kube_state::{KubeState, Objective, PoolInfo},
    spec::{pool_name, to_pool_spec},
    verdict::{Problem, Verdict},
};
use crate::table::{PoolSpec, PoolTable};

/// Everything the watches hold right now.
#[derive(Default)]
pub struct Snapshot {
    /// This node's name.
    pub node: String,
    /// Every KvlbPool.
    pub kvlb_pools: Vec<Arc<KvlbPool>>,
    /// Every InferencePool.
    pub inference_pools: Vec<Arc<InferencePool>>,
    /// Every Service.
    pub services: Vec<Arc<Service>>,
    /// This node's pods (others are ignored).
    pub pods: Vec<Arc<Pod>>,
    /// InferenceObjectives, one list per group of [`OBJECTIVE_GROUPS`].
    pub objectives: [Vec<Arc<DynamicObject>>; 2],
}

/// What one snapshot means.
#[derive(Debug, Default, PartialEq)]
pub struct Translation {
    /// The node's pool table, valid.
    pub table: PoolTable,
    /// One verdict per KvlbPool, in namespace/name order.
    pub verdicts: Vec<Verdict>,
    /// Pool facts and objective priorities the table has no field for.
    pub state: KubeState,
    /// Node-level problems worth a log line (skipped pods and objectives).
    pub notes: Vec<String>,
}

/// Translates a snapshot.
pub fn translate(snap: &Snapshot) -> Translation {
    let by_key = |ns: Option<String>, name: &str| (ns.unwrap_or_default(), name.to_owned());
    let inference_pools: HashMap<(String, String), &InferencePool> =
        snap.inference_pools.iter().map(|p| (by_key(p.namespace(), &p.name_any()), p.as_ref())).collect();
    let services: HashMap<(String, String), &Service> = snap.services.iter().map(|s| (by_key(s.namespace(), &s.name_any()), s.as_ref())).collect();

    let mut kvlb_pools: Vec<&KvlbPool> = snap.kvlb_pools.iter().map(Arc::as_ref).collect();
    // Oldest first: on a VIP conflict the older KvlbPool keeps it.
    kvlb_pools.sort_by_key(|p| (p.metadata.creation_timestamp.clone().map(|t| t.0), p.namespace(), p.name_any()));

    let mut out = Translation::default();
    let mut vip_owner: HashMap<SocketAddr, String> = HashMap::new();
    let mut candidates: Vec<(PoolSpec, &InferencePool, bool)> = Vec::new();
    for kp in kvlb_pools {
        let namespace = kp.namespace().unwrap_or_default();
        let name = kp.name_any();
        let refs = resolve(kp, &namespace, &inference_pools, &services);
        let vip = refs.as_ref().ok().map(|(_, vip)| *vip);
        let mut accepted = to_pool_spec(pool_name(&namespace, &name), vip, &kp.spec);
        // Only a pool that could serve claims its VIP.
        if let (Ok(_), Some(vip)) = (&accepted, vip) {
            let me = format!("{namespace}/{name}");
            let owner = vip_owner.entry(vip).or_insert_with(|| me.clone());
            if *owner != me {
                accepted = Err(Problem::new("VipConflict", format!("spec.service: VIP {vip} is already used by KvlbPool {owner}")));
            }
        }
        let verdict = Verdict {
            namespace: namespace.clone(),
            name: name.clone(),
            generation: kp.metadata.generation,
            vip,
            accepted: accepted.as_ref().map(|_| ()).map_err(Clone::clone),
            resolved: refs.as_ref().map(|_| ()).map_err(Clone::clone),
        };
        if let (Ok(spec), Ok((pool, _))) = (accepted, refs) {
            // Endpoints take their engine from the pod label unless the spec names one.
            let engine_from_label = kp.spec.metrics.as_ref().and_then(|m| m.engine).is_none();
            candidates.push((spec, pool, engine_from_label));
        }
        out.verdicts.push(verdict);
    }
    out.verdicts.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));

    for (mut spec, pool, engine_from_label) in candidates {
        spec.endpoints = local_endpoints(pool, &snap.pods, &snap.node, spec.vip, engine_from_label, &mut out.notes);
        out.state.pools.push(PoolInfo {
            name: spec.name.clone(),
            inference_pool: format!("{}/{}", pool.namespace().unwrap_or_default(), pool.name_any()),
            app_protocol: pool.spec.app_protocol.clone().unwrap_or_else(|| "http".into()),
        });
        out.table.pools.push(spec);
    }
    out.table.pools.sort_by(|a, b| a.name.cmp(&b.name));
    out.state.pools.sort_by(|a, b| a.name.cmp(&b.name));
    keep_valid(&mut out);
    out.state.objectives = objectives(snap, &out.state.pools, &mut out.notes);
    // The proxy's admission reads priorities by objective name from the table.
    out.table.objectives = out.state.objectives.iter().map(|o| (o.name.clone(), o.priority)).collect();
    out
}

/// The InferencePool and the VIP a KvlbPool refers to.
fn resolve<'a>(
    kp: &KvlbPool,
    namespace: &str,
    inference_pools: &HashMap<(String, String), &'a InferencePool>,
    services: &HashMap<(String, String), &Service>,
) -> Result<(&'a InferencePool, SocketAddr), Problem> {
    let key = |name: &str| (namespace.to_owned(), name.to_owned());
    let pool_name = &kp.spec.pool_ref.name;
    let pool = inference_pools
        .get(&key(pool_name))
        .ok_or_else(|| Problem::new("InferencePoolNotFound", format!("spec.poolRef.name: InferencePool {namespace}/{pool_name} not found")))?;
    check_inference_pool(pool).map_err(|p| Problem::new("UnsupportedInferencePool", format!("spec.poolRef: InferencePool {namespace}/{pool_name}: {p}")))?;

    let svc_name = &kp.spec.service.name;
    let svc = services
        .get(&key(svc_name))
        .ok_or_else(|| Problem::new("ServiceNotFound", format!("spec.service.name: Service {namespace}/{svc_name} not found")))?;
    let spec = svc.spec.as_ref();
    let ip: IpAddr = spec
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(|ip| ip.parse().ok())
        .ok_or_else(|| Problem::new("ServiceHasNoClusterIP", format!("spec.service.name: Service {namespace}/{svc_name} has no ClusterIP (headless or ExternalName)")))?;
    let ports = spec.and_then(|s| s.ports.as_deref()).unwrap_or_default();
    let wanted = &kp.spec.service.port;
    let port = ports
        .iter()
        .filter(|p| p.protocol.as_deref().unwrap_or("TCP") == "TCP")
        .find(|p| match wanted {
            IntOrString::Int(n) => p.port == *n,
            IntOrString::String(s) => p.name.as_deref() == Some(s.as_str()),
        })
        .and_then(|p| u16::try_from(p.port).ok())
        .ok_or_else(|| {
            let want = match wanted {
                IntOrString::Int(n) => n.to_string(),
                IntOrString::String(s) => format!("{s:?}"),
            };
            Problem::new("ServicePortNotFound", format!("spec.service.port: Service {namespace}/{svc_name} has no TCP port {want}"))
        })?;
    Ok((pool, SocketAddr::new(ip, port)))
}

/// What kvlb needs of an InferencePool (the API server enforces most of it;
/// a hand-made object may not).
fn check_inference_pool(pool: &InferencePool) -> Result<(), String> {
    let spec = &pool.spec;
    if spec.selector.match_labels.is_empty() {
        return Err("selector.matchLabels: must not be empty".into());
    }
    if spec.target_ports.is_empty() || spec.target_ports.len() > MAX_TARGET_PORTS {
        return Err(format!("targetPorts: {} ports; 1 to {MAX_TARGET_PORTS} are allowed", spec.target_ports.len()));
    }
    for (i, port) in spec.target_ports.iter().enumerate() {
        if !(1..=65535).contains(&port.number) {
            return Err(format!("targetPorts[{i}].number: {} is out of range 1-65535", port.number));
        }
        if spec.target_ports[..i].contains(port) {
            return Err(format!("targetPorts[{i}].number: duplicate port {}", port.number));
        }
    }
    match spec.app_protocol.as_deref() {
        Some(p) if !APP_PROTOCOLS.contains(&p) => Err(format!("appProtocol: {p:?} is not one of {}", APP_PROTOCOLS.join(", "))),
        _ => Ok(()),
    }
}

/// Drops pools until the whole table validates. Each pool passed on its own,
/// so only a node-level clash (a VIP that is also another pool's local
/// endpoint, too many endpoints in all) can remain; it is reported.
fn keep_valid(out: &mut Translation) {
    while let Err(e) = out.table.validate() {
        let index = e.field.strip_prefix("pools[").and_then(|r| r.split(']').next()).and_then(|i| i.parse::<usize>().ok());
        let Some(i) = index.filter(|i| *i < out.table.pools.len()) else {
            out.notes.push(format!("pool table not valid on this node ({e}); no pools applied"));
            out.table.pools.clear();
            out.state.pools.clear();
            return;
        };
        let dropped = out.table.pools.remove(i);
        out.state.pools.retain(|p| p.name != dropped.name);
        out.notes.push(format!("pool {} left out on this node: {e}", dropped.name));
    }
}

/// Objective priorities, with the kvlb pools each one's InferencePool backs.
/// An objective in a later group replaces a same-named one in an earlier.
fn objectives(snap: &Snapshot, pools: &[PoolInfo], notes: &mut Vec<String>) -> Vec<Objective> {
    let mut by_name: BTreeMap<(String, String), Objective> = BTreeMap::new();
    for (group, objs) in OBJECTIVE_GROUPS.iter().zip(&snap.objectives) {
        for obj in objs {
            let namespace = obj.namespace().unwrap_or_default();
            let name = obj.name_any();
            let spec = match objective_spec(obj) {
                Ok(spec) => spec,
                Err(e) => {
                    notes.push(format!("InferenceObjective {namespace}/{name} ({group}) ignored: spec: {e}"));
                    continue;
                }
            };
            let inference_pool = format!("{namespace}/{}", spec.pool_ref.name);
            let backing = pools.iter().filter(|p| p.inference_pool == inference_pool).map(|p| p.name.clone()).collect();
            let objective = Objective {
                namespace: namespace.clone(),
                name: name.clone(),
                group: (*group).to_owned(),
                inference_pool,
                pools: backing,
                priority: spec.priority.unwrap_or(0),
            };
            by_name.insert((namespace, name), objective);
        }
    }
    by_name.into_values().collect()
}
