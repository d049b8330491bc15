//! `KVLB_SOCKS`: per-socket memory of a redirect, for getpeername and for the
//! live-connection count.

use aya_ebpf::{macros::map, maps::LruHashMap};
use kvlb_common::sock::{BPF_F_NO_COMMON_LRU, FLAG_COUNTED, MAX_SOCKS, SockEntry};

#[map]
static KVLB_SOCKS: LruHashMap<u64, SockEntry> = LruHashMap::pinned(MAX_SOCKS, BPF_F_NO_COMMON_LRU);

/// Remembers that socket `cookie` was redirected.
#[inline(always)]
pub fn remember(cookie: u64, entry: &SockEntry) {
    // LRU: a full map evicts the oldest entry rather than failing.
    let _ = KVLB_SOCKS.insert(cookie, entry, 0);
}

/// The VIP a socket asked for, if it was redirected and is still connected
/// to the endpoint it got (`peer` is its current peer address and port).
#[inline(always)]
pub fn vip_of(cookie: u64, peer_addr: &[u32; 4], peer_port: u16) -> Option<([u32; 4], u16)> {
    let entry = unsafe { KVLB_SOCKS.get(cookie) }?;
    if entry.endpoint_addr == *peer_addr && entry.endpoint_port == peer_port {
        Some((entry.vip_addr, entry.vip_port))
    } else {
        None
    }
}

/// Marks a redirected socket as established; returns its endpoint the first
/// time (when it must be counted), `None` if unknown or already counted.
#[inline(always)]
pub fn established(cookie: u64) -> Option<u32> {
    let entry = KVLB_SOCKS.get_ptr_mut(cookie)?;
    // Callbacks for one socket run under its lock, so this check-and-set is
    // not racing another program run for the same socket.
    let entry = unsafe { &mut *entry };
    if entry.flags & FLAG_COUNTED != 0 {
        return None;
    }
    entry.flags |= FLAG_COUNTED;
    Some(entry.endpoint_id)
}

/// Marks a redirected socket as no longer live; returns its endpoint if it
/// was counted.
#[inline(always)]
pub fn closed(cookie: u64) -> Option<u32> {
    let entry = unsafe { &mut *KVLB_SOCKS.get_ptr_mut(cookie)? };
    if entry.flags & FLAG_COUNTED == 0 {
        return None;
    }
    entry.flags &= !FLAG_COUNTED;
    Some(entry.endpoint_id)
}

/// Forgets a released socket; returns its endpoint if it was still counted.
/// Most released sockets were never redirected: one lookup, no delete.
#[inline(always)]
pub fn released(cookie: u64) -> Option<u32> {
    let entry = unsafe { KVLB_SOCKS.get(cookie) }?;
    let counted = (entry.flags & FLAG_COUNTED != 0).then_some(entry.endpoint_id);
    let _ = KVLB_SOCKS.remove(cookie);
    counted
}
