//! A KvlbPool's spec → the pool table's [`PoolSpec`] (without endpoints),
//! validated by the one table validation, with every problem named by its
//! KvlbPool field (`spec.scoring.saturationKv: …`).

use std::{collections::HashSet, net::SocketAddr, time::Duration};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    crd::{INFERENCE_POOL_GROUP, KvlbPoolSpec, MetricsEngine, PoolMode, ScoringPreset, ScoringSettings},
    verdict::Problem,
};
use crate::{
    score::{Preset, SaturationLimits, Weights},
    scrape::Engine,
    table::{Mode, PoolSpec, PoolTable, ScoringSpec, ScrapeSpec, WhenEmpty},
};

/// The address checked in place of a VIP not resolved yet (TEST-NET-1), so a
/// spec is judged on its own.
const PLACEHOLDER_VIP: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)), 80);

/// Default share among pools serving the same model (as in the pool file).
const DEFAULT_SPLIT_WEIGHT: u32 = 100;
/// Default score staleness bound, GIE's.
const DEFAULT_STALENESS_MS: u64 = 200;

/// The pool-table name of a KvlbPool: `<name>.<namespace>`, like a Service's
/// DNS name (namespaces hold no dots, so names never collide).
pub fn pool_name(namespace: &str, name: &str) -> String {
    format!("{name}.{namespace}")
}

/// Converts and validates a KvlbPool's spec. `vip` is the resolved VIP, if
/// any; the result has no endpoints and passes through when it has none
/// (local first, the cluster's Service handling as the fallback).
pub fn to_pool_spec(name: String, vip: Option<SocketAddr>, spec: &KvlbPoolSpec) -> Result<PoolSpec, Problem> {
    check_refs(spec)?;
    let metrics = spec.metrics.clone().unwrap_or_default();
    let pool = PoolSpec {
        name,
        vip: vip.unwrap_or(PLACEHOLDER_VIP),
        mode: match spec.mode {
            PoolMode::Connect => Mode::Connect,
            PoolMode::L7 => Mode::L7,
        },
        when_empty: WhenEmpty::Pass,
        scrape: metrics.enabled.unwrap_or(true).then(|| ScrapeSpec {
            engine: metrics.engine.map(engine).unwrap_or_default(),
            path: metrics.path.clone().unwrap_or_else(|| "/metrics".into()),
            port: metrics.port,
        }),
        models: spec.models.clone(),
        adapters: spec.adapters.clone(),
        split_weight: spec.split_weight.unwrap_or(DEFAULT_SPLIT_WEIGHT),
        scoring: scoring(spec.scoring.as_ref()),
        endpoints: Vec::new(),
    };
    PoolTable { pools: vec![pool.clone()], ..PoolTable::default() }
        .validate()
        .map_err(|e| Problem::invalid(format!("{}: {}", crd_field(&e.field), e.problem)))?;
    Ok(pool)
}

/// The scrape engine of a CRD engine name.
pub fn engine(e: MetricsEngine) -> Engine {
    match e {
        MetricsEngine::Vllm => Engine::Vllm,
        MetricsEngine::Sglang => Engine::Sglang,
        MetricsEngine::Trtllm => Engine::Trtllm,
    }
}

fn scoring(s: Option<&ScoringSettings>) -> ScoringSpec {
    let s = s.cloned().unwrap_or_default();
    let preset = match s.preset {
        Some(ScoringPreset::GieDefault) => Preset::GieDefault,
        Some(ScoringPreset::KvlbDefault) | None => Preset::KvlbDefault,
    };
    let base = Weights::preset(preset);
    let limits = SaturationLimits::default();
    ScoringSpec {
        weights: Weights {
            preset,
            queue: s.queue.unwrap_or(base.queue),
            running: s.running.unwrap_or(base.running),
            kv: s.kv.unwrap_or(base.kv),
            conn: s.conn.unwrap_or(base.conn),
        },
        staleness: Duration::from_millis(s.staleness_ms.unwrap_or(DEFAULT_STALENESS_MS)),
        saturation: SaturationLimits { queue: s.saturation_queue.unwrap_or(limits.queue), kv: s.saturation_kv.unwrap_or(limits.kv) },
    }
}

/// What the table validation cannot see: the references' shape and the
/// egress backends.
fn check_refs(spec: &KvlbPoolSpec) -> Result<(), Problem> {
    let pool_ref = &spec.pool_ref;
    if let Some(group) = pool_ref.group.as_deref().filter(|g| *g != INFERENCE_POOL_GROUP) {
        return Err(Problem::invalid(format!("spec.poolRef.group: {group:?} is not supported; use {INFERENCE_POOL_GROUP}")));
    }
    if let Some(kind) = pool_ref.kind.as_deref().filter(|k| *k != "InferencePool") {
        return Err(Problem::invalid(format!("spec.poolRef.kind: {kind:?} is not supported; use InferencePool")));
    }
    if pool_ref.name.is_empty() {
        return Err(Problem::invalid("spec.poolRef.name: must not be empty"));
    }
    if spec.service.name.is_empty() {
        return Err(Problem::invalid("spec.service.name: must not be empty"));
    }
    match &spec.service.port {
        IntOrString::Int(n) if !(1..=65535).contains(n) => {
            return Err(Problem::invalid(format!("spec.service.port: {n} is out of range 1-65535")));
        }
        IntOrString::String(s) if s.is_empty() => return Err(Problem::invalid("spec.service.port: must not be empty")),
        _ => {}
    }
    let mut names = HashSet::new();
    for (i, backend) in spec.egress.iter().enumerate() {
        if backend.name.is_empty() || !names.insert(backend.name.as_str()) {
            return Err(Problem::invalid(format!("spec.egress[{i}].name: {:?} is empty or not unique", backend.name)));
        }
        if backend.secret_ref.name.is_empty() || backend.secret_ref.key.is_empty() {
            return Err(Problem::invalid(format!("spec.egress[{i}].secretRef: needs a name and a key")));
        }
    }
    Ok(())
}

/// The KvlbPool field a pool-table field comes from
/// (`pools[0].scoring.staleness_ms` → `spec.scoring.stalenessMs`).
fn crd_field(table_field: &str) -> String {
    let field = table_field.split_once("].").map_or(table_field, |(_, rest)| rest);
    match field {
        "name" => "metadata.name".into(),
        "vip" => "spec.service".into(),
        f if f.starts_with("endpoints") => "spec.poolRef".into(),
        f => format!("spec.{}", camel_case(f)),
    }
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_fields_map_to_kvlbpool_fields() {
        assert_eq!(crd_field("pools[0].scoring.staleness_ms"), "spec.scoring.stalenessMs");
        assert_eq!(crd_field("pools[0].scoring.saturation_kv"), "spec.scoring.saturationKv");
        assert_eq!(crd_field("pools[0].split_weight"), "spec.splitWeight");
        assert_eq!(crd_field("pools[0].metrics.path"), "spec.metrics.path");
        assert_eq!(crd_field("pools[0].models[2]"), "spec.models[2]");
        assert_eq!(crd_field("pools[0].name"), "metadata.name");
        assert_eq!(crd_field("pools[0].vip"), "spec.service");
        assert_eq!(crd_field("pools[0].endpoints[3].address"), "spec.poolRef");
    }
}
