//! The single definition of kvlb's BPF maps: names, capacities, and the
//! `#[repr(C)]` key and value layouts that the kernel programs (`kvlb-ebpf`)
//! and every userspace reader or writer (the agent, the `kvlb` CLI, the proxy)
//! share. Nothing else in the tree may redeclare these layouts.
//!
//! # Layout
//! - [`addr`]: how addresses and ports are stored (network byte order, IPv4 as
//!   v4-mapped IPv6).
//! - [`vip`]: `KVLB_VIPS`, a pool's virtual address → pool.
//! - [`pool`]: `KVLB_POOLS` (per-pool settings and the score generation),
//!   `KVLB_SLOTS` (the weighted slot table the kernel samples from) and
//!   `KVLB_POOL_CTRS` (per-pool per-CPU counters).
//! - [`endpoint`]: `KVLB_ENDPOINTS` (one record per endpoint), `KVLB_EP_LIVE`
//!   (live connections, kernel-maintained) and `KVLB_EP_CONNS` (per-CPU totals).
//! - [`sock`]: `KVLB_SOCKS`, socket cookie → the VIP it asked for.
//! - [`counters`]: `KVLB_COUNTERS`, per-CPU event counters.
//!
//! # Who writes what
//! The agent writes `KVLB_VIPS`, `KVLB_POOLS`, `KVLB_SLOTS` and
//! `KVLB_ENDPOINTS`. The kernel programs write `KVLB_SOCKS`, `KVLB_EP_LIVE`,
//! `KVLB_EP_CONNS`, `KVLB_POOL_CTRS` and `KVLB_COUNTERS`. Everybody else only reads.
#![no_std]

pub mod addr;
pub mod counters;
pub mod endpoint;
pub mod pool;
pub mod sock;
pub mod vip;

/// `BPF_F_NO_PREALLOC`: hash maps whose values userspace replaces while the
/// kernel reads them are allocated on demand, so a replaced element is freed
/// only after an RCU grace period and a reader never sees it half rewritten.
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// Where the agent pins maps and links unless told otherwise.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/kvlb";

/// Implements `aya::Pod` for layouts that cross the kernel boundary.
#[cfg(feature = "user")]
macro_rules! impl_pod {
    ($($t:ty),* $(,)?) => {
        // SAFETY: every listed type is `#[repr(C)]`, `Copy`, has no padding
        // holes the kernel could leave uninitialised (all padding is explicit),
        // and is valid for any bit pattern.
        $(unsafe impl aya::Pod for $t {})*
    };
}

#[cfg(feature = "user")]
impl_pod!(
    vip::VipKey,
    vip::Vip,
    pool::Pool,
    pool::Slots,
    pool::PoolCounters,
    endpoint::Endpoint,
    sock::SockEntry,
);

/// Compile-time layout checks: a size change here is a change of the pinned
/// maps' format and needs a new map name.
const _: () = {
    assert!(core::mem::size_of::<vip::VipKey>() == 20);
    assert!(core::mem::size_of::<vip::Vip>() == 8);
    assert!(core::mem::size_of::<pool::Pool>() == 32);
    assert!(core::mem::size_of::<pool::Slots>() == 4 + 4 * pool::MAX_SLOTS);
    assert!(core::mem::size_of::<pool::PoolCounters>() == 24);
    assert!(core::mem::size_of::<endpoint::Endpoint>() == 40);
    assert!(core::mem::size_of::<sock::SockEntry>() == 44);
};
