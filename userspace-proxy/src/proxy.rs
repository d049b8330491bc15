//! One HTTP request, start to end: route by path, read and check the body,
//! let the shared [decision](crate::decide) pick the pool, admit and rank,
//! forward with bounded retries, stream the answer back.

use std::{sync::Arc, time::Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use crate::{
    body::{self, ProxyBody},
    decide::{Ask, Decider},
    egress::Egress,
    error::ApiError,
    metrics::RequestRecord,
    request::{self, Api},
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
}

/// The proxy: the shared decision plus forwarding.
pub struct Proxy {
    decider: Arc<Decider>,
    upstreams: Upstreams,
    egress: Egress,
    settings: Settings,
}

impl Proxy {
    /// A proxy deciding with `decider`, forwarding through `upstreams`.
    pub fn new(decider: Arc<Decider>, upstreams: Upstreams, settings: Settings) -> Self {
        let egress = Egress::new(decider.metrics.providers.clone());
        Self { decider, upstreams, egress, settings }
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
        let routes = self.decider.routes();
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
        if let Some(response) = self.egress.route(&self.decider.routes().egress, api, &head.headers, &fields.model, &bytes).await {
            return Ok(response);
        }
        let decision = self.decider.decide(&Ask { model: Some(&fields.model), prompt: fields.prompt.as_bytes(), headers: &head.headers, subset: None })?;
        let (ranked, name, metrics) = (&decision.ranked, &decision.pool, &self.decider.metrics);

        let (model, streaming) = (&decision.model, fields.stream);
        let mut last_failure = None;
        for (attempt, upstream) in ranked.iter().take(self.settings.retries + 1).enumerate() {
            if attempt > 0 {
                metrics.retried(name);
            }
            let slot = self.decider.start(upstream);
            match self.upstreams.send(upstream.addr, &head, bytes.clone()).await {
                Ok(response) if !response.status().is_server_error() => {
                    self.decider.served(&decision, upstream);
                    let record = RequestRecord::start(metrics.clone(), model, name, &upstream.addr.to_string(), response.status().as_u16());
                    let (mut parts, incoming) = response.into_parts();
                    parts.headers = upstream::end_to_end(&parts.headers);
                    let tap = Tap::new(incoming, streaming, started, record, slot);
                    return Ok(Response::from_parts(parts, tap.boxed()));
                }
                Ok(response) => {
                    tracing::warn!(pool = %name, endpoint = %upstream.addr, status = %response.status(), "endpoint failed; trying another");
                    self.decider.failed(upstream);
                    last_failure = Some(Failure::Status(response));
                }
                Err(e) => {
                    tracing::warn!(pool = %name, endpoint = %upstream.addr, "endpoint failed: {e}; trying another");
                    self.decider.failed(upstream);
                    last_failure = Some(Failure::Attempt(e));
                }
            }
        }
        match last_failure {
            Some(Failure::Status(response)) => {
                // Every attempt answered 5xx: the last answer goes to the client.
                metrics.answered(model, name, response.status().as_u16());
                let (parts, incoming) = response.into_parts();
                Ok(Response::from_parts(parts, incoming.map_err(Into::into).boxed()))
            }
            Some(Failure::Attempt(AttemptError::Timeout(d))) => {
                metrics.answered(model, name, 504);
                Err(ApiError::timeout(format!("no endpoint of pool {name} answered within {d:?}")))
            }
            Some(Failure::Attempt(e)) => {
                metrics.answered(model, name, 502);
                Err(ApiError::upstream(format!("every endpoint tried in pool {name} failed; last: {e}")))
            }
            None => Err(ApiError::no_endpoint(name)),
        }
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
