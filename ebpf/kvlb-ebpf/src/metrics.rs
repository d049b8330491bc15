//! `KVLB_COUNTERS` and `KVLB_POOL_CTRS`: per-CPU event counters, node-wide
//! and per pool.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use kvlb_common::{
    counters::Counter,
    pool::{MAX_POOLS, PoolCounters},
};

#[map]
static KVLB_COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(Counter::COUNT, 0);

#[map]
static KVLB_POOL_CTRS: PerCpuArray<PoolCounters> = PerCpuArray::pinned(MAX_POOLS, 0);

/// Counts an event of one pool on this CPU.
#[inline(always)]
pub fn count_pool(pool_id: u32, bump: fn(&mut PoolCounters)) {
    if let Some(counters) = KVLB_POOL_CTRS.get_ptr_mut(pool_id) {
        // Per-CPU memory: no atomics needed.
        bump(unsafe { &mut *counters });
    }
}

/// Adds one to a counter on this CPU.
#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = KVLB_COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU memory, and programs do not migrate mid-run: no atomics needed.
        unsafe { *slot += 1 }
    }
}
