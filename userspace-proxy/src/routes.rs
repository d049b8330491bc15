//! The routing table: the agent's state file (pools with their models,
//! adapters, splits, endpoints and map ids; objectives), indexed by model,
//! and reloaded when the file changes.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

use kvlb_agent::state::{self, RoutedPool, RoutingState};
use rand::Rng;

/// One endpoint as the proxy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upstream {
    /// Its id in the maps (scores, flags).
    pub id: u32,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Static weight.
    pub weight: u32,
    /// Draining: no new requests.
    pub draining: bool,
}

/// The indexed table.
#[derive(Debug, Default)]
pub struct Routes {
    /// Pools, as applied.
    pub pools: Vec<RoutedPool>,
    /// Model or adapter name → pools serving it, with split weights.
    by_model: HashMap<String, Vec<(usize, u32)>>,
    /// Pool id → its endpoints (built once, read by every request).
    upstreams: HashMap<u32, Vec<Upstream>>,
    /// Objective → priority.
    pub objectives: HashMap<String, i32>,
    /// External providers and per-model chains.
    pub egress: kvlb_agent::egress::EgressTable,
}

impl Routes {
    /// Indexes a routing state.
    pub fn new(state: RoutingState) -> Self {
        let mut by_model: HashMap<String, Vec<(usize, u32)>> = HashMap::new();
        for (i, pool) in state.pools.iter().enumerate() {
            for name in pool.spec.models.iter().chain(&pool.spec.adapters) {
                by_model.entry(name.clone()).or_default().push((i, pool.spec.split_weight));
            }
        }
        let upstreams = state.pools.iter().map(|pool| (pool.ids.pool_id, endpoints(pool))).collect();
        Self { pools: state.pools, by_model, upstreams, objectives: state.objectives.into_iter().collect(), egress: state.egress }
    }

    /// A pool for `model`, by weighted random choice among the pools serving
    /// it (a canary split); `None` for an unknown model.
    pub fn pool_for(&self, model: &str) -> Option<&RoutedPool> {
        let pools = self.by_model.get(model)?;
        let total: u32 = pools.iter().map(|p| p.1).sum();
        let mut draw = rand::rng().random_range(0..total.max(1));
        for &(i, w) in pools {
            if draw < w {
                return self.pools.get(i);
            }
            draw -= w;
        }
        pools.last().and_then(|&(i, _)| self.pools.get(i))
    }

    /// The pool, when exactly one is served (where a request without a body
    /// goes).
    pub fn only_pool(&self) -> Option<&RoutedPool> {
        match self.pools.as_slice() {
            [pool] => Some(pool),
            _ => None,
        }
    }

    /// Every model and adapter name served, sorted.
    pub fn model_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_model.keys().map(String::as_str).chain(self.egress.model_names()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The endpoints of one of this table's pools.
    pub fn upstreams(&self, pool: &RoutedPool) -> &[Upstream] {
        self.upstreams.get(&pool.ids.pool_id).map_or(&[], Vec::as_slice)
    }
}

fn endpoints(pool: &RoutedPool) -> Vec<Upstream> {
    pool.spec
        .endpoints
        .iter()
        .zip(&pool.ids.endpoint_ids)
        .map(|(e, &id)| Upstream { id, addr: e.address, weight: e.weight, draining: e.draining })
        .collect()
}

/// The current table, shared by every request and swapped on reload.
#[derive(Clone)]
pub struct SharedRoutes(Arc<RwLock<Arc<Routes>>>);

impl SharedRoutes {
    /// A shared table starting as `routes`.
    pub fn new(routes: Routes) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(routes))))
    }

    /// The table now.
    pub fn get(&self) -> Arc<Routes> {
        self.0.read().expect("routes lock").clone()
    }

    fn set(&self, routes: Routes) {
        *self.0.write().expect("routes lock") = Arc::new(routes);
    }
}

/// Loads the state file and follows its changes (polled every `interval`);
/// a bad file is reported and the last good table stays.
pub fn watch(path: PathBuf, interval: Duration) -> anyhow::Result<SharedRoutes> {
    let shared = SharedRoutes::new(Routes::new(state::read(&path)?));
    let routes = shared.clone();
    tokio::spawn(async move {
        let mut last = std::fs::read(&path).ok();
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let now = std::fs::read(&path).ok();
            if now.is_some() && now != last {
                last = now;
                reload(&path, &routes);
            }
        }
    });
    Ok(shared)
}

fn reload(path: &Path, routes: &SharedRoutes) {
    match state::read(path) {
        Ok(state) => {
            tracing::info!(pools = state.pools.len(), "routing table reloaded");
            routes.set(Routes::new(state));
        }
        Err(e) => tracing::error!("keeping the previous routing table: {e:#}"),
    }
}
