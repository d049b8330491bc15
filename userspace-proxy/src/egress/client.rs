//! Sending a request to a provider: a rustls HTTPS client (webpki roots)
//! that never follows redirects (a redirect could carry the key to another
//! host) and ignores proxy variables; per-provider timeouts; retries on
//! 429, 408, 5xx, connect failures and timeouts, honouring Retry-After,
//! bounded by a count and by the total time spent waiting.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode, header::RETRY_AFTER};
use kvlb_agent::egress::ProviderSpec;

use super::{error::Failure, metrics::ProviderMetrics, secret::Secret};

/// The most of an error body read (for its message).
const MAX_ERROR_BODY: usize = 64 << 10;
/// The longest Retry-After honoured; anything longer ends the retries.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// First backoff without Retry-After; doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// One request to send.
pub struct Call<'a> {
    /// The provider.
    pub provider: &'a ProviderSpec,
    /// The client's model name (for metrics).
    pub model: &'a str,
    /// The full URL: the configured base and a fixed path.
    pub url: String,
    /// Headers, credentials included (marked sensitive).
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Bytes,
    /// The key, to redact from the provider's error messages.
    pub key: Option<&'a Secret>,
}

/// The connection pool to every provider.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("kvlb-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the rustls client with bundled roots always builds");
        Self { http }
    }
}

impl Client {
    /// Sends `call`, retrying as the provider allows; returns the first 2xx
    /// response (its body unread), or the last failure.
    pub async fn send(&self, call: &Call<'_>, metrics: &ProviderMetrics) -> Result<reqwest::Response, Failure> {
        let provider = call.provider;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            let sent = self.http.post(&call.url).headers(call.headers.clone()).body(call.body.clone()).send();
            let (failure, retry_after, retryable) = match tokio::time::timeout(provider.timeout, sent).await {
                Err(_) => {
                    metrics.attempt(call.model, &provider.name, "error");
                    (Failure::timeout(&provider.name, provider.timeout), None, true)
                }
                Ok(Err(e)) => {
                    metrics.attempt(call.model, &provider.name, "error");
                    (Failure::transport(&provider.name, &describe(&e)), None, true)
                }
                Ok(Ok(response)) => {
                    let status = response.status();
                    metrics.attempt(call.model, &provider.name, status.as_str());
                    if status.is_success() {
                        return Ok(response);
                    }
                    let retry_after = retry_after(response.headers());
                    let body = read_bounded(response, MAX_ERROR_BODY, provider.timeout).await;
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT || status.is_server_error();
                    (Failure::status(&provider.name, status, retry_after, &body, call.key), retry_after, retryable)
                }
            };
            if !retryable || attempt >= provider.retries {
                return Err(failure);
            }
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            if waited + wait > provider.retry_budget {
                return Err(failure);
            }
            tracing::warn!(provider = %provider.name, attempt = attempt + 1, wait = ?wait, "{}; retrying", failure.error.message);
            tokio::time::sleep(wait).await;
            waited += wait;
            attempt += 1;
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF.saturating_mul(1 << attempt.min(8)).min(MAX_BACKOFF)
}

/// A transport error with its causes (no key is in any of them: the URL
/// carries none, and headers are not part of errors).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// When to retry: `retry-after-ms` (OpenAI), else `retry-after` in seconds
/// or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let after = if let Some(ms) = text("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        Duration::try_from_secs_f64(ms / 1000.0).ok()?
    } else {
        let v = text(RETRY_AFTER.as_str())?;
        match v.parse::<f64>() {
            Ok(secs) => Duration::try_from_secs_f64(secs).ok()?,
            Err(_) => httpdate::parse_http_date(v).ok()?.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO),
        }
    };
    Some(after.min(MAX_RETRY_AFTER))
}

/// A whole body of at most `limit` bytes, read within `timeout`.
pub async fn read_all(mut response: reqwest::Response, limit: usize, timeout: Duration) -> Result<Bytes, String> {
    let read = async {
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("the reply broke off: {e}"))? {
            if body.len() + chunk.len() > limit {
                return Err(format!("the reply is larger than {limit} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| format!("the reply was not complete within {timeout:?}"))?
}

/// Up to `limit` bytes of a body, within `timeout`; what arrived by then.
pub async fn read_bounded(mut response: reqwest::Response, limit: usize, timeout: Duration) -> Vec<u8> {
    let mut body = Vec::new();
    let read = async {
        while let Ok(Some(chunk)) = response.chunk().await {
            body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]);
            if body.len() >= limit {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(timeout, read).await;
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_milliseconds_seconds_and_dates() {
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        assert_eq!(retry_after(&h(&[("retry-after", "3")])), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&h(&[("retry-after", "1"), ("retry-after-ms", "250")])), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&h(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])), Some(Duration::ZERO));
        assert_eq!(retry_after(&h(&[("retry-after", "99999999")])), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after(&h(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
        assert_eq!((backoff(0), backoff(1), backoff(9)), (FIRST_BACKOFF, FIRST_BACKOFF * 2, MAX_BACKOFF));
    }
}
