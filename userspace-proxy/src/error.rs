//! Errors in OpenAI's JSON format: `{"error": {"message", "type", "param",
//! "code"}}` with the matching HTTP status.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::body::ProxyBody;

/// A request the proxy answers itself, with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// OpenAI's error `type`.
    pub kind: &'static str,
    /// OpenAI's error `code`.
    pub code: &'static str,
    /// The field at fault, if any.
    pub param: Option<&'static str>,
    /// What went wrong.
    pub message: String,
    /// Seconds after which a retry may succeed (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, code, param: None, message: message.into(), retry_after: None }
    }

    /// 400: the body is not what the endpoint takes.
    pub fn bad_request(param: Option<&'static str>, message: impl Into<String>) -> Self {
        Self { param, ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message) }
    }

    /// 404: no pool serves the model.
    pub fn unknown_model(model: &str) -> Self {
        Self {
            param: Some("model"),
            ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "model_not_found", format!("The model `{model}` does not exist"))
        }
    }

    /// 404: no such path.
    pub fn not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", "not_found", format!("no route for {path}"))
    }

    /// 405: wrong method.
    pub fn method_not_allowed(method: &http::Method) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request_error", "method_not_allowed", format!("{method} is not allowed here"))
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "request_too_large", format!("the request body is larger than {limit} bytes"))
    }

    /// 415: not JSON.
    pub fn unsupported_media_type(got: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "unsupported_media_type",
            format!("content-type must be application/json, got {got:?}"),
        )
    }

    /// 429: shed by admission while the pool is saturated.
    pub fn shed(objective: &str, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "pool_saturated",
                format!("the pool is saturated; sheddable objective {objective:?} was not admitted"),
            )
        }
    }

    /// 503: no endpoint can take the request.
    pub fn no_endpoint(pool: &str) -> Self {
        Self { retry_after: Some(1), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", "no_endpoint", format!("pool {pool} has no ready endpoint")) }
    }

    /// 503: none of the endpoints a subset hint allows can take the request.
    pub fn no_endpoint_in_subset(pool: &str, subset: &[std::net::SocketAddr]) -> Self {
        let listed: Vec<String> = subset.iter().map(ToString::to_string).collect();
        Self {
            message: format!("pool {pool} has no ready endpoint among the {} the gateway allows [{}]", subset.len(), listed.join(", ")),
            ..Self::no_endpoint(pool)
        }
    }

    /// 500: the gateway sends requests in a way the Endpoint Picker cannot
    /// answer (a configuration error on the gateway's side).
    pub fn gateway_misconfigured(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "gateway_misconfigured", message)
    }

    /// 502: every attempt upstream failed.
    pub fn upstream(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "api_error", "upstream_failed", message)
    }

    /// 504: upstream did not answer in time.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "api_error", "upstream_timeout", message)
    }

    /// The JSON body.
    pub fn body(&self) -> Bytes {
        let v = json!({ "error": { "message": self.message, "type": self.kind, "param": self.param, "code": self.code } });
        Bytes::from(v.to_string())
    }

    /// The full response.
    pub fn into_response(self) -> Response<ProxyBody> {
        let mut response = Response::new(crate::body::full(self.body()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
