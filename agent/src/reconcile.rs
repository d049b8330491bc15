//! Writes the pool table, endpoint readiness and scores into the maps.
//!
//! Table changes go make-before-break: endpoint records first, then pool
//! settings and slot tables (each replaced whole), then VIPs; removals last.
//! Ids are recovered from the maps themselves, so an agent restarted after a
//! crash continues where the last one stopped without disturbing a single
//! connection. Scores go out per pool with a generation swap: every
//! endpoint's inactive score slot first, then the pool's generation flips.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::Context;
use kvlb_common::{
    addr::socket_to_words,
    endpoint::{self, Endpoint, FLAG_DRAINING, FLAG_READY, FLAG_SATURATED},
    pool::{FLAG_PASS_WHEN_EMPTY, Pool},
    vip::{Vip, VipKey},
};

use crate::{
    maps::Maps,
    slots,
    table::{Mode, PoolSpec, PoolTable, WhenEmpty},
};

/// The ids a pool was given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedPool {
    /// Pool name.
    pub name: String,
    /// Its id in the maps.
    pub pool_id: u32,
    /// Its endpoints' ids, in table order.
    pub endpoint_ids: Vec<u32>,
    /// For a pool in l7 mode: the id of the record that sends its VIP's
    /// connections to the proxy (the only entry of its slot table).
    pub proxy_endpoint_id: Option<u32>,
}

/// Keeps the maps in step with the pool table, readiness and scores.
pub struct Reconciler {
    /// Removed endpoints still holding connections, and since when.
    removed: HashMap<u32, Instant>,
    drain_grace: Duration,
    /// Where the L7 proxy listens, for pools in l7 mode.
    proxy_addr: Option<SocketAddr>,
    /// Endpoints whose scrapes keep failing.
    not_ready: HashSet<u32>,
    /// The table last applied, with its ids.
    current: Vec<(PoolSpec, AppliedPool)>,
    /// What the maps hold for the current endpoints and pools.
    records: HashMap<u32, Endpoint>,
    pools: HashMap<u32, Pool>,
}

/// The endpoint records the maps held when an apply began.
struct Known {
    /// Record by id.
    records: HashMap<u32, Endpoint>,
    /// Id by (pool, address, port).
    by_addr: HashMap<(u32, [u32; 4], u16), u32>,
    /// Ids in use, including those given out during this apply.
    taken: BTreeSet<u32>,
}

/// Picks the smallest id not in `taken`, and takes it.
fn allocate(taken: &mut BTreeSet<u32>, max: u32) -> anyhow::Result<u32> {
    let id = (0..max).find(|id| !taken.contains(id)).context("no free id left in the maps")?;
    taken.insert(id);
    Ok(id)
}

/// Nanoseconds of CLOCK_MONOTONIC, the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

impl Reconciler {
    /// A reconciler that keeps removed endpoints' records while they drain,
    /// for at most `drain_grace`, and sends l7 pools' VIPs to `proxy_addr`.
    pub fn new(drain_grace: Duration, proxy_addr: Option<SocketAddr>) -> Self {
        Self {
            removed: HashMap::new(),
            drain_grace,
            proxy_addr,
            not_ready: HashSet::new(),
            current: Vec::new(),
            records: HashMap::new(),
            pools: HashMap::new(),
        }
    }

    /// The table last applied, with its ids.
    pub fn current(&self) -> &[(PoolSpec, AppliedPool)] {
        &self.current
    }

    /// Whether an endpoint is ready (not failing its scrapes).
    pub fn is_ready(&self, id: u32) -> bool {
        !self.not_ready.contains(&id)
    }

    /// Makes the maps hold exactly `table` (plus removed endpoints that still
    /// drain). The table must be validated.
    pub fn apply(&mut self, maps: &mut Maps, table: &PoolTable) -> anyhow::Result<Vec<AppliedPool>> {
        if let Some(spec) = table.pools.iter().find(|p| p.mode == Mode::L7) {
            let proxy = self.proxy_addr.with_context(|| format!("pool {} is in l7 mode, but the agent has no --proxy-addr", spec.name))?;
            if let Some(clash) = table.pools.iter().find(|p| p.vip == proxy || p.endpoints.iter().any(|e| e.address == proxy)) {
                anyhow::bail!("the proxy address {proxy} is also a VIP or endpoint of pool {}", clash.name);
            }
        }
        let old_vips: HashMap<VipKey, Vip> = maps.vips.iter().collect::<Result<_, _>>()?;
        let old_pools: HashMap<u32, Pool> = maps.pools.iter().collect::<Result<_, _>>()?;
        let old_eps: HashMap<u32, Endpoint> = maps.endpoints.iter().collect::<Result<_, _>>()?;

        // Pool ids: a pool keeps the id its VIP already points at.
        let mut taken_pools: BTreeSet<u32> = old_pools.keys().copied().collect();
        let mut claimed_pools = BTreeSet::new();
        let mut pool_ids = Vec::with_capacity(table.pools.len());
        for spec in &table.pools {
            let (addr, port) = socket_to_words(spec.vip);
            let id = match old_vips.get(&VipKey::new(addr, port)) {
                Some(v) if old_pools.contains_key(&v.pool_id) && !claimed_pools.contains(&v.pool_id) => v.pool_id,
                _ => {
                    let id = allocate(&mut taken_pools, kvlb_common::pool::MAX_POOLS)?;
                    maps.reset_pool_counters(id)?;
                    id
                }
            };
            claimed_pools.insert(id);
            pool_ids.push(id);
        }

        // Endpoint ids: an endpoint keeps its id while it stays in its pool.
        let mut known = Known {
            by_addr: old_eps.iter().map(|(&id, ep)| ((ep.pool_id, ep.addr, ep.port), id)).collect(),
            taken: old_eps.keys().copied().collect(),
            records: old_eps,
        };
        let mut applied = Vec::with_capacity(table.pools.len());
        self.records.clear();
        for (spec, &pool_id) in table.pools.iter().zip(&pool_ids) {
            let mut endpoint_ids = Vec::with_capacity(spec.endpoints.len());
            for ep in &spec.endpoints {
                let id = self.write_endpoint(maps, &mut known, pool_id, ep.address, ep.weight, ep.draining)?;
                endpoint_ids.push(id);
            }
            let proxy_endpoint_id = match (spec.mode, self.proxy_addr) {
                (Mode::L7, Some(proxy)) => Some(self.write_endpoint(maps, &mut known, pool_id, proxy, 1, false)?),
                _ => None,
            };
            applied.push(AppliedPool { name: spec.name.clone(), pool_id, endpoint_ids, proxy_endpoint_id });
        }
        self.not_ready.retain(|id| self.records.contains_key(id));
        self.current = table.pools.iter().cloned().zip(applied.iter().cloned()).collect();

        // Pools and slot tables, each replaced as a whole.
        self.pools.clear();
        for i in 0..self.current.len() {
            let (spec, done) = &self.current[i];
            let mut pool = old_pools.get(&done.pool_id).copied().unwrap_or(Pool {
                flags: 0,
                generation: 0,
                conn_cost: 0,
                saturation_ppm: 0,
                scores_updated_ns: 0,
                staleness_ns: 0,
            });
            pool.flags = match spec.when_empty {
                WhenEmpty::Refuse => pool.flags & !FLAG_PASS_WHEN_EMPTY,
                WhenEmpty::Pass => pool.flags | FLAG_PASS_WHEN_EMPTY,
            };
            // Without scraping the kernel never reads scores: staleness 0.
            pool.staleness_ns = match spec.scrape {
                Some(_) => spec.scoring.staleness.as_nanos() as u64,
                None => 0,
            };
            pool.conn_cost = spec.scoring.weights.conn_cost();
            if old_pools.get(&done.pool_id) != Some(&pool) {
                maps.pools.insert(done.pool_id, pool, 0).context("cannot write pool")?;
            }
            self.pools.insert(done.pool_id, pool);
            self.write_slots(maps, i)?;
        }

        // VIPs: new and re-pointed ones now that their pools are complete.
        let mut wanted_vips = BTreeSet::new();
        for (spec, done) in table.pools.iter().zip(&applied) {
            let (addr, port) = socket_to_words(spec.vip);
            let key = VipKey::new(addr, port);
            let value = Vip { pool_id: done.pool_id, flags: 0 };
            if old_vips.get(&key) != Some(&value) {
                maps.vips.insert(key, value, 0).context("cannot write VIP")?;
            }
            wanted_vips.insert((key.addr, key.port));
        }

        // Removals: VIPs first, so nothing new reaches a pool being removed.
        for key in old_vips.keys().filter(|k| !wanted_vips.contains(&(k.addr, k.port))) {
            remove_ok(maps.vips.remove(key))?;
        }
        for id in old_pools.keys().filter(|id| !claimed_pools.contains(id)) {
            remove_ok(maps.slots.remove(id))?;
            remove_ok(maps.pools.remove(id))?;
        }
        for (&id, ep) in known.records.iter().filter(|(id, _)| !self.records.contains_key(id)) {
            if ep.flags & FLAG_DRAINING == 0 {
                let draining = Endpoint { flags: ep.flags | FLAG_DRAINING, ..*ep };
                maps.endpoints.insert(id, draining, 0).context("cannot mark endpoint draining")?;
            }
            self.removed.entry(id).or_insert_with(Instant::now);
        }
        self.sweep(maps)?;
        Ok(applied)
    }

    /// Writes (if changed) the record of the endpoint at `address` in pool
    /// `pool_id`, keeping its id, scores and readiness; returns its id.
    fn write_endpoint(&mut self, maps: &mut Maps, known: &mut Known, pool_id: u32, address: SocketAddr, weight: u32, draining: bool) -> anyhow::Result<u32> {
        let old_eps = &known.records;
        let (addr, port) = socket_to_words(address);
        let id = match known.by_addr.get(&(pool_id, addr, port)) {
            Some(&id) => id,
            None => {
                let id = allocate(&mut known.taken, endpoint::MAX_ENDPOINTS)?;
                maps.reset_endpoint_counts(id)?;
                self.not_ready.remove(&id);
                id
            }
        };
        let flags = if self.is_ready(id) { FLAG_READY } else { 0 } | if draining { FLAG_DRAINING } else { 0 };
        let scores = old_eps.get(&id).map(|e| e.scores).unwrap_or_default();
        let record = Endpoint { addr, port, flags, weight, pool_id, scores, _pad: 0 };
        if old_eps.get(&id) != Some(&record) {
            maps.endpoints.insert(id, record, 0).context("cannot write endpoint")?;
        }
        self.records.insert(id, record);
        self.removed.remove(&id);
        Ok(id)
    }

    /// Rewrites pool `i`'s slot table, if it changed: its eligible (ready,
    /// not draining) endpoints, or the proxy for a pool in l7 mode.
    fn write_slots(&self, maps: &mut Maps, i: usize) -> anyhow::Result<()> {
        let (spec, done) = &self.current[i];
        let members: Vec<(u32, u32)> = match done.proxy_endpoint_id {
            Some(proxy) => vec![(proxy, 1)],
            None => spec
                .endpoints
                .iter()
                .zip(&done.endpoint_ids)
                .filter(|(ep, id)| !ep.draining && self.is_ready(**id))
                .map(|(ep, &id)| (id, ep.weight))
                .collect(),
        };
        let table = slots::build(&members);
        if maps.slots.get(&done.pool_id, 0).ok().as_ref() != Some(&table) {
            maps.slots.insert(done.pool_id, table, 0).context("cannot write slot table")?;
        }
        Ok(())
    }

    /// Marks an endpoint ready or not: its record's flag and its pool's slot
    /// table, so the kernel stops (or resumes) drawing it.
    pub fn set_ready(&mut self, maps: &mut Maps, id: u32, ready: bool) -> anyhow::Result<()> {
        if self.is_ready(id) == ready {
            return Ok(());
        }
        if ready {
            self.not_ready.remove(&id);
        } else {
            self.not_ready.insert(id);
        }
        if let Some(record) = self.records.get_mut(&id) {
            record.flags = if ready { record.flags | FLAG_READY } else { record.flags & !FLAG_READY };
            maps.endpoints.insert(id, *record, 0).context("cannot write endpoint")?;
        }
        if let Some(i) = self.current.iter().position(|(_, done)| done.endpoint_ids.contains(&id)) {
            self.write_slots(maps, i)?;
        }
        Ok(())
    }

    /// Publishes one round of scores for a pool (`scores` and `saturated` in
    /// the order of its endpoint ids) and its saturation, then flips its
    /// generation.
    pub fn publish(&mut self, maps: &mut Maps, pool_id: u32, scores: &[u32], saturated: &[bool], saturation: f64) -> anyhow::Result<()> {
        let Some(done) = self.current.iter().find(|(_, d)| d.pool_id == pool_id).map(|(_, d)| d.clone()) else {
            return Ok(());
        };
        let Some(mut pool) = self.pools.get(&pool_id).copied() else {
            return Ok(());
        };
        let generation = pool.generation.wrapping_add(1);
        let slot = (generation & 1) as usize;
        for ((id, &score), &saturated) in done.endpoint_ids.iter().zip(scores).zip(saturated) {
            let Some(record) = self.records.get_mut(id) else { continue };
            let flags = if saturated { record.flags | FLAG_SATURATED } else { record.flags & !FLAG_SATURATED };
            if record.scores[slot] != score || record.flags != flags {
                record.scores[slot] = score;
                record.flags = flags;
                maps.endpoints.insert(*id, *record, 0).context("cannot write endpoint score")?;
            }
        }
        pool.generation = generation;
        pool.scores_updated_ns = monotonic_ns();
        pool.saturation_ppm = (saturation * 1e6).round().clamp(0.0, f64::from(u32::MAX)) as u32;
        maps.pools.insert(pool_id, pool, 0).context("cannot publish pool scores")?;
        self.pools.insert(pool_id, pool);
        Ok(())
    }

    /// Deletes removed endpoints whose connections have all closed (or whose
    /// grace period is over).
    pub fn sweep(&mut self, maps: &mut Maps) -> anyhow::Result<()> {
        let done: Vec<u32> = self
            .removed
            .iter()
            .filter(|(id, since)| maps.live(**id) == 0 || since.elapsed() > self.drain_grace)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            remove_ok(maps.endpoints.remove(&id))?;
            self.removed.remove(&id);
        }
        Ok(())
    }
}

/// A removal of something already gone is fine.
fn remove_ok(result: Result<(), aya::maps::MapError>) -> anyhow::Result<()> {
    match result {
        Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
        Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        Err(e) => Err(e).context("cannot remove a map entry"),
    }
}
