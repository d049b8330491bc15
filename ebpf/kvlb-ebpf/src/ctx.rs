//! Safe accessors over the raw kernel contexts. Every `unsafe` field access of
//! the programs lives here, one line each.

use aya_ebpf::{
    bindings::bpf_sock_addr,
    helpers::generated::{bpf_get_prandom_u32, bpf_get_socket_cookie, bpf_ktime_get_ns, bpf_set_retval},
    programs::SockAddrContext,
    EbpfContext,
};

/// `IPPROTO_TCP`.
const IPPROTO_TCP: u32 = 6;

/// The destination (connect) or peer (getpeername) address of a socket call.
pub struct SockAddr {
    raw: *mut bpf_sock_addr,
}

impl SockAddr {
    /// Wraps a `cgroup/connect*` or `cgroup/getpeername*` context.
    pub fn new(ctx: &SockAddrContext) -> Self {
        Self { raw: ctx.sock_addr }
    }

    /// Whether the socket is TCP.
    pub fn is_tcp(&self) -> bool {
        unsafe { (*self.raw).protocol == IPPROTO_TCP }
    }

    /// The IPv4 address, network order.
    pub fn ip4(&self) -> u32 {
        unsafe { (*self.raw).user_ip4 }
    }

    /// Sets the IPv4 address, network order.
    pub fn set_ip4(&self, ip: u32) {
        unsafe { (*self.raw).user_ip4 = ip }
    }

    /// The IPv6 address words, network order. Read one word at a time: the
    /// verifier rejects a wider or computed-offset load from the context
    /// ("dereference of modified ctx ptr").
    pub fn ip6(&self) -> [u32; 4] {
        unsafe {
            [
                (*self.raw).user_ip6[0],
                (*self.raw).user_ip6[1],
                (*self.raw).user_ip6[2],
                (*self.raw).user_ip6[3],
            ]
        }
    }

    /// Sets the IPv6 address words, network order.
    pub fn set_ip6(&self, ip: [u32; 4]) {
        unsafe {
            (*self.raw).user_ip6[0] = ip[0];
            (*self.raw).user_ip6[1] = ip[1];
            (*self.raw).user_ip6[2] = ip[2];
            (*self.raw).user_ip6[3] = ip[3];
        }
    }

    /// The port, network order (the low 16 bits of the 4-byte field).
    pub fn port(&self) -> u16 {
        unsafe { (*self.raw).user_port as u16 }
    }

    /// Sets the port, network order; the kernel only accepts a 4-byte store.
    pub fn set_port(&self, port: u16) {
        unsafe { (*self.raw).user_port = u32::from(port) }
    }
}

/// The socket cookie of any socket-bearing context: the key of `KVLB_SOCKS`.
pub fn socket_cookie<C: EbpfContext>(ctx: &C) -> u64 {
    unsafe { bpf_get_socket_cookie(ctx.as_ptr()) }
}

/// A pseudo-random number for the pick.
pub fn random() -> u32 {
    unsafe { bpf_get_prandom_u32() }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC, the clock userspace uses
/// for score timestamps).
pub fn now_ns() -> u64 {
    unsafe { bpf_ktime_get_ns() }
}

/// Makes the syscall the program is rejecting fail with `-errno` instead of
/// the default `EPERM`.
pub fn set_errno(errno: i32) {
    unsafe { bpf_set_retval(-errno) };
}
