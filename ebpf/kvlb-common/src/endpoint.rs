//! `KVLB_ENDPOINTS`, `KVLB_EP_LIVE` and `KVLB_EP_CONNS`: one record per
//! endpoint, and the kernel's own per-endpoint counts.

/// Map name of the endpoint records, also its pin file name.
pub const MAP: &str = "KVLB_ENDPOINTS";
/// Map name of the live-connection counts (an array of `u64` indexed by
/// endpoint id, updated atomically by the kernel).
pub const LIVE_MAP: &str = "KVLB_EP_LIVE";
/// Map name of the per-CPU total connection counts (a per-CPU array of `u64`
/// indexed by endpoint id).
pub const CONNS_MAP: &str = "KVLB_EP_CONNS";
/// Capacity: endpoint ids are `0..MAX_ENDPOINTS`.
pub const MAX_ENDPOINTS: u32 = 16384;

/// Flag: the endpoint answers and may get new connections.
pub const FLAG_READY: u16 = 1 << 0;
/// Flag: the endpoint is leaving; established connections stay, new ones go
/// elsewhere.
pub const FLAG_DRAINING: u16 = 1 << 1;
/// Flag: at the last scrape round the endpoint was saturated (its waiting
/// queue or KV-cache usage at the pool's saturation limits). The proxy's
/// prefix affinity and sessions yield there; the kernel ignores it.
pub const FLAG_SATURATED: u16 = 1 << 2;

/// Value of `KVLB_ENDPOINTS`, keyed by endpoint id (`u32`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Address words, network order; IPv4 is v4-mapped.
    pub addr: [u32; 4],
    /// Port, network order.
    pub port: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Static weight from configuration, at least 1.
    pub weight: u32,
    /// Pool this endpoint belongs to.
    pub pool_id: u32,
    /// Load cost from the last scrape rounds, indexed by the pool's
    /// generation parity; lower is better.
    pub scores: [u32; 2],
    /// Explicit padding, always zero.
    pub _pad: u32,
}

impl Endpoint {
    /// Whether the kernel may send a new connection here.
    pub const fn is_eligible(&self) -> bool {
        self.flags & FLAG_READY != 0 && self.flags & FLAG_DRAINING == 0
    }
}
