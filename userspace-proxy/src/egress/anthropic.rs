//! Anthropic providers: the Messages API (`POST {base_url}/v1/messages`,
//! `x-api-key`, `anthropic-version`), with chat completions translated both
//! ways.

pub mod request;
pub mod response;
pub mod stream;
pub mod types;

use http::{HeaderMap, HeaderValue, header};

use super::secret::Secret;

/// The API version sent (the only stable one).
pub const VERSION: &str = "2023-06-01";

/// The request headers: the key (marked sensitive, so it never prints),
/// the version, and the client's `anthropic-beta` if it sent one.
pub fn headers(key: &Secret, client: &HeaderMap) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
    let mut headers = HeaderMap::new();
    let mut value = HeaderValue::from_str(key.expose())?;
    value.set_sensitive(true);
    headers.insert("x-api-key", value);
    headers.insert("anthropic-version", HeaderValue::from_static(VERSION));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(beta) = client.get("anthropic-beta") {
        headers.insert("anthropic-beta", beta.clone());
    }
    Ok(headers)
}
