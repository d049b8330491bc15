//! Fetching a metrics page: kept-alive connections, one timeout for the whole
//! exchange, and a body limit so a runaway endpoint cannot grow memory.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

use super::ScrapeError;

/// A shared HTTP client for every scrape (clones share the connection pool).
#[derive(Clone)]
pub struct MetricsClient {
    http: Client<HttpConnector, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl MetricsClient {
    /// A client whose fetches give up after `timeout` or past `max_bytes`.
    pub fn new(timeout: Duration, max_bytes: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        let http = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Self { http, timeout, max_bytes }
    }

    /// Fetches `url` and returns its body as text.
    pub async fn fetch(&self, url: &Uri) -> Result<String, ScrapeError> {
        tokio::time::timeout(self.timeout, self.fetch_inner(url)).await.map_err(|_| ScrapeError::Timeout)?
    }

    async fn fetch_inner(&self, url: &Uri) -> Result<String, ScrapeError> {
        let response = self.http.get(url.clone()).await.map_err(|e| ScrapeError::Connect(e.to_string()))?;
        if !response.status().is_success() {
            return Err(ScrapeError::Status(response.status().as_u16()));
        }
        let body = Limited::new(response.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    ScrapeError::TooLarge(self.max_bytes)
                } else {
                    ScrapeError::Connect(e.to_string())
                }
            })?
            .to_bytes();
        String::from_utf8(body.into()).map_err(|_| ScrapeError::Syntax("not UTF-8".into()))
    }
}
