//! Body types: what the proxy sends back (upstream bodies streamed through,
//! or its own small answers), and reading a request body once, bounded.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, combinators::BoxBody};
use hyper::body::Incoming;

use crate::error::ApiError;

/// Any error a response body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: streamed from upstream, or made here.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A body of fixed bytes.
pub fn full(bytes: Bytes) -> ProxyBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

/// Reads a request body whole, failing with 413 past `limit` bytes; reading
/// stops at the limit, so an oversized body costs at most `limit` bytes.
pub async fn read_limited(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(ApiError::too_large(limit)),
        Err(e) => Err(ApiError::bad_request(None, format!("could not read the request body: {e}"))),
    }
}
