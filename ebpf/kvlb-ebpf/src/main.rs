//! kvlb's kernel programs. Entry points only: each maps a hook to the logic in
//! its module and never fails a syscall except by the documented no-endpoint
//! rule.
//!
//! - `cgroup/connect4`, `cgroup/connect6`: a connect to a pool VIP is rewritten
//!   to a picked endpoint ([`lb`]), and the socket remembered ([`sock`]).
//! - `cgroup/getpeername4`, `cgroup/getpeername6`: a redirected socket reports
//!   the VIP as its peer.
//! - `sockops`: counts live connections per endpoint ([`conns`]).
//! - `cgroup/sock_release`: forgets a socket and uncounts it if still live.
#![no_std]
#![no_main]
#![feature(core_intrinsics)]
#![expect(internal_features, reason = "atomic_xadd: see conns::add_live")]

mod conns;
mod ctx;
mod lb;
mod metrics;
mod sock;

use aya_ebpf::{
    bindings::{
        BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB, BPF_SOCK_OPS_STATE_CB, BPF_SOCK_OPS_STATE_CB_FLAG,
        BPF_TCP_CLOSE,
    },
    macros::{cgroup_sock, cgroup_sock_addr, sock_ops},
    programs::{SockAddrContext, SockContext, SockOpsContext},
};
use aya_log_ebpf::debug;
use kvlb_common::{
    addr::{is_v4_mapped, v4_mapped},
    counters::Counter,
    sock::SockEntry,
    vip::VipKey,
};

use crate::{ctx::SockAddr, lb::Pick};

/// Return value that lets the syscall proceed.
const PROCEED: i32 = 1;
/// Return value that fails the syscall (with the errno set by `ctx::set_errno`).
const REJECT: i32 = 0;
/// `ECONNREFUSED`: what a connect to a VIP with no eligible endpoint gets, the
/// same as a connect to an address where nothing listens.
const ECONNREFUSED: i32 = 111;

#[cgroup_sock_addr(connect4)]
pub fn kvlb_connect4(ctx: SockAddrContext) -> i32 {
    metrics::count(Counter::RunsConnect4);
    let sa = SockAddr::new(&ctx);
    if !sa.is_tcp() {
        return PROCEED;
    }
    let vip = VipKey::new(v4_mapped(sa.ip4()), sa.port());
    redirect(&ctx, &sa, vip, true)
}

#[cgroup_sock_addr(connect6)]
pub fn kvlb_connect6(ctx: SockAddrContext) -> i32 {
    metrics::count(Counter::RunsConnect6);
    let sa = SockAddr::new(&ctx);
    if !sa.is_tcp() {
        return PROCEED;
    }
    let vip = VipKey::new(sa.ip6(), sa.port());
    redirect(&ctx, &sa, vip, false)
}

/// The shared connect path: IPv4 destinations arrive v4-mapped from either hook.
#[inline(always)]
fn redirect(ctx: &SockAddrContext, sa: &SockAddr, vip: VipKey, from_connect4: bool) -> i32 {
    let Some(target) = lb::lookup_vip(&vip) else {
        return PROCEED;
    };
    match lb::pick(target.pool_id, from_connect4 || is_v4_mapped(&vip.addr)) {
        Pick::Endpoint { id, addr, port } => {
            if from_connect4 {
                sa.set_ip4(addr[3]);
            } else {
                sa.set_ip6(addr);
            }
            sa.set_port(port);
            sock::remember(
                ctx::socket_cookie(ctx),
                &SockEntry {
                    vip_addr: vip.addr,
                    vip_port: vip.port,
                    flags: 0,
                    endpoint_id: id,
                    endpoint_addr: addr,
                    endpoint_port: port,
                    _pad: 0,
                },
            );
            conns::redirected(id);
            metrics::count(Counter::Redirects);
            metrics::count_pool(target.pool_id, |c| c.redirects += 1);
            debug!(ctx, "kvlb: pool {} -> endpoint {}", target.pool_id, id);
            PROCEED
        }
        Pick::Empty { pass: true } => {
            metrics::count(Counter::NoEndpointPassed);
            metrics::count_pool(target.pool_id, |c| c.no_endpoint += 1);
            PROCEED
        }
        Pick::Empty { pass: false } => {
            metrics::count(Counter::NoEndpointRefused);
            metrics::count_pool(target.pool_id, |c| c.no_endpoint += 1);
            debug!(ctx, "kvlb: pool {} has no eligible endpoint", target.pool_id);
            ctx::set_errno(ECONNREFUSED);
            REJECT
        }
    }
}

#[cgroup_sock_addr(getpeername4)]
pub fn kvlb_getpeername4(ctx: SockAddrContext) -> i32 {
    metrics::count(Counter::RunsGetpeername4);
    let sa = SockAddr::new(&ctx);
    if let Some((vip_addr, vip_port)) =
        sock::vip_of(ctx::socket_cookie(&ctx), &v4_mapped(sa.ip4()), sa.port())
    {
        sa.set_ip4(vip_addr[3]);
        sa.set_port(vip_port);
    }
    PROCEED
}

#[cgroup_sock_addr(getpeername6)]
pub fn kvlb_getpeername6(ctx: SockAddrContext) -> i32 {
    metrics::count(Counter::RunsGetpeername6);
    let sa = SockAddr::new(&ctx);
    if let Some((vip_addr, vip_port)) = sock::vip_of(ctx::socket_cookie(&ctx), &sa.ip6(), sa.port())
    {
        sa.set_ip6(vip_addr);
        sa.set_port(vip_port);
    }
    PROCEED
}

#[sock_ops]
pub fn kvlb_sockops(ctx: SockOpsContext) -> u32 {
    metrics::count(Counter::RunsSockops);
    match ctx.op() {
        BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB => {
            if let Some(id) = sock::established(ctx::socket_cookie(&ctx)) {
                conns::opened(id);
                // Ask for state changes of this socket to see it close; keep
                // whatever callbacks another program asked for.
                let _ = ctx.set_cb_flags((ctx.cb_flags() | BPF_SOCK_OPS_STATE_CB_FLAG) as i32);
            }
        }
        BPF_SOCK_OPS_STATE_CB if ctx.arg(1) == BPF_TCP_CLOSE => {
            if let Some(id) = sock::closed(ctx::socket_cookie(&ctx)) {
                conns::closed(id);
            }
        }
        _ => {}
    }
    1
}

#[cgroup_sock(sock_release)]
pub fn kvlb_sock_release(ctx: SockContext) -> i32 {
    metrics::count(Counter::RunsSockRelease);
    if let Some(id) = sock::released(ctx::socket_cookie(&ctx)) {
        conns::closed(id);
    }
    PROCEED
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // Unreachable in a verified program: the verifier rejects any path that
    // could get here, because this loop never ends.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
