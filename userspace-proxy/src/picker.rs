//! The per-request endpoint choice inside a pool.
//!
//! ```text
//! base(e)   = agent score(e) (when fresh) + conn_cost × in-flight(e)
//! credit(e) = min(matched prefix blocks(e) × CREDIT_PER_BLOCK, MAX_CREDIT),
//!             or 0 when e is saturated
//! cost(e)   = (base(e) − credit(e)) / weight(e)
//! ```
//!
//! An endpoint is saturated when the agent's last scrape round found its
//! waiting queue or KV-cache usage at the pool's saturation limits (5
//! waiting, 80 % KV by default: GIE's saturation detector), not when it is
//! merely busy: a decoding batch is normal work, and a cached prefix is
//! worth most exactly when the cache is under pressure.
//!
//! Candidates are the pool's endpoints that are ready and not draining;
//! they are ranked by cost (ties in random order), endpoints that failed a
//! moment ago last. Affinity is a credit against load, so a cached prefix
//! wins while its endpoint is no busier than the credit is worth, and it
//! yields entirely once the endpoint is saturated. A session header pins a
//! session to its endpoint unless that endpoint is saturated or failing.
//! Units are the agent's: 1000 = one waiting request.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use rand::seq::SliceRandom;

use crate::{inflight::Inflight, routes::Upstream, scores::Snapshot};

/// Credit per matched 64-byte prefix block (about 16 tokens of prefill).
pub const CREDIT_PER_BLOCK: f64 = 40.0;
/// Most credit a prefix earns (ten waiting requests' worth).
pub const MAX_CREDIT: f64 = 10_000.0;

/// Endpoints that failed recently, ranked last until their penalty ends.
#[derive(Default)]
pub struct Penalties {
    until: Mutex<HashMap<u32, Instant>>,
}

impl Penalties {
    /// Ranks `id` last for `for_how_long`.
    pub fn penalize(&self, id: u32, for_how_long: Duration) {
        self.until.lock().expect("penalties lock").insert(id, Instant::now() + for_how_long);
    }

    fn active(&self, id: u32) -> bool {
        self.until.lock().expect("penalties lock").get(&id).is_some_and(|t| *t > Instant::now())
    }
}

/// What a pick considers besides the endpoints.
pub struct PickContext<'a> {
    /// Scores and flags from the maps.
    pub snapshot: &'a Snapshot,
    /// The proxy's in-flight counts.
    pub inflight: &'a Inflight,
    /// Recent failures.
    pub penalties: &'a Penalties,
    /// Score units one in-flight request adds (the pool's `conn_cost`).
    pub conn_cost: f64,
    /// Leading prefix blocks each endpoint served recently.
    pub matches: &'a HashMap<u32, usize>,
    /// The endpoint the request's session is pinned to, if any.
    pub session: Option<u32>,
}

/// Ranks a pool's eligible endpoints, best first; empty when none is ready.
pub fn rank(upstreams: &[Upstream], ctx: &PickContext<'_>) -> Vec<Upstream> {
    let mut ranked: Vec<(Upstream, bool, f64, bool)> = upstreams
        .iter()
        .filter_map(|u| {
            let state = ctx.snapshot.endpoint(u.id);
            if u.draining || state.draining || !state.ready {
                return None;
            }
            let base = f64::from(state.score.unwrap_or(0)) + ctx.conn_cost * ctx.inflight.get(u.id) as f64;
            let saturated = state.saturated;
            let blocks = ctx.matches.get(&u.id).copied().unwrap_or(0) as f64;
            let credit = if saturated { 0.0 } else { (blocks * CREDIT_PER_BLOCK).min(MAX_CREDIT) };
            let cost = (base - credit) / f64::from(u.weight.max(1));
            Some((*u, ctx.penalties.active(u.id), cost, saturated))
        })
        .collect();
    ranked.shuffle(&mut rand::rng());
    ranked.sort_by(|a, b| a.1.cmp(&b.1).then(a.2.total_cmp(&b.2)));
    if let Some(pos) = ctx.session.and_then(|s| ranked.iter().position(|(u, penalized, _, saturated)| u.id == s && !penalized && !saturated)) {
        let pinned = ranked.remove(pos);
        ranked.insert(0, pinned);
    }
    ranked.into_iter().map(|(u, ..)| u).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scores::EndpointState;

    fn upstream(id: u32) -> Upstream {
        Upstream { id, addr: format!("127.0.0.{}:1", id + 1).parse().unwrap(), weight: 1, draining: false }
    }

    fn snapshot(scores: &[(u32, u32, bool)]) -> Snapshot {
        Snapshot {
            endpoints: scores.iter().map(|&(id, s, ready)| (id, EndpointState { score: Some(s), ready, draining: false, saturated: false })).collect(),
            saturation: HashMap::new(),
        }
    }

    /// `snapshot`, with endpoint `id` saturated.
    fn saturate(mut snap: Snapshot, id: u32) -> Snapshot {
        snap.endpoints.get_mut(&id).expect("endpoint").saturated = true;
        snap
    }

    fn first(ups: &[Upstream], snap: &Snapshot, matches: &HashMap<u32, usize>, session: Option<u32>) -> u32 {
        let (inflight, penalties) = (Inflight::default(), Penalties::default());
        let ctx = PickContext { snapshot: snap, inflight: &inflight, penalties: &penalties, conn_cost: 500.0, matches, session };
        rank(ups, &ctx)[0].id
    }

    #[test]
    fn the_cheapest_ready_endpoint_wins() {
        let ups = [upstream(0), upstream(1), upstream(2)];
        let snap = snapshot(&[(0, 3000, true), (1, 1000, true), (2, 0, false)]);
        assert_eq!(first(&ups, &snap, &HashMap::new(), None), 1, "2 is not ready");
    }

    #[test]
    fn affinity_holds_against_load_and_yields_when_saturated() {
        let ups = [upstream(0), upstream(1)];
        let matches = HashMap::from([(0, 100)]);
        let busy = snapshot(&[(0, 2500, true), (1, 0, true)]);
        assert_eq!(first(&ups, &busy, &matches, None), 0, "4000 credit outweighs 2500 of load");
        let running_batch = snapshot(&[(0, 3900, true), (1, 0, true)]);
        assert_eq!(first(&ups, &running_batch, &matches, None), 0, "a busy endpoint that is not saturated keeps its prefix");
        assert_eq!(first(&ups, &saturate(busy, 0), &matches, None), 1);
        let overloaded = snapshot(&[(0, 4500, true), (1, 0, true)]);
        assert_eq!(first(&ups, &overloaded, &matches, None), 1, "load beyond the credit wins over affinity");
    }

    #[test]
    fn sessions_stick_unless_saturated_and_failures_go_last() {
        let ups = [upstream(0), upstream(1)];
        let snap = snapshot(&[(0, 2000, true), (1, 0, true)]);
        assert_eq!(first(&ups, &snap, &HashMap::new(), Some(0)), 0);
        assert_eq!(first(&ups, &saturate(snapshot(&[(0, 2000, true), (1, 0, true)]), 0), &HashMap::new(), Some(0)), 1);

        let (inflight, penalties) = (Inflight::default(), Penalties::default());
        penalties.penalize(1, Duration::from_secs(5));
        let ctx = PickContext { snapshot: &snap, inflight: &inflight, penalties: &penalties, conn_cost: 500.0, matches: &HashMap::new(), session: None };
        let order: Vec<u32> = rank(&ups, &ctx).iter().map(|u| u.id).collect();
        assert_eq!(order, vec![0, 1]);
    }

    #[test]
    fn in_flight_requests_spread_equal_endpoints() {
        let ups = [upstream(0), upstream(1)];
        let snap = snapshot(&[(0, 0, true), (1, 0, true)]);
        let (inflight, penalties) = (Inflight::default(), Penalties::default());
        let _busy = inflight.start(0);
        let ctx = PickContext { snapshot: &snap, inflight: &inflight, penalties: &penalties, conn_cost: 500.0, matches: &HashMap::new(), session: None };
        assert_eq!(rank(&ups, &ctx)[0].id, 1);
    }
}
