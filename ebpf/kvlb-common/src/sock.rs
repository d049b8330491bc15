//! `KVLB_SOCKS`: what each redirected socket originally asked for.

/// Map name, also its pin file name. An LRU hash keyed by socket cookie (`u64`).
pub const MAP: &str = "KVLB_SOCKS";
/// Capacity: redirected sockets alive at once on the node.
pub const MAX_SOCKS: u32 = 262_144;

/// `BPF_F_NO_COMMON_LRU`: per-CPU LRU lists, so inserting from connect()
/// on one CPU never waits on another CPU's insert.
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;

/// Flag: this socket is counted in `KVLB_EP_LIVE`.
pub const FLAG_COUNTED: u16 = 1 << 0;

/// Value of `KVLB_SOCKS`: the VIP a socket connected to and the endpoint it got.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockEntry {
    /// The VIP's address words, network order; IPv4 is v4-mapped.
    pub vip_addr: [u32; 4],
    /// The VIP's port, network order.
    pub vip_port: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// The endpoint the connection was sent to.
    pub endpoint_id: u32,
    /// The endpoint's address words, network order, so a socket reconnected
    /// elsewhere is not mistaken for a redirected one.
    pub endpoint_addr: [u32; 4],
    /// The endpoint's port, network order.
    pub endpoint_port: u16,
    /// Explicit padding, always zero.
    pub _pad: u16,
}
