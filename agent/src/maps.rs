//! Typed handles to the pinned maps, opened by path. The agent writes through
//! them; the `kvlb` CLI reads through them.

use std::path::Path;

use anyhow::Context;
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, PerCpuValues};
use kvlb_common::{
    counters, endpoint,
    endpoint::Endpoint,
    pool,
    pool::{Pool, PoolCounters, Slots},
    vip,
    vip::{Vip, VipKey},
};

/// Every kvlb map, by its layout in `kvlb-common`.
pub struct Maps {
    /// VIP → pool.
    pub vips: HashMap<MapData, VipKey, Vip>,
    /// Pool id → settings and score generation.
    pub pools: HashMap<MapData, u32, Pool>,
    /// Pool id → weighted slot table.
    pub slots: HashMap<MapData, u32, Slots>,
    /// Endpoint id → record.
    pub endpoints: HashMap<MapData, u32, Endpoint>,
    /// Endpoint id → live connections (kernel-maintained).
    pub live: Array<MapData, u64>,
    /// Endpoint id → connections redirected, per CPU (kernel-maintained).
    pub conns: PerCpuArray<MapData, u64>,
    /// Counter slot → count, per CPU (kernel-maintained).
    pub counters: PerCpuArray<MapData, u64>,
    /// Pool id → counters, per CPU (kernel-maintained).
    pub pool_counters: PerCpuArray<MapData, PoolCounters>,
}

fn open(dir: &Path, name: &str, wrap: fn(MapData) -> Map) -> anyhow::Result<Map> {
    let path = dir.join(name);
    let data = MapData::from_pin(&path).with_context(|| format!("cannot open pinned map {}", path.display()))?;
    Ok(wrap(data))
}

impl Maps {
    /// Opens the maps pinned in `dir` by a running (or killed) agent.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let ctx = |name: &str| format!("pinned map {name} has an unexpected layout; an older kvlb pinned it: run `kvlb-agent detach` and start again");
        Ok(Self {
            vips: open(dir, vip::MAP, Map::HashMap)?.try_into().with_context(|| ctx(vip::MAP))?,
            pools: open(dir, pool::MAP, Map::HashMap)?.try_into().with_context(|| ctx(pool::MAP))?,
            slots: open(dir, pool::SLOTS_MAP, Map::HashMap)?.try_into().with_context(|| ctx(pool::SLOTS_MAP))?,
            endpoints: open(dir, endpoint::MAP, Map::HashMap)?.try_into().with_context(|| ctx(endpoint::MAP))?,
            live: open(dir, endpoint::LIVE_MAP, Map::Array)?.try_into().with_context(|| ctx(endpoint::LIVE_MAP))?,
            conns: open(dir, endpoint::CONNS_MAP, Map::PerCpuArray)?.try_into().with_context(|| ctx(endpoint::CONNS_MAP))?,
            counters: open(dir, counters::MAP, Map::PerCpuArray)?.try_into().with_context(|| ctx(counters::MAP))?,
            pool_counters: open(dir, pool::COUNTERS_MAP, Map::PerCpuArray)?.try_into().with_context(|| ctx(pool::COUNTERS_MAP))?,
        })
    }

    /// An endpoint's live connections (never negative).
    pub fn live(&self, id: u32) -> u64 {
        // A transient underflow (a close counted before its open on another
        // CPU) reads as a huge value; show it as zero.
        self.live.get(&id, 0).ok().filter(|&n| n < 1 << 62).unwrap_or(0)
    }

    /// An endpoint's redirected connections, summed over CPUs.
    pub fn conns(&self, id: u32) -> u64 {
        sum(self.conns.get(&id, 0).ok())
    }

    /// A counter, summed over CPUs.
    pub fn counter(&self, counter: counters::Counter) -> u64 {
        sum(self.counters.get(&(counter as u32), 0).ok())
    }

    /// A pool's counters, summed over CPUs.
    pub fn pool_counters(&self, id: u32) -> PoolCounters {
        let mut sum = PoolCounters::default();
        for c in self.pool_counters.get(&id, 0).ok().iter().flat_map(|v| v.iter()) {
            sum.redirects += c.redirects;
            sum.stale_fallbacks += c.stale_fallbacks;
            sum.no_endpoint += c.no_endpoint;
        }
        sum
    }

    /// Zeroes a pool id's kernel counters before it is given to a new pool.
    pub fn reset_pool_counters(&mut self, id: u32) -> anyhow::Result<()> {
        let zeros = PerCpuValues::try_from(vec![PoolCounters::default(); aya::util::nr_cpus().map_err(|(_, e)| e)?])?;
        self.pool_counters.set(id, zeros, 0).context("cannot reset pool counters")?;
        Ok(())
    }

    /// Zeroes an endpoint id's kernel counts before it is given to a new
    /// endpoint.
    pub fn reset_endpoint_counts(&mut self, id: u32) -> anyhow::Result<()> {
        self.live.set(id, 0, 0).context("cannot reset live count")?;
        let zeros = PerCpuValues::try_from(vec![0u64; aya::util::nr_cpus().map_err(|(_, e)| e)?])?;
        self.conns.set(id, zeros, 0).context("cannot reset connection count")?;
        Ok(())
    }
}

fn sum(values: Option<PerCpuValues<u64>>) -> u64 {
    values.map(|v| v.iter().sum()).unwrap_or(0)
}
