//! `KVLB_VIPS`: which destinations are pool virtual addresses.

/// Map name, also its pin file name.
pub const MAP: &str = "KVLB_VIPS";
/// Capacity: the number of VIPs one node can serve.
pub const MAX_VIPS: u32 = 8192;

/// Key: a VIP's address and port as `connect()` sees them.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VipKey {
    /// Address words, network order; IPv4 is v4-mapped (see [`crate::addr`]).
    pub addr: [u32; 4],
    /// Port, network order.
    pub port: u16,
    /// Explicit padding, always zero.
    pub _pad: u16,
}

impl VipKey {
    /// Builds a key from stored address words and a network-order port.
    pub const fn new(addr: [u32; 4], port_be: u16) -> Self {
        Self { addr, port: port_be, _pad: 0 }
    }
}

/// Value: the pool behind a VIP.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vip {
    /// Index of the pool in `KVLB_POOLS` and `KVLB_SLOTS`.
    pub pool_id: u32,
    /// Reserved for per-VIP behaviour, always zero today.
    pub flags: u32,
}
