//! Writes a [`PoolTable`] into the maps, make-before-break: endpoint records
//! first, then pool settings and slot tables (each replaced whole), then VIPs;
//! removals last. Ids are recovered from the maps themselves, so an agent
//! restarted after a crash continues where the last one stopped without
//! disturbing a single connection.

use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

use anyhow::Context;
use kvlb_common::{
    addr::socket_to_words,
    endpoint::{self, Endpoint, FLAG_DRAINING, FLAG_READY},
    pool::{FLAG_PASS_WHEN_EMPTY, Pool},
    vip::{Vip, VipKey},
};

use crate::{
    maps::Maps,
    slots,
    table::{PoolTable, WhenEmpty},
};

/// Keeps the maps in step with successive pool tables.
pub struct Reconciler {
    /// Removed endpoints still holding connections, and since when.
    removed: HashMap<u32, Instant>,
    drain_grace: Duration,
}

/// The ids a table was given, in table order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedPool {
    /// Pool name.
    pub name: String,
    /// Its id in the maps.
    pub pool_id: u32,
    /// Its endpoints' ids, in table order.
    pub endpoint_ids: Vec<u32>,
}

/// Picks the smallest id not in `taken`, and takes it.
fn allocate(taken: &mut BTreeSet<u32>, max: u32) -> anyhow::Result<u32> {
    let id = (0..max).find(|id| !taken.contains(id)).context("no free id left in the maps")?;
    taken.insert(id);
    Ok(id)
}

impl Reconciler {
    /// A reconciler that keeps removed endpoints' records while they drain,
    /// for at most `drain_grace`.
    pub fn new(drain_grace: Duration) -> Self {
        Self { removed: HashMap::new(), drain_grace }
    }

    /// Makes the maps hold exactly `table` (plus removed endpoints that still
    /// drain). The table must be validated.
    pub fn apply(&mut self, maps: &mut Maps, table: &PoolTable) -> anyhow::Result<Vec<AppliedPool>> {
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
                _ => allocate(&mut taken_pools, kvlb_common::pool::MAX_POOLS)?,
            };
            claimed_pools.insert(id);
            pool_ids.push(id);
        }

        // Endpoint ids: an endpoint keeps its id while it stays in its pool.
        let by_addr: HashMap<(u32, [u32; 4], u16), u32> =
            old_eps.iter().map(|(&id, ep)| ((ep.pool_id, ep.addr, ep.port), id)).collect();
        let mut taken_eps: BTreeSet<u32> = old_eps.keys().copied().collect();
        let mut applied = Vec::with_capacity(table.pools.len());
        for (spec, &pool_id) in table.pools.iter().zip(&pool_ids) {
            let mut endpoint_ids = Vec::with_capacity(spec.endpoints.len());
            for ep in &spec.endpoints {
                let (addr, port) = socket_to_words(ep.address);
                let id = match by_addr.get(&(pool_id, addr, port)) {
                    Some(&id) => id,
                    None => {
                        let id = allocate(&mut taken_eps, endpoint::MAX_ENDPOINTS)?;
                        maps.reset_endpoint_counts(id)?;
                        id
                    }
                };
                let flags = FLAG_READY | if ep.draining { FLAG_DRAINING } else { 0 };
                let scores = old_eps.get(&id).map(|e| e.scores).unwrap_or_default();
                let record = Endpoint { addr, port, flags, weight: ep.weight, pool_id, scores, _pad: 0 };
                if old_eps.get(&id) != Some(&record) {
                    maps.endpoints.insert(id, record, 0).context("cannot write endpoint")?;
                }
                self.removed.remove(&id);
                endpoint_ids.push(id);
            }
            applied.push(AppliedPool { name: spec.name.clone(), pool_id, endpoint_ids });
        }

        // Pools and slot tables, each replaced as a whole.
        for (spec, done) in table.pools.iter().zip(&applied) {
            let mut pool = old_pools.get(&done.pool_id).copied().unwrap_or(Pool {
                flags: 0,
                generation: 0,
                conn_cost: 0,
                _pad: 0,
                scores_updated_ns: 0,
                staleness_ns: 0,
            });
            pool.flags = match spec.when_empty {
                WhenEmpty::Refuse => pool.flags & !FLAG_PASS_WHEN_EMPTY,
                WhenEmpty::Pass => pool.flags | FLAG_PASS_WHEN_EMPTY,
            };
            if old_pools.get(&done.pool_id) != Some(&pool) {
                maps.pools.insert(done.pool_id, pool, 0).context("cannot write pool")?;
            }
            let members: Vec<(u32, u32)> = spec
                .endpoints
                .iter()
                .zip(&done.endpoint_ids)
                .filter(|(ep, _)| !ep.draining)
                .map(|(ep, &id)| (id, ep.weight))
                .collect();
            let table = slots::build(&members);
            if maps.slots.get(&done.pool_id, 0).ok().as_ref() != Some(&table) {
                maps.slots.insert(done.pool_id, table, 0).context("cannot write slot table")?;
            }
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
        let kept: BTreeSet<u32> = applied.iter().flat_map(|p| p.endpoint_ids.iter().copied()).collect();
        for (&id, ep) in old_eps.iter().filter(|(id, _)| !kept.contains(id)) {
            if ep.flags & FLAG_DRAINING == 0 {
                let draining = Endpoint { flags: ep.flags | FLAG_DRAINING, ..*ep };
                maps.endpoints.insert(id, draining, 0).context("cannot mark endpoint draining")?;
            }
            self.removed.entry(id).or_insert_with(Instant::now);
        }
        self.sweep(maps)?;
        Ok(applied)
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
