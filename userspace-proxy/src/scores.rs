//! The agent's live scores, read from the pinned maps (opened read-only): each endpoint's score
//! (when its pool's scores are fresh), its ready and draining flags, and each
//! pool's saturation. Refreshed on a short interval into a snapshot that
//! requests read without touching the kernel.

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::Context;
use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use kvlb_agent::reconcile::monotonic_ns;

use crate::routes::{Routes, SharedRoutes};
use kvlb_common::{
    endpoint::{self, Endpoint, FLAG_DRAINING, FLAG_READY, FLAG_SATURATED},
    pool::{self, Pool},
};

use crate::pin;

/// One endpoint, as the maps say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointState {
    /// The agent's score, when its pool's scores are fresh.
    pub score: Option<u32>,
    /// Scrapes answer.
    pub ready: bool,
    /// Leaving.
    pub draining: bool,
    /// Saturated at the agent's last scrape round (when its pool's scores
    /// are fresh).
    pub saturated: bool,
}

/// Everything requests read.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// By endpoint id.
    pub endpoints: HashMap<u32, EndpointState>,
    /// Saturation (1.0 = saturated) by pool id, when fresh.
    pub saturation: HashMap<u32, f64>,
}

impl Snapshot {
    /// An endpoint's state; unknown endpoints count as ready with no score.
    pub fn endpoint(&self, id: u32) -> EndpointState {
        self.endpoints.get(&id).copied().unwrap_or(EndpointState { score: None, ready: true, draining: false, saturated: false })
    }
}

/// The latest snapshot, shared.
#[derive(Clone, Default)]
pub struct SharedScores(Arc<RwLock<Arc<Snapshot>>>);

impl SharedScores {
    /// A shared snapshot starting as `snapshot`.
    pub fn new(snapshot: Snapshot) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(snapshot))))
    }

    /// The snapshot now.
    pub fn get(&self) -> Arc<Snapshot> {
        self.0.read().expect("scores lock").clone()
    }
}

struct Maps {
    endpoints: BpfHashMap<MapData, u32, Endpoint>,
    pools: BpfHashMap<MapData, u32, Pool>,
}

fn open(pin_dir: &Path) -> anyhow::Result<Maps> {
    let map = |name: &str| -> anyhow::Result<Map> {
        let path = pin_dir.join(name);
        Ok(Map::HashMap(pin::open_read_only(&path).with_context(|| format!("cannot open pinned map {} read-only (is kvlb-agent running?)", path.display()))?))
    };
    Ok(Maps { endpoints: map(endpoint::MAP)?.try_into()?, pools: map(pool::MAP)?.try_into()? })
}

/// Reads the pools and endpoints of `routes` by key (a few lookups, where
/// walking the maps would visit every bucket).
fn read(maps: &Maps, routes: &Routes) -> Snapshot {
    let now = monotonic_ns();
    let mut snapshot = Snapshot::default();
    for routed in &routes.pools {
        let pool_id = routed.ids.pool_id;
        let generation = match maps.pools.get(&pool_id, 0) {
            Ok(pool) if pool.staleness_ns > 0 && now.saturating_sub(pool.scores_updated_ns) <= pool.staleness_ns => {
                snapshot.saturation.insert(pool_id, f64::from(pool.saturation_ppm) / 1e6);
                Some(pool.generation)
            }
            _ => None,
        };
        for upstream in routes.upstreams(routed) {
            if let Ok(e) = maps.endpoints.get(&upstream.id, 0) {
                let score = generation.map(|g| e.scores[(g & 1) as usize]);
                let state = EndpointState {
                    score,
                    ready: e.flags & FLAG_READY != 0,
                    draining: e.flags & FLAG_DRAINING != 0,
                    saturated: generation.is_some() && e.flags & FLAG_SATURATED != 0,
                };
                snapshot.endpoints.insert(upstream.id, state);
            }
        }
    }
    snapshot
}

/// Opens the maps pinned in `pin_dir` and refreshes a snapshot of the
/// endpoints `routes` names every `interval`, on a thread of its own so
/// requests never wait behind the map reads.
pub fn watch(pin_dir: &Path, interval: Duration, routes: SharedRoutes) -> anyhow::Result<SharedScores> {
    let maps = open(pin_dir)?;
    let shared = SharedScores::new(read(&maps, &routes.get()));
    let scores = shared.clone();
    std::thread::Builder::new().name("kvlb-scores".into()).spawn(move || {
        loop {
            std::thread::sleep(interval);
            let snapshot = Arc::new(read(&maps, &routes.get()));
            *scores.0.write().expect("scores lock") = snapshot;
        }
    })?;
    Ok(shared)
}
