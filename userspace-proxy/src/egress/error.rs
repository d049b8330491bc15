//! A provider's failure as the client sees it: OpenAI's error format with a
//! matching status (401, 403, 404 and 429 kept, with Retry-After; 529
//! overloaded → 503; other 5xx → 502), the provider's message with the key
//! redacted, and whether the chain moves on to its next target.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use super::secret::Secret;
use crate::error::ApiError;

/// Anthropic's status for an overloaded API.
const OVERLOADED: u16 = 529;

/// A failed provider call.
#[derive(Debug)]
pub struct Failure {
    /// What the client gets if no later target answers.
    pub error: ApiError,
    /// Whether a later target of the chain is tried (not for the client's
    /// own mistakes, which every target would refuse).
    pub fall_back: bool,
}

impl Failure {
    /// A request this provider cannot take (another target may).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self { error: ApiError::bad_request(None, message), fall_back: true }
    }

    /// A request no target can take.
    pub fn invalid(error: ApiError) -> Self {
        Self { error, fall_back: false }
    }

    /// No HTTP answer: connect or TLS failure, or the connection broke.
    pub fn transport(provider: &str, message: &str) -> Self {
        let error = api_error(StatusCode::BAD_GATEWAY, "api_error", "provider_unreachable", format!("provider {provider}: {message}"));
        Self { error, fall_back: true }
    }

    /// No response headers in time.
    pub fn timeout(provider: &str, after: Duration) -> Self {
        let error = api_error(StatusCode::GATEWAY_TIMEOUT, "api_error", "upstream_timeout", format!("provider {provider} did not answer within {after:?}"));
        Self { error, fall_back: true }
    }

    /// The provider's key cannot be read (the proxy's log says why).
    pub fn no_key(provider: &str) -> Self {
        let error = api_error(StatusCode::BAD_GATEWAY, "api_error", "provider_misconfigured", format!("provider {provider} has no usable API key"));
        Self { error, fall_back: true }
    }

    /// A success reply that is not what the provider's API promises (not
    /// sent on: the provider has done, and billed, the work).
    pub fn malformed(provider: &str, problem: &str) -> Self {
        let error = api_error(StatusCode::BAD_GATEWAY, "api_error", "provider_bad_response", format!("provider {provider} sent a malformed reply: {problem}"));
        Self { error, fall_back: false }
    }

    /// An HTTP error from the provider.
    pub fn status(provider: &str, status: StatusCode, retry_after: Option<Duration>, body: &[u8], key: Option<&Secret>) -> Self {
        let (to, kind, code, fall_back) = match status.as_u16() {
            400 | 422 => (StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", false),
            413 => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request_error", "request_too_large", false),
            401 => (StatusCode::UNAUTHORIZED, "authentication_error", "provider_authentication_failed", true),
            403 => (StatusCode::FORBIDDEN, "permission_error", "provider_permission_denied", true),
            404 => (StatusCode::NOT_FOUND, "invalid_request_error", "provider_not_found", true),
            429 => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "rate_limit_exceeded", true),
            OVERLOADED => (StatusCode::SERVICE_UNAVAILABLE, "overloaded_error", "provider_overloaded", true),
            // Redirects are never followed: they could carry the key elsewhere.
            300..=399 => (StatusCode::BAD_GATEWAY, "api_error", "provider_redirect", true),
            s if s >= 500 => (StatusCode::BAD_GATEWAY, "api_error", "provider_error", true),
            _ => (status, "invalid_request_error", "provider_error", true),
        };
        let said = provider_message(body).unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
        let said = match key {
            Some(key) => key.redact(&said),
            None => said,
        };
        let mut error = api_error(to, kind, code, format!("provider {provider} answered {}: {said}", status.as_u16()));
        if matches!(to.as_u16(), 429 | 503) {
            error.retry_after = retry_after.map(|d| d.as_secs().max(1));
        }
        Self { error, fall_back }
    }
}

fn api_error(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> ApiError {
    ApiError { status, kind, code, param: None, message, retry_after: None }
}

/// The message of an OpenAI (`{"error": {"message"}}`) or Anthropic
/// (`{"type": "error", "error": {"type", "message"}}`) error body.
fn provider_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Envelope {
        error: Detail,
    }
    #[derive(Deserialize)]
    struct Detail {
        message: String,
    }
    let message = serde_json::from_slice::<Envelope>(body).ok()?.error.message;
    // Bounded: the message goes into logs and a client's error.
    Some(message.chars().take(500).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_openai_errors_and_keys_are_redacted() {
        let key = Secret::new("sk-ant-xyz".into());
        let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-xyz"}}"#;
        let f = Failure::status("claude", StatusCode::UNAUTHORIZED, None, body, Some(&key));
        assert_eq!((f.error.status.as_u16(), f.error.kind, f.fall_back), (401, "authentication_error", true));
        assert_eq!(f.error.message, "provider claude answered 401: invalid x-api-key [redacted]");
        let f = Failure::status("claude", StatusCode::TOO_MANY_REQUESTS, Some(Duration::from_secs(7)), b"", None);
        assert_eq!((f.error.status.as_u16(), f.error.retry_after), (429, Some(7)));
        let f = Failure::status("claude", StatusCode::from_u16(529).unwrap(), None, b"{}", None);
        assert_eq!((f.error.status.as_u16(), f.error.kind), (503, "overloaded_error"));
        let f = Failure::status("claude", StatusCode::SERVICE_UNAVAILABLE, Some(Duration::from_secs(3)), b"<html>", None);
        assert_eq!((f.error.status.as_u16(), f.error.retry_after), (502, None));
        let f = Failure::status("o", StatusCode::BAD_REQUEST, None, br#"{"error":{"message":"bad"}}"#, None);
        assert_eq!((f.error.status.as_u16(), f.fall_back), (400, false));
    }
}
