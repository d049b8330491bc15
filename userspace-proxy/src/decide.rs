//! The decision the HTTP proxy and the Endpoint Picker share: the request's
//! model picks the pool, its objective is admitted or shed, and the pool's
//! endpoints (only those of a subset, when the caller names one) are ranked
//! by load, prefix affinity and session. Callers then report which endpoint
//! served or failed, so the prefix index, the sessions and the penalties
//! learn from every request whichever front end carried it.

use std::{
    net::SocketAddr,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{HeaderMap, header::HeaderName};
use lru::LruCache;

use crate::{
    admission,
    error::ApiError,
    inflight::{Inflight, InflightGuard},
    metrics::Metrics,
    picker::{self, Penalties, PickContext},
    prefix::{self, PrefixIndex},
    routes::{Routes, SharedRoutes, Upstream},
    scores::SharedScores,
};

/// Settings of the decision.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a failed endpoint ranks last.
    pub failure_penalty: Duration,
    /// The header that pins a session to an endpoint, if any.
    pub session_header: Option<HeaderName>,
    /// Prefix blocks the index remembers.
    pub prefix_blocks: NonZeroUsize,
    /// Sessions remembered.
    pub sessions: NonZeroUsize,
}

/// What a decision reads from one request.
pub struct Ask<'a> {
    /// The body's `model`; `None` for a request without a body, which only a
    /// node serving a single pool can place.
    pub model: Option<&'a str>,
    /// The prompt bytes prefix affinity hashes.
    pub prompt: &'a [u8],
    /// The request headers (objective, session).
    pub headers: &'a HeaderMap,
    /// The only endpoints allowed, when the caller restricts them.
    pub subset: Option<&'a [SocketAddr]>,
}

/// The outcome: the pool and its eligible endpoints, best first (never
/// empty).
#[derive(Debug)]
pub struct Decision {
    /// The model, for metrics (`-` without a body).
    pub model: String,
    /// The pool's name.
    pub pool: String,
    /// Eligible endpoints, best first.
    pub ranked: Vec<Upstream>,
    hashes: Vec<u64>,
    session: Option<String>,
}

/// The shared decision state: routing table, scores, in-flight counts,
/// penalties, prefix index and sessions.
pub struct Decider {
    routes: SharedRoutes,
    scores: SharedScores,
    inflight: Inflight,
    penalties: Penalties,
    prefixes: PrefixIndex,
    sessions: Mutex<LruCache<String, u32>>,
    /// Metrics, also served by the metrics listener.
    pub metrics: Arc<Metrics>,
    settings: Settings,
}

impl Decider {
    /// A decider over `routes` and `scores`.
    pub fn new(routes: SharedRoutes, scores: SharedScores, settings: Settings) -> Self {
        Self {
            routes,
            scores,
            inflight: Inflight::default(),
            penalties: Penalties::default(),
            prefixes: PrefixIndex::new(settings.prefix_blocks),
            sessions: Mutex::new(LruCache::new(settings.sessions)),
            metrics: Arc::new(Metrics::default()),
            settings,
        }
    }

    /// The routing table now.
    pub fn routes(&self) -> Arc<Routes> {
        self.routes.get()
    }

    /// Picks the pool, admits and ranks; errors are the answers the client
    /// gets (404 unknown model, 400 no model where one is needed, 429 shed,
    /// 503 no eligible endpoint), already counted.
    pub fn decide(&self, ask: &Ask<'_>) -> Result<Decision, ApiError> {
        let routes = self.routes.get();
        let model = ask.model.unwrap_or("-");
        let pool = match ask.model {
            Some(m) => routes.pool_for(m).ok_or_else(|| ApiError::unknown_model(m)),
            None => routes.only_pool().ok_or_else(|| {
                ApiError::bad_request(Some("model"), format!("a request without a body names no model, and {} pools are served here", routes.pools.len()))
            }),
        };
        let pool = pool.inspect_err(|e| self.metrics.answered(model, "-", e.status.as_u16()))?;
        let name = pool.spec.name.clone();
        let snapshot = self.scores.get();

        let objective = ask.headers.get(admission::OBJECTIVE_HEADER).and_then(|v| v.to_str().ok());
        let priority = admission::priority(objective, &routes.objectives);
        if !admission::admit(priority, snapshot.saturation.get(&pool.ids.pool_id).copied()) {
            let objective = objective.unwrap_or("-");
            self.metrics.shed(&name, objective);
            self.metrics.answered(model, &name, 429);
            return Err(ApiError::shed(objective, admission::RETRY_AFTER_SECS));
        }

        let hashes = prefix::block_hashes(model, ask.prompt);
        let matches = self.prefixes.matches(&hashes);
        let session = self.session_key(ask.headers);
        let pinned = session.as_ref().and_then(|s| self.sessions.lock().expect("sessions lock").get(s).copied());
        let ctx = PickContext {
            snapshot: &snapshot,
            inflight: &self.inflight,
            penalties: &self.penalties,
            conn_cost: f64::from(pool.spec.scoring.weights.conn_cost()),
            matches: &matches,
            session: pinned,
        };
        let upstreams = routes.upstreams(pool);
        let ranked = match ask.subset {
            Some(subset) => {
                let allowed: Vec<Upstream> = upstreams.iter().filter(|u| subset.contains(&u.addr)).copied().collect();
                picker::rank(&allowed, &ctx)
            }
            None => picker::rank(upstreams, &ctx),
        };
        if ranked.is_empty() {
            self.metrics.answered(model, &name, 503);
            return Err(match ask.subset {
                Some(subset) => ApiError::no_endpoint_in_subset(&name, subset),
                None => ApiError::no_endpoint(&name),
            });
        }
        Ok(Decision { model: model.to_owned(), pool: name, ranked, hashes, session })
    }

    /// Starts a request to `upstream`; the guard ends it.
    pub fn start(&self, upstream: &Upstream) -> InflightGuard {
        self.inflight.start(upstream.id)
    }

    /// `upstream` is serving the decided request: it now holds the prompt's
    /// prefix and the request's session.
    pub fn served(&self, decision: &Decision, upstream: &Upstream) {
        self.prefixes.record(&decision.hashes, upstream.id);
        if let Some(s) = &decision.session {
            self.sessions.lock().expect("sessions lock").put(s.clone(), upstream.id);
        }
    }

    /// `upstream` failed: it ranks last for a while.
    pub fn failed(&self, upstream: &Upstream) {
        self.penalties.penalize(upstream.id, self.settings.failure_penalty);
    }

    fn session_key(&self, headers: &HeaderMap) -> Option<String> {
        let name = self.settings.session_header.as_ref()?;
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Sets the in-flight and prefix-index gauges, then encodes every metric.
    pub fn encode_metrics(&self) -> String {
        self.metrics.set_prefix_blocks(self.prefixes.len());
        let routes = self.routes.get();
        for pool in &routes.pools {
            for u in routes.upstreams(pool) {
                self.metrics.set_inflight(&pool.spec.name, u.addr.to_string(), self.inflight.get(u.id));
            }
        }
        self.metrics.encode()
    }
}
