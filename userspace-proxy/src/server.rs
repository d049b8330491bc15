//! Accepting clients: HTTP/1.1 with keep-alive and HTTP/2 cleartext on one
//! port, with limits on connections, header size, header-read time (a
//! slow-loris client times out without delaying others) and concurrent
//! HTTP/2 streams.

use std::{sync::Arc, time::Duration};

use hyper::service::service_fn;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{net::TcpListener, sync::Semaphore};

use crate::{decide::Decider, proxy::Proxy};

/// Limits on clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// Largest request head, in bytes.
    pub max_header_bytes: usize,
    /// Time allowed to send a request head (also closes idle keep-alive
    /// connections).
    pub header_read_timeout: Duration,
    /// Concurrent HTTP/2 streams per connection.
    pub max_streams: u32,
}

/// Serves clients on `listener` until the process ends.
pub async fn serve(listener: TcpListener, proxy: Arc<Proxy>, limits: Limits) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(limits.max_streams);
    let builder = Arc::new(builder);
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else { return };
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (proxy, builder) = (proxy.clone(), builder.clone());
        tokio::spawn(async move {
            let service = service_fn(move |req| proxy.clone().handle(req));
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("connection ended: {e}");
            }
            drop(permit);
        });
    }
}

/// Serves `/metrics` on `listener`.
pub async fn serve_metrics(listener: TcpListener, decider: Arc<Decider>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let decider = decider.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let decider = decider.clone();
                async move {
                    let (status, body) = match req.uri().path() {
                        "/metrics" => (hyper::StatusCode::OK, decider.encode_metrics()),
                        _ => (hyper::StatusCode::NOT_FOUND, "not found: try /metrics\n".to_owned()),
                    };
                    let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
                    *response.status_mut() = status;
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
