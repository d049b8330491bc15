//! `KVLB_POOLS` and `KVLB_SLOTS`: per-pool settings and the slot table the
//! connect-time pick samples from.

/// Map name of the pool settings, also its pin file name.
pub const MAP: &str = "KVLB_POOLS";
/// Map name of the slot tables, also its pin file name.
pub const SLOTS_MAP: &str = "KVLB_SLOTS";
/// Capacity: pools per node.
pub const MAX_POOLS: u32 = 4096;
/// Slots per pool. Each eligible endpoint holds a share of slots proportional
/// to its weight (at least one), so this is also the largest pool the kernel
/// can balance over.
pub const MAX_SLOTS: usize = 1024;

/// Flag: when no endpoint is eligible, let `connect()` through unchanged
/// (for a VIP that is also a real address, e.g. a Service ClusterIP that the
/// cluster's own load balancing handles). Without it such a connect fails with
/// `ECONNREFUSED`.
pub const FLAG_PASS_WHEN_EMPTY: u32 = 1 << 0;

/// Value of `KVLB_POOLS`, keyed by pool id (`u32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Which of the two score slots in every endpoint record is current: the
    /// agent writes `scores[(generation + 1) & 1]` of all endpoints, then bumps
    /// this, so a pick never mixes two scrape rounds.
    pub generation: u32,
    /// Score units one live connection adds to an endpoint's cost.
    pub conn_cost: u32,
    /// The pool's saturation in millionths (1_000_000 = saturated), as the
    /// agent last computed it; the proxy reads it for admission.
    pub saturation_ppm: u32,
    /// Monotonic time (`bpf_ktime_get_ns`) the current generation was published.
    pub scores_updated_ns: u64,
    /// Scores older than this are ignored and the pick uses live connections
    /// only. Zero means the pool has no scores.
    pub staleness_ns: u64,
}

/// Map name of the per-pool counters: a per-CPU array of [`PoolCounters`]
/// indexed by pool id, written by the kernel.
pub const COUNTERS_MAP: &str = "KVLB_POOL_CTRS";

/// Per-pool kernel counters (one copy per CPU).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounters {
    /// Connects rewritten to an endpoint of the pool.
    pub redirects: u64,
    /// Picks that ignored the pool's scores because they were stale.
    pub stale_fallbacks: u64,
    /// Connects that found no eligible endpoint.
    pub no_endpoint: u64,
}

/// Value of `KVLB_SLOTS`, keyed by pool id (`u32`): replaced as a whole, so a
/// membership change is atomic.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    /// How many leading entries of `endpoint_ids` are in use.
    pub count: u32,
    /// Endpoint ids, repeated in proportion to their weights.
    pub endpoint_ids: [u32; MAX_SLOTS],
}

impl Slots {
    /// An empty table (a pool scaled to zero).
    pub const EMPTY: Self = Self { count: 0, endpoint_ids: [0; MAX_SLOTS] };
}
