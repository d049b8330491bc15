//! The connect-time pick: VIP → pool → two weighted random slots → the
//! endpoint with the lower cost.

use aya_ebpf::{macros::map, maps::HashMap};
use kvlb_common::{
    BPF_F_NO_PREALLOC,
    addr::is_v4_mapped,
    counters::Counter,
    endpoint::{Endpoint, MAX_ENDPOINTS},
    pool::{MAX_POOLS, MAX_SLOTS, Pool, Slots},
    vip::{MAX_VIPS, Vip, VipKey},
};

use crate::{conns, ctx, metrics};

#[map]
static KVLB_VIPS: HashMap<VipKey, Vip> = HashMap::pinned(MAX_VIPS, BPF_F_NO_PREALLOC);

#[map]
static KVLB_POOLS: HashMap<u32, Pool> = HashMap::pinned(MAX_POOLS, BPF_F_NO_PREALLOC);

#[map]
static KVLB_SLOTS: HashMap<u32, Slots> = HashMap::pinned(MAX_POOLS, BPF_F_NO_PREALLOC);

#[map]
static KVLB_ENDPOINTS: HashMap<u32, Endpoint> = HashMap::pinned(MAX_ENDPOINTS, BPF_F_NO_PREALLOC);

/// Random slot draws per pick: two candidates are compared, and a draw that
/// lands on an ineligible endpoint (marked not ready since the agent last
/// rebuilt the slot table) is replaced, up to this many draws in all.
const DRAWS: usize = 4;

/// The pool behind a VIP, if the destination is one.
#[inline(always)]
pub fn lookup_vip(key: &VipKey) -> Option<Vip> {
    unsafe { KVLB_VIPS.get(key) }.copied()
}

/// What a pick decided.
pub enum Pick {
    /// Send the connection to this endpoint.
    Endpoint { id: u32, addr: [u32; 4], port: u16 },
    /// No eligible endpoint; `pass` says whether to let the connect through
    /// unchanged (else refuse it).
    Empty { pass: bool },
}

/// Picks an endpoint of `pool_id` for a new connection. `v4` restricts the
/// pick to IPv4 endpoints (a `connect4` cannot be sent to an IPv6 address).
#[inline(always)]
pub fn pick(pool_id: u32, v4: bool) -> Pick {
    let Some(pool) = (unsafe { KVLB_POOLS.get(pool_id) }) else {
        return Pick::Empty { pass: false };
    };
    let empty = Pick::Empty { pass: pool.flags & kvlb_common::pool::FLAG_PASS_WHEN_EMPTY != 0 };
    let Some(slots) = (unsafe { KVLB_SLOTS.get(pool_id) }) else {
        return empty;
    };
    let count = slots.count as usize;
    if count == 0 || count > MAX_SLOTS {
        return empty;
    }
    let scores = score_slot(pool_id, pool);

    let mut best: Option<(u32, &Endpoint, u64)> = None;
    let mut compared = 0;
    for _ in 0..DRAWS {
        // Multiply-shift maps the random word onto 0..count (Lemire); unlike
        // `%`, the verifier can bound the result and so the slot index.
        let slot = ((u64::from(ctx::random()) * count as u64) >> 32) as usize;
        let Some(&id) = slots.endpoint_ids.get(slot) else {
            continue;
        };
        let Some(ep) = (unsafe { KVLB_ENDPOINTS.get(id) }) else {
            continue;
        };
        if !ep.is_eligible() || (v4 && !is_v4_mapped(&ep.addr)) {
            continue;
        }
        let cost = cost(id, ep, pool, scores);
        best = match best {
            Some((_, b, b_cost)) if !cheaper(cost, ep.weight, b_cost, b.weight) => best,
            _ => Some((id, ep, cost)),
        };
        compared += 1;
        if compared == 2 {
            break;
        }
    }
    match best {
        Some((id, ep, _)) => Pick::Endpoint { id, addr: ep.addr, port: ep.port },
        None => empty,
    }
}

/// Which score slot of the endpoint records is current, or `None` when the
/// pool has no scores or they are stale (then the pick uses live connections
/// only).
#[inline(always)]
fn score_slot(pool_id: u32, pool: &Pool) -> Option<usize> {
    if pool.staleness_ns == 0 {
        return None;
    }
    if ctx::now_ns().saturating_sub(pool.scores_updated_ns) > pool.staleness_ns {
        metrics::count(Counter::StaleFallbacks);
        metrics::count_pool(pool_id, |c| c.stale_fallbacks += 1);
        return None;
    }
    Some((pool.generation & 1) as usize)
}

/// Live connections counted into a cost, at most (keeps cost arithmetic in
/// 64 bits: BPF has no 128-bit multiply).
const MAX_LIVE: u64 = 1 << 20;
/// The largest cost; with weights below 2^16 a cost-times-weight product
/// stays below 2^56.
const MAX_COST: u64 = 1 << 40;
/// The largest weight the comparison honours (the agent rejects larger).
const MAX_WEIGHT: u32 = 0xffff;

/// An endpoint's cost: its score (when fresh) plus its live connections.
#[inline(always)]
fn cost(id: u32, ep: &Endpoint, pool: &Pool, scores: Option<usize>) -> u64 {
    let live = conns::live(id).min(MAX_LIVE);
    let cost = match scores {
        Some(slot) => u64::from(ep.scores[slot & 1]) + live * u64::from(pool.conn_cost),
        None => live,
    };
    cost.min(MAX_COST)
}

/// Whether cost `a` at weight `wa` beats cost `b` at weight `wb`, comparing
/// cost per unit of weight (`a / wa < b / wb`) without dividing. Ties keep the
/// earlier draw, so with equal costs the split follows the weighted slots.
#[inline(always)]
fn cheaper(a: u64, wa: u32, b: u64, wb: u32) -> bool {
    a * u64::from(wb.clamp(1, MAX_WEIGHT)) < b * u64::from(wa.clamp(1, MAX_WEIGHT))
}
