//! Sending a request to an endpoint: the bytes received, the headers minus
//! hop-by-hop ones, over kept-alive connections, within a timeout for the
//! response headers.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// Why an attempt failed before any response byte.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// Could not connect, or the connection broke before the headers.
    #[error("{0}")]
    Connect(String),
    /// No response headers within the timeout.
    #[error("no response headers within {0:?}")]
    Timeout(Duration),
}

/// Headers that describe one hop, never forwarded.
const HOP_BY_HOP: [header::HeaderName; 8] = [
    header::CONNECTION,
    header::HOST,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Copies end-to-end headers (drops hop-by-hop ones, `keep-alive`, and
/// whatever `Connection` names).
pub fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|s| s.trim().to_ascii_lowercase()))
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if HOP_BY_HOP.contains(name) || name == "keep-alive" || named.iter().any(|n| n == name.as_str()) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The connection pool to every endpoint.
#[derive(Clone)]
pub struct Upstreams {
    client: Client<HttpConnector, Full<Bytes>>,
    response_timeout: Duration,
}

impl Upstreams {
    /// Connections give up after `connect_timeout`; requests after
    /// `response_timeout` without response headers.
    pub fn new(connect_timeout: Duration, response_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(60)).build(connector);
        Self { client, response_timeout }
    }

    /// Sends `body` to `endpoint` as `head` describes.
    pub async fn send(&self, endpoint: SocketAddr, head: &http::request::Parts, body: Bytes) -> Result<Response<Incoming>, AttemptError> {
        let path = head.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder()
            .method(head.method.clone())
            .uri(format!("http://{endpoint}{path}"))
            .body(Full::new(body))
            .map_err(|e| AttemptError::Connect(e.to_string()))?;
        *request.headers_mut() = end_to_end(&head.headers);
        request.headers_mut().remove(header::CONTENT_LENGTH);
        match tokio::time::timeout(self.response_timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => Err(AttemptError::Connect(format!("{e}: {}", std::error::Error::source(&e).map(ToString::to_string).unwrap_or_default()))),
            Err(_) => Err(AttemptError::Timeout(self.response_timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "keep-alive, x-secret-hop".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert(header::HOST, "proxy".parse().unwrap());
        h.insert(header::AUTHORIZATION, "Bearer t".parse().unwrap());
        h.insert("x-gateway-inference-objective", "chat".parse().unwrap());
        let out = end_to_end(&h);
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["authorization", "x-gateway-inference-objective"]);
    }
}
