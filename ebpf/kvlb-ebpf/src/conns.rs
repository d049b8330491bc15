//! `KVLB_EP_LIVE` and `KVLB_EP_CONNS`: the kernel's own per-endpoint load
//! signal, fresh between metric scrapes.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{
    macros::map,
    maps::{Array, PerCpuArray},
};
use kvlb_common::endpoint::MAX_ENDPOINTS;

/// Live (established, not yet closed) connections per endpoint id. Shared by
/// all CPUs, so updated with atomic adds.
#[map]
static KVLB_EP_LIVE: Array<u64> = Array::pinned(MAX_ENDPOINTS, 0);

/// Connections ever redirected to each endpoint, per CPU.
#[map]
static KVLB_EP_CONNS: PerCpuArray<u64> = PerCpuArray::pinned(MAX_ENDPOINTS, 0);

/// An endpoint's live connections.
#[inline(always)]
pub fn live(endpoint_id: u32) -> u64 {
    match KVLB_EP_LIVE.get_ptr(endpoint_id) {
        Some(count) => unsafe { count.read_volatile() },
        None => 0,
    }
}

/// One more live connection on an endpoint.
#[inline(always)]
pub fn opened(endpoint_id: u32) {
    add_live(endpoint_id, 1);
}

/// One fewer live connection on an endpoint.
#[inline(always)]
pub fn closed(endpoint_id: u32) {
    // Two's complement: adding u64::MAX subtracts one. A plain atomic add
    // (without fetch) is what every BPF CPU version supports.
    add_live(endpoint_id, u64::MAX);
}

#[inline(always)]
fn add_live(endpoint_id: u32, delta: u64) {
    if let Some(count) = KVLB_EP_LIVE.get_ptr_mut(endpoint_id) {
        // The bpf target has no compare-and-swap, so core's atomic types
        // offer no fetch_add; the intrinsic lowers to BPF's atomic add, and
        // with its result unused that is the plain add every BPF CPU has.
        let _ = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(count, delta) };
    }
}

/// Counts a connection redirected to an endpoint.
#[inline(always)]
pub fn redirected(endpoint_id: u32) {
    if let Some(total) = KVLB_EP_CONNS.get_ptr_mut(endpoint_id) {
        // Per-CPU memory: no atomics needed.
        unsafe { *total += 1 }
    }
}
