//! The node's live state in one structure: served as JSON on `/status` (for
//! `kvlb status`) and as Prometheus metrics on `/metrics`.

use std::{collections::BTreeMap, net::SocketAddr};

use kvlb_common::counters::Counter;
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter as PromCounter, family::Family, gauge::Gauge},
    registry::Registry,
};
use serde::{Deserialize, Serialize};

use crate::{health::Health, maps::Maps, reconcile::Reconciler, scrape::worker::TargetKey};

/// Everything the node's agent knows right now.
#[derive(Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Every pool.
    pub pools: Vec<PoolStatus>,
    /// Kernel counters by name (program runs among them).
    pub counters: BTreeMap<String, u64>,
    /// The agent process itself.
    pub process: ProcessStats,
}

/// One pool.
#[derive(Debug, Serialize, Deserialize)]
pub struct PoolStatus {
    /// Name.
    pub name: String,
    /// Its VIP.
    pub vip: SocketAddr,
    /// Whether its endpoints are scraped.
    pub scraped: bool,
    /// Mean of max(waiting/limit, kv/limit) over endpoints.
    pub saturation: f64,
    /// Connects the kernel rewrote to this pool.
    pub redirects: u64,
    /// Picks that fell back to live connections because scores were stale.
    pub stale_fallbacks: u64,
    /// Connects that found no eligible endpoint.
    pub no_endpoint: u64,
    /// Its endpoints.
    pub endpoints: Vec<EndpointStatus>,
}

/// One endpoint: its score, the inputs behind it and their age.
#[derive(Debug, Serialize, Deserialize)]
pub struct EndpointStatus {
    /// Where it listens.
    pub address: SocketAddr,
    /// Ready (scrapes answering).
    pub ready: bool,
    /// Draining.
    pub draining: bool,
    /// The score the kernel uses now (lower is better).
    pub score: u32,
    /// Waiting requests, last scrape.
    pub waiting: Option<f64>,
    /// Running requests, last scrape.
    pub running: Option<f64>,
    /// KV-cache usage 0..1, last scrape.
    pub kv_usage: Option<f64>,
    /// Seconds since the last successful scrape.
    pub score_age_seconds: Option<f64>,
    /// Duration of the last scrape.
    pub scrape_seconds: f64,
    /// Scrape failures by reason.
    pub scrape_errors: BTreeMap<String, u64>,
    /// The last failure, if the last scrape failed.
    pub last_error: Option<String>,
    /// Live connections (kernel).
    pub live_connections: u64,
    /// Connections redirected here in all (kernel).
    pub connections: u64,
}

/// The agent's own resource use.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProcessStats {
    /// User plus system CPU time.
    pub cpu_seconds: f64,
    /// Resident memory.
    pub resident_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
}

impl ProcessStats {
    /// Reads this process's figures from /proc.
    pub fn read() -> Self {
        let Ok(me) = procfs::process::Process::myself() else { return Self::default() };
        let ticks = procfs::ticks_per_second() as f64;
        let page = procfs::page_size();
        let stat = me.stat().ok();
        Self {
            cpu_seconds: stat.as_ref().map_or(0.0, |s| (s.utime + s.stime) as f64 / ticks),
            resident_bytes: stat.as_ref().map_or(0, |s| s.rss * page),
            open_fds: me.fd_count().map_or(0, |n| n as u64),
        }
    }
}

impl NodeStatus {
    /// Collects the current state.
    pub fn collect(maps: &Maps, reconciler: &Reconciler, health: &Health) -> Self {
        let pools = reconciler
            .current()
            .iter()
            .map(|(spec, done)| {
                let counters = maps.pool_counters(done.pool_id);
                let generation = maps.pools.get(&done.pool_id, 0).map(|p| p.generation).unwrap_or(0);
                let endpoints: Vec<EndpointStatus> = spec
                    .endpoints
                    .iter()
                    .zip(&done.endpoint_ids)
                    .map(|(ep, &id)| {
                        let key = TargetKey { pool: spec.name.clone(), endpoint: ep.address };
                        let h = health.get(&key);
                        let last = h.and_then(|h| h.last_ok);
                        EndpointStatus {
                            address: ep.address,
                            ready: reconciler.is_ready(id),
                            draining: ep.draining,
                            score: maps.endpoints.get(&id, 0).map(|e| e.scores[(generation & 1) as usize]).unwrap_or(0),
                            waiting: last.map(|(_, m)| m.waiting),
                            running: last.map(|(_, m)| m.running),
                            kv_usage: last.map(|(_, m)| m.kv_usage),
                            score_age_seconds: last.map(|(at, _)| at.elapsed().as_secs_f64()),
                            scrape_seconds: h.map_or(0.0, |h| h.last_took.as_secs_f64()),
                            scrape_errors: h.map(|h| h.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect()).unwrap_or_default(),
                            last_error: h.and_then(|h| h.last_error.clone()),
                            live_connections: maps.live(id),
                            connections: maps.conns(id),
                        }
                    })
                    .collect();
                let inputs: Vec<_> = spec
                    .endpoints
                    .iter()
                    .map(|ep| health.fresh(&TargetKey { pool: spec.name.clone(), endpoint: ep.address }, spec.scoring.staleness))
                    .collect();
                PoolStatus {
                    name: spec.name.clone(),
                    vip: spec.vip,
                    scraped: spec.scrape.is_some(),
                    saturation: crate::score::saturation(&spec.scoring.saturation, &inputs),
                    redirects: counters.redirects,
                    stale_fallbacks: counters.stale_fallbacks,
                    no_endpoint: counters.no_endpoint,
                    endpoints,
                }
            })
            .collect();
        Self {
            pools,
            counters: Counter::ALL.iter().map(|&c| (c.name().to_owned(), maps.counter(c))).collect(),
            process: ProcessStats::read(),
        }
    }

    /// A human-readable table for `kvlb status`.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
        let mut s = String::new();
        for p in &self.pools {
            let _ = writeln!(
                s,
                "pool {}  vip {}  saturation {:.2}  redirects {}  stale-fallbacks {}  no-endpoint {}{}",
                p.name,
                p.vip,
                p.saturation,
                p.redirects,
                p.stale_fallbacks,
                p.no_endpoint,
                if p.scraped { "" } else { "  (not scraped: live connections only)" }
            );
            let _ = writeln!(s, "  {:<24}{:<10}{:>9}{:>9}{:>9}{:>7}{:>6}{:>9}  LAST ERROR", "ENDPOINT", "STATE", "SCORE", "WAITING", "RUNNING", "KV", "LIVE", "AGE ms");
            for e in &p.endpoints {
                let state = if e.draining { "draining" } else if e.ready { "ready" } else { "not-ready" };
                let _ = writeln!(
                    s,
                    "  {:<24}{:<10}{:>9}{:>9}{:>9}{:>7}{:>6}{:>9}  {}",
                    e.address.to_string(),
                    state,
                    e.score,
                    opt(e.waiting, 0),
                    opt(e.running, 0),
                    opt(e.kv_usage, 2),
                    e.live_connections,
                    opt(e.score_age_seconds.map(|a| a * 1000.0), 0),
                    e.last_error.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(
            s,
            "agent: cpu {:.2}s  rss {:.1} MiB  fds {}",
            self.process.cpu_seconds,
            self.process.resident_bytes as f64 / (1 << 20) as f64,
            self.process.open_fds
        );
        s
    }

    /// The Prometheus text exposition (names prefixed `kvlb_`, units in the
    /// names, `_total` on counters).
    pub fn to_prometheus(&self) -> String {
        type Labels = Vec<(String, String)>;
        let mut registry = Registry::with_prefix("kvlb");
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
            registry.register(name, help, family.clone());
            family
        };
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<Labels, PromCounter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let score = gauge(&mut registry, "endpoint_score", "Load score the kernel uses (lower is better)");
        let kv = gauge(&mut registry, "endpoint_kv_cache_usage_ratio", "KV-cache usage 0..1, last scrape");
        let waiting = gauge(&mut registry, "endpoint_requests_waiting", "Waiting requests, last scrape");
        let running = gauge(&mut registry, "endpoint_requests_running", "Running requests, last scrape");
        let live = gauge(&mut registry, "endpoint_live_connections", "Live connections counted by the kernel");
        let ready = gauge(&mut registry, "endpoint_ready", "1 when the endpoint's scrapes answer");
        let scrape = gauge(&mut registry, "endpoint_scrape_duration_seconds", "Duration of the last scrape");
        let age = gauge(&mut registry, "endpoint_score_age_seconds", "Seconds since the last successful scrape");
        let errors = counter(&mut registry, "endpoint_scrape_errors", "Failed scrapes by reason");
        let conns = counter(&mut registry, "endpoint_connections", "Connections the kernel redirected to the endpoint");
        let redirects = counter(&mut registry, "pool_redirects", "Connects to the pool's VIP rewritten to an endpoint");
        let fallbacks = counter(&mut registry, "pool_stale_fallbacks", "Picks that ignored stale scores");
        let empty = counter(&mut registry, "pool_no_endpoint", "Connects that found no eligible endpoint");
        let saturation = gauge(&mut registry, "pool_saturation_ratio", "Mean of max(waiting/limit, kv/limit) over endpoints");
        let runs = counter(&mut registry, "program_runs", "Runs of each kernel program");
        let events = counter(&mut registry, "kernel_events", "Kernel event counters");
        let cpu = Family::<Labels, PromCounter<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register("agent_cpu_seconds", "CPU time the agent used", cpu.clone());
        let process = gauge(&mut registry, "agent_resident_memory_bytes", "The agent's resident memory");
        let fds = gauge(&mut registry, "agent_open_fds", "The agent's open file descriptors");

        for p in &self.pools {
            let pl = vec![("pool".to_owned(), p.name.clone())];
            redirects.get_or_create(&pl).inc_by(p.redirects);
            fallbacks.get_or_create(&pl).inc_by(p.stale_fallbacks);
            empty.get_or_create(&pl).inc_by(p.no_endpoint);
            saturation.get_or_create(&pl).set(p.saturation);
            for e in &p.endpoints {
                let el = vec![("pool".to_owned(), p.name.clone()), ("endpoint".to_owned(), e.address.to_string())];
                score.get_or_create(&el).set(f64::from(e.score));
                live.get_or_create(&el).set(e.live_connections as f64);
                ready.get_or_create(&el).set(if e.ready { 1.0 } else { 0.0 });
                conns.get_or_create(&el).inc_by(e.connections);
                if !p.scraped {
                    continue;
                }
                scrape.get_or_create(&el).set(e.scrape_seconds);
                for (family, value) in [(&kv, e.kv_usage), (&waiting, e.waiting), (&running, e.running), (&age, e.score_age_seconds)] {
                    if let Some(v) = value {
                        family.get_or_create(&el).set(v);
                    }
                }
                for reason in ["timeout", "connect", "status", "too_large", "syntax", "missing", "invalid"] {
                    let mut labels = el.clone();
                    labels.push(("reason".to_owned(), reason.to_owned()));
                    errors.get_or_create(&labels).inc_by(e.scrape_errors.get(reason).copied().unwrap_or(0));
                }
            }
        }
        for (name, value) in &self.counters {
            match name.strip_prefix("runs_") {
                Some(program) => runs.get_or_create(&vec![("program".to_owned(), program.to_owned())]).inc_by(*value),
                None => events.get_or_create(&vec![("event".to_owned(), name.clone())]).inc_by(*value),
            };
        }
        let no_labels = Labels::new();
        cpu.get_or_create(&no_labels).inc_by(self.process.cpu_seconds);
        process.get_or_create(&no_labels).set(self.process.resident_bytes as f64);
        fds.get_or_create(&no_labels).set(self.process.open_fds as f64);

        let mut out = String::new();
        encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}
