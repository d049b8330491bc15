//! `KVLB_COUNTERS`: per-CPU event counters.

use aya_ebpf::{macros::map, maps::PerCpuArray};
use kvlb_common::counters::Counter;

#[map]
static KVLB_COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(Counter::COUNT, 0);

/// Adds one to a counter on this CPU.
#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(slot) = KVLB_COUNTERS.get_ptr_mut(counter as u32) {
        // Per-CPU memory, and programs do not migrate mid-run: no atomics needed.
        unsafe { *slot += 1 }
    }
}
