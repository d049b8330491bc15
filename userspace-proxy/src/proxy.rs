//! One request, start to end: route by path, read and check the body, pick
//! the pool by model, admit by priority, rank the pool's endpoints, forward
//! with bounded retries, stream the answer back.

use std::{
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use lru::LruCache;
use serde_json::json;

use crate::{
    admission,
    body::{self, ProxyBody},
    error::ApiError,
    inflight::Inflight,
    metrics::{Metrics, RequestRecord},
    picker::{self, Penalties, PickContext},
    prefix::{self, PrefixIndex},
    request::{self, Api},
    routes::{Routes, SharedRoutes},
    scores::SharedScores,
    tap::Tap,
    upstream::{self, AttemptError, Upstreams},
};

/// Settings of request handling.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest request body read.
    pub max_body_bytes: usize,
    /// Further endpoints tried after a failure before the first byte.
    pub retries: usize,
    /// How long a failed endpoint ranks last.
    pub failure_penalty: Duration,
    /// The header that pins a session to an endpoint, if any.
    pub session_header: Option<header::HeaderName>,
    /// Prefix blocks the index remembers.
    pub prefix_blocks: NonZeroUsize,
    /// Sessions remembered.
    pub sessions: NonZeroUsize,
}

/// The proxy's shared state.
pub struct Proxy {
    routes: SharedRoutes,
    scores: SharedScores,
    upstreams: Upstreams,
    inflight: Inflight,
    penalties: Penalties,
    prefixes: PrefixIndex,
    sessions: Mutex<LruCache<String, u32>>,
    /// Metrics, also served by the metrics listener.
    pub metrics: Arc<Metrics>,
    settings: Settings,
}

impl Proxy {
    /// A proxy over `routes` and `scores`, forwarding through `upstreams`.
    pub fn new(routes: SharedRoutes, scores: SharedScores, upstreams: Upstreams, settings: Settings) -> Self {
        Self {
            routes,
            scores,
            upstreams,
            inflight: Inflight::default(),
            penalties: Penalties::default(),
            prefixes: PrefixIndex::new(settings.prefix_blocks),
            sessions: Mutex::new(LruCache::new(settings.sessions)),
            metrics: Arc::new(Metrics::default()),
            settings,
        }
    }

    /// Answers one request.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Response<ProxyBody>, std::convert::Infallible> {
        let path = req.uri().path().to_owned();
        let response = match (req.method(), Api::from_path(&path)) {
            (&Method::POST, Some(api)) => self.forward(api, req).await.unwrap_or_else(ApiError::into_response),
            (_, Some(_)) => ApiError::method_not_allowed(req.method()).into_response(),
            (&Method::GET, None) if path == "/v1/models" => self.models(),
            (&Method::GET, None) if path == "/health" => json_response(StatusCode::OK, json!({ "status": "ok" })),
            _ => ApiError::not_found(&path).into_response(),
        };
        Ok(response)
    }

    /// `/v1/models`: every model and adapter of every pool.
    fn models(&self) -> Response<ProxyBody> {
        let routes = self.routes.get();
        let data: Vec<_> = routes
            .model_names()
            .into_iter()
            .map(|m| json!({ "id": m, "object": "model", "created": 0, "owned_by": "kvlb" }))
            .collect();
        json_response(StatusCode::OK, json!({ "object": "list", "data": data }))
    }

    async fn forward(&self, api: Api, req: Request<Incoming>) -> Result<Response<ProxyBody>, ApiError> {
        let started = Instant::now();
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.trim_start().starts_with("application/json") {
            return Err(ApiError::unsupported_media_type(content_type));
        }
        let (head, incoming) = req.into_parts();
        let bytes = body::read_limited(incoming, self.settings.max_body_bytes).await?;
        let fields = request::parse(api, &bytes)?;
        let routes = self.routes.get();
        let Some(pool) = routes.pool_for(&fields.model) else {
            self.metrics.answered(&fields.model, "-", 404);
            return Err(ApiError::unknown_model(&fields.model));
        };
        let name = pool.spec.name.clone();
        let snapshot = self.scores.get();

        let objective = head.headers.get(admission::OBJECTIVE_HEADER).and_then(|v| v.to_str().ok());
        let priority = admission::priority(objective, &routes.objectives);
        if !admission::admit(priority, snapshot.saturation.get(&pool.ids.pool_id).copied()) {
            let objective = objective.unwrap_or("-");
            self.metrics.shed(&name, objective);
            self.metrics.answered(&fields.model, &name, 429);
            return Err(ApiError::shed(objective, admission::RETRY_AFTER_SECS));
        }

        let hashes = prefix::block_hashes(&fields.model, fields.prompt.as_bytes());
        let matches = self.prefixes.matches(&hashes);
        let session = self.session_key(&head.headers);
        let pinned = session.as_ref().and_then(|s| self.sessions.lock().expect("sessions lock").get(s).copied());
        let ctx = PickContext {
            snapshot: &snapshot,
            inflight: &self.inflight,
            penalties: &self.penalties,
            conn_cost: f64::from(pool.spec.scoring.weights.conn_cost()),
            matches: &matches,
            session: pinned,
        };
        let ranked = picker::rank(&Routes::upstreams(pool), &ctx);
        if ranked.is_empty() {
            self.metrics.answered(&fields.model, &name, 503);
            return Err(ApiError::no_endpoint(&name));
        }

        let (model, streaming) = (fields.model.into_owned(), fields.stream);
        let mut last_failure = None;
        for (attempt, upstream) in ranked.iter().take(self.settings.retries + 1).enumerate() {
            if attempt > 0 {
                self.metrics.retried(&name);
            }
            let slot = self.inflight.start(upstream.id);
            match self.upstreams.send(upstream.addr, &head, bytes.clone()).await {
                Ok(response) if !response.status().is_server_error() => {
                    self.prefixes.record(&hashes, upstream.id);
                    if let Some(s) = &session {
                        self.sessions.lock().expect("sessions lock").put(s.clone(), upstream.id);
                    }
                    let record = RequestRecord::start(self.metrics.clone(), &model, &name, &upstream.addr.to_string(), response.status().as_u16());
                    let (mut parts, incoming) = response.into_parts();
                    parts.headers = upstream::end_to_end(&parts.headers);
                    let tap = Tap::new(incoming, streaming, started, record, slot);
                    return Ok(Response::from_parts(parts, tap.boxed()));
                }
                Ok(response) => {
                    tracing::warn!(pool = %name, endpoint = %upstream.addr, status = %response.status(), "endpoint failed; trying another");
                    self.penalties.penalize(upstream.id, self.settings.failure_penalty);
                    last_failure = Some(Failure::Status(response));
                }
                Err(e) => {
                    tracing::warn!(pool = %name, endpoint = %upstream.addr, "endpoint failed: {e}; trying another");
                    self.penalties.penalize(upstream.id, self.settings.failure_penalty);
                    last_failure = Some(Failure::Attempt(e));
                }
            }
        }
        match last_failure {
            Some(Failure::Status(response)) => {
                // Every attempt answered 5xx: the last answer goes to the client.
                self.metrics.answered(&model, &name, response.status().as_u16());
                let (parts, incoming) = response.into_parts();
                Ok(Response::from_parts(parts, incoming.map_err(Into::into).boxed()))
            }
            Some(Failure::Attempt(AttemptError::Timeout(d))) => {
                self.metrics.answered(&model, &name, 504);
                Err(ApiError::timeout(format!("no endpoint of pool {name} answered within {d:?}")))
            }
            Some(Failure::Attempt(e)) => {
                self.metrics.answered(&model, &name, 502);
                Err(ApiError::upstream(format!("every endpoint tried in pool {name} failed; last: {e}")))
            }
            None => Err(ApiError::no_endpoint(&name)),
        }
    }

    fn session_key(&self, headers: &http::HeaderMap) -> Option<String> {
        let name = self.settings.session_header.as_ref()?;
        headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Sets the in-flight gauges, then encodes every metric.
    pub fn encode_metrics(&self) -> String {
        let routes = self.routes.get();
        for pool in &routes.pools {
            for u in Routes::upstreams(pool) {
                self.metrics.set_inflight(&pool.spec.name, u.addr.to_string(), self.inflight.get(u.id));
            }
        }
        self.metrics.encode()
    }
}

/// How the last attempt failed.
enum Failure {
    Status(Response<Incoming>),
    Attempt(AttemptError),
}

fn json_response(status: StatusCode, value: serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(body::full(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
