//! The internal pool table: what every discovery source (the standalone pool
//! file, and Kubernetes) produces, validated once, and what the map writer
//! consumes.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fmt,
    net::SocketAddr,
    time::Duration,
};

use kvlb_common::{endpoint, pool, vip};
use serde::{Deserialize, Serialize};

use crate::{
    egress::EgressTable,
    scrape::Engine,
    score::{SaturationLimits, Weights},
};

/// How clients reach a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The kernel rewrites each new connection to an endpoint at connect().
    Connect,
    /// Connections go to the L7 proxy, which picks per request.
    L7,
}

/// What a connect to the VIP does while no endpoint is eligible.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenEmpty {
    /// Fail the connect with ECONNREFUSED, as if nothing listened.
    #[default]
    Refuse,
    /// Let the connect through unchanged (the VIP is also a real address,
    /// such as a Service ClusterIP the cluster balances itself).
    Pass,
}

/// One model-server endpoint of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// Where the model server listens.
    pub address: SocketAddr,
    /// Relative share of new connections, 1..=65535.
    pub weight: u32,
    /// Leaving: keeps its connections, gets no new ones.
    pub draining: bool,
    /// Its engine, when it differs from the pool's.
    pub engine: Option<Engine>,
}

/// How a pool's model servers are scraped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScrapeSpec {
    /// Which metric names they export.
    pub engine: Engine,
    /// The metrics path.
    pub path: String,
    /// The metrics port, when not the endpoint's own.
    pub port: Option<u16>,
}

/// How a pool's scores and saturation are computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoringSpec {
    /// Score weights.
    pub weights: Weights,
    /// Scores older than this are ignored by the kernel.
    pub staleness: Duration,
    /// Saturation thresholds.
    pub saturation: SaturationLimits,
}

/// One pool: a VIP and the endpoints behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolSpec {
    /// Unique name.
    pub name: String,
    /// The virtual address clients connect to.
    pub vip: SocketAddr,
    /// How clients reach the pool.
    pub mode: Mode,
    /// The no-endpoint rule.
    pub when_empty: WhenEmpty,
    /// Scraping, or `None` for load-only balancing (live connections).
    pub scrape: Option<ScrapeSpec>,
    /// Model names this pool serves: the OpenAI `model` field the L7 proxy
    /// routes on.
    pub models: Vec<String>,
    /// LoRA adapter names its endpoints serve; a request for one goes to this
    /// pool.
    pub adapters: Vec<String>,
    /// Share of a model's requests among the pools serving it (a canary split).
    pub split_weight: u32,
    /// Scoring.
    pub scoring: ScoringSpec,
    /// The endpoints; empty is valid (a pool scaled to zero).
    pub endpoints: Vec<EndpointSpec>,
}

/// Every pool this node serves.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolTable {
    /// The pools, in source order.
    pub pools: Vec<PoolSpec>,
    /// Request objectives (the `x-gateway-inference-objective` header) and
    /// their priorities: higher is more important, below zero is sheddable.
    pub objectives: BTreeMap<String, i32>,
    /// External providers and per-model fallback chains.
    #[serde(default)]
    pub egress: EgressTable,
}

/// The largest weight the kernel's comparison honours.
pub const MAX_WEIGHT: u32 = 0xffff;

/// A problem in a pool table, located by its field path
/// (`pools[1].endpoints[0].address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field's path.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
    }
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

impl PoolTable {
    /// Checks everything the kernel maps cannot represent or that would make
    /// routing ambiguous; returns the first problem found.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.pools.len() > pool::MAX_POOLS as usize {
            return Err(invalid("pools", format!("{} pools; at most {} fit the maps", self.pools.len(), pool::MAX_POOLS)));
        }
        let endpoints: usize = self.pools.iter().map(|p| p.endpoints.len()).sum();
        if endpoints > endpoint::MAX_ENDPOINTS as usize {
            return Err(invalid("pools", format!("{endpoints} endpoints in all; at most {} fit the maps", endpoint::MAX_ENDPOINTS)));
        }
        if self.pools.len() > vip::MAX_VIPS as usize {
            return Err(invalid("pools", format!("at most {} VIPs fit the maps", vip::MAX_VIPS)));
        }
        let mut names = HashSet::new();
        let mut vips: HashMap<SocketAddr, usize> = HashMap::new();
        let all_endpoints: HashMap<SocketAddr, (usize, usize)> = self
            .pools
            .iter()
            .enumerate()
            .flat_map(|(p, pool)| pool.endpoints.iter().enumerate().map(move |(e, ep)| (ep.address, (p, e))))
            .collect();
        for (p, pool) in self.pools.iter().enumerate() {
            let at = |field: &str| format!("pools[{p}].{field}");
            validate_name(&pool.name).map_err(|problem| invalid(at("name"), problem))?;
            if !names.insert(pool.name.as_str()) {
                return Err(invalid(at("name"), format!("duplicate pool name {:?}", pool.name)));
            }
            if pool.mode == Mode::L7 && pool.models.is_empty() {
                return Err(invalid(at("models"), "a pool in l7 mode must name the models it serves"));
            }
            check_address(pool.vip).map_err(|problem| invalid(at("vip"), problem))?;
            if let Some(other) = vips.insert(pool.vip, p) {
                return Err(invalid(at("vip"), format!("VIP {} is already used by pools[{other}]", pool.vip)));
            }
            if let Some((op, oe)) = all_endpoints.get(&pool.vip) {
                return Err(invalid(at("vip"), format!("VIP {} is also an endpoint (pools[{op}].endpoints[{oe}])", pool.vip)));
            }
            if pool.endpoints.len() > pool::MAX_SLOTS {
                return Err(invalid(at("endpoints"), format!("{} endpoints; a pool holds at most {}", pool.endpoints.len(), pool::MAX_SLOTS)));
            }
            if let Some(scrape) = &pool.scrape {
                if !scrape.path.starts_with('/') {
                    return Err(invalid(at("metrics.path"), format!("{:?} must start with '/'", scrape.path)));
                }
                if scrape.port == Some(0) {
                    return Err(invalid(at("metrics.port"), "port 0"));
                }
            }
            for (i, model) in pool.models.iter().chain(&pool.adapters).enumerate() {
                let field = if i < pool.models.len() { format!("models[{i}]") } else { format!("adapters[{}]", i - pool.models.len()) };
                if model.trim().is_empty() || model.len() > 256 {
                    return Err(invalid(at(&field), "a model name must be 1-256 characters"));
                }
            }
            if !(1..=MAX_WEIGHT).contains(&pool.split_weight) {
                return Err(invalid(at("split_weight"), format!("{} is out of range 1..={MAX_WEIGHT}", pool.split_weight)));
            }
            validate_scoring(&pool.scoring).map_err(|(field, problem)| invalid(at(&format!("scoring.{field}")), problem))?;
            let mut seen = HashSet::new();
            for (e, ep) in pool.endpoints.iter().enumerate() {
                let at = |field: &str| format!("pools[{p}].endpoints[{e}].{field}");
                check_address(ep.address).map_err(|problem| invalid(at("address"), problem))?;
                if ep.address.is_ipv4() != pool.vip.is_ipv4() {
                    return Err(invalid(at("address"), format!("{} is not the same address family as the VIP {}", ep.address, pool.vip)));
                }
                if !seen.insert(ep.address) {
                    return Err(invalid(at("address"), format!("duplicate endpoint {}", ep.address)));
                }
                if !(1..=MAX_WEIGHT).contains(&ep.weight) {
                    return Err(invalid(at("weight"), format!("{} is out of range 1..={MAX_WEIGHT}", ep.weight)));
                }
            }
        }
        self.egress.validate(&self.pools)
    }
}

fn validate_scoring(s: &ScoringSpec) -> Result<(), (&'static str, String)> {
    let w = &s.weights;
    for (field, value) in [("queue", w.queue), ("running", w.running), ("kv", w.kv), ("conn", w.conn)] {
        if !value.is_finite() || !(0.0..=1000.0).contains(&value) {
            return Err((field, format!("{value} is out of range 0..=1000")));
        }
    }
    if s.staleness.is_zero() || s.staleness > Duration::from_secs(60) {
        return Err(("staleness_ms", format!("{} is out of range 1..=60000", s.staleness.as_millis())));
    }
    if !(s.saturation.queue.is_finite() && s.saturation.queue > 0.0) {
        return Err(("saturation_queue", format!("{} must be above 0", s.saturation.queue)));
    }
    if !(s.saturation.kv > 0.0 && s.saturation.kv <= 1.0) {
        return Err(("saturation_kv", format!("{} is out of range (0, 1]", s.saturation.kv)));
    }
    Ok(())
}

pub(crate) fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok { Ok(()) } else { Err(format!("{name:?} must be 1-63 characters of a-z, 0-9, '-' or '.'")) }
}

fn check_address(addr: SocketAddr) -> Result<(), String> {
    if addr.port() == 0 {
        return Err(format!("{addr} has port 0"));
    }
    if addr.ip().is_unspecified() || addr.ip().is_multicast() {
        return Err(format!("{addr} is not a unicast address"));
    }
    Ok(())
}

