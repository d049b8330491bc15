//! A read-only snapshot of the maps, for `kvlb list` (like
//! `cilium bpf lb list`): pools, endpoints, weights, flags, live connections
//! and counters.

use std::{collections::BTreeMap, fmt::Write as _, net::SocketAddr};

use kvlb_common::{
    addr::socket_from_words,
    counters::Counter,
    endpoint::{Endpoint, FLAG_DRAINING, FLAG_READY},
    pool::{FLAG_PASS_WHEN_EMPTY, Pool, Slots},
    vip::{Vip, VipKey},
};
use serde::Serialize;

use crate::{maps::Maps, reconcile::AppliedPool};

/// Everything the maps hold, grouped by pool.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Pools with their VIPs and endpoints.
    pub pools: Vec<PoolView>,
    /// Endpoints whose pool is gone (draining their last connections).
    pub orphans: Vec<EndpointView>,
    /// Kernel counters by name, summed over CPUs.
    pub counters: BTreeMap<&'static str, u64>,
}

/// One pool.
#[derive(Debug, Serialize)]
pub struct PoolView {
    /// Id in the maps.
    pub id: u32,
    /// Name from the agent's state file, if known.
    pub name: Option<String>,
    /// Virtual addresses that lead here.
    pub vips: Vec<SocketAddr>,
    /// The no-endpoint rule: `refuse` or `pass`.
    pub when_empty: &'static str,
    /// Slots in use (0 = no eligible endpoint).
    pub slots: u32,
    /// The score generation last published.
    pub score_generation: u32,
    /// Endpoints of the pool.
    pub endpoints: Vec<EndpointView>,
}

/// One endpoint.
#[derive(Debug, Serialize)]
pub struct EndpointView {
    /// Id in the maps.
    pub id: u32,
    /// Where it listens.
    pub address: SocketAddr,
    /// Configured weight.
    pub weight: u32,
    /// Share of the pool's slots, in percent: its chance to be drawn.
    pub slot_share_pct: f64,
    /// Answers and may get new connections.
    pub ready: bool,
    /// Leaving: no new connections.
    pub draining: bool,
    /// Live connections (kernel count).
    pub live: u64,
    /// Connections redirected here in all.
    pub connections: u64,
    /// The current load score (lower is better).
    pub score: u32,
}

impl Snapshot {
    /// Reads the maps. `names` comes from the agent's state file.
    pub fn read(maps: &Maps, names: &[AppliedPool]) -> anyhow::Result<Self> {
        let vips: Vec<(VipKey, Vip)> = maps.vips.iter().collect::<Result<_, _>>()?;
        let pools: BTreeMap<u32, Pool> = maps.pools.iter().collect::<Result<_, _>>()?;
        let mut endpoints: BTreeMap<u32, Endpoint> = maps.endpoints.iter().collect::<Result<_, _>>()?;
        let view = |id: u32, ep: &Endpoint, generation: u32, slots: Option<&Slots>| {
            let in_slots = slots.map(|s| s.endpoint_ids[..s.count as usize].iter().filter(|&&x| x == id).count());
            EndpointView {
                id,
                address: socket_from_words(ep.addr, ep.port),
                weight: ep.weight,
                slot_share_pct: match (in_slots, slots) {
                    (Some(n), Some(s)) if s.count > 0 => 100.0 * n as f64 / f64::from(s.count),
                    _ => 0.0,
                },
                ready: ep.flags & FLAG_READY != 0,
                draining: ep.flags & FLAG_DRAINING != 0,
                live: maps.live(id),
                connections: maps.conns(id),
                score: ep.scores[(generation & 1) as usize],
            }
        };
        let mut out = Vec::new();
        for (&id, pool) in &pools {
            let slots = maps.slots.get(&id, 0).ok();
            let members: Vec<u32> = endpoints.iter().filter(|(_, e)| e.pool_id == id).map(|(&i, _)| i).collect();
            let mut pool_vips: Vec<SocketAddr> = vips
                .iter()
                .filter(|(_, v)| v.pool_id == id)
                .map(|(k, _)| socket_from_words(k.addr, k.port))
                .collect();
            pool_vips.sort();
            out.push(PoolView {
                id,
                name: names.iter().find(|p| p.pool_id == id).map(|p| p.name.clone()),
                vips: pool_vips,
                when_empty: if pool.flags & FLAG_PASS_WHEN_EMPTY != 0 { "pass" } else { "refuse" },
                slots: slots.as_ref().map_or(0, |s| s.count),
                score_generation: pool.generation,
                endpoints: members
                    .iter()
                    .map(|&i| view(i, &endpoints[&i], pool.generation, slots.as_ref()))
                    .collect(),
            });
            for i in members {
                endpoints.remove(&i);
            }
        }
        Ok(Self {
            pools: out,
            orphans: endpoints.iter().map(|(&i, e)| view(i, e, 0, None)).collect(),
            counters: Counter::ALL.iter().map(|&c| (c.name(), maps.counter(c))).collect(),
        })
    }

    /// A human-readable table.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for p in &self.pools {
            let vips: Vec<String> = p.vips.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                s,
                "pool {} {}  vip {}  slots {}  when-empty {}",
                p.id,
                p.name.as_deref().unwrap_or("-"),
                if vips.is_empty() { "-".into() } else { vips.join(",") },
                p.slots,
                p.when_empty
            );
            endpoint_rows(&mut s, &p.endpoints);
        }
        if !self.orphans.is_empty() {
            let _ = writeln!(s, "removed endpoints still draining");
            endpoint_rows(&mut s, &self.orphans);
        }
        let _ = writeln!(s, "counters");
        for (name, value) in &self.counters {
            let _ = writeln!(s, "  {name:<22}{value}");
        }
        s
    }
}

fn endpoint_rows(s: &mut String, endpoints: &[EndpointView]) {
    let _ = writeln!(s, "  {:<5}{:<42}{:>7}{:>8}  {:<9}{:>6}{:>8}{:>8}", "ID", "ENDPOINT", "WEIGHT", "SHARE", "STATE", "LIVE", "CONNS", "SCORE");
    for e in endpoints {
        let state = match (e.ready, e.draining) {
            (_, true) => "draining",
            (true, false) => "ready",
            (false, false) => "not-ready",
        };
        let _ = writeln!(
            s,
            "  {:<5}{:<42}{:>7}{:>7.1}%  {:<9}{:>6}{:>8}{:>8}",
            e.id, e.address.to_string(), e.weight, e.slot_share_pct, state, e.live, e.connections, e.score
        );
    }
}
