//! The agent's HTTP endpoint: `/metrics` (Prometheus) and `/status` (JSON for
//! `kvlb status`). Answers come from the main loop, which owns the state.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{
    net::TcpListener,
    sync::{mpsc, oneshot},
};

/// What a caller asked for.
#[derive(Debug, Clone, Copy)]
pub enum Query {
    /// The Prometheus exposition.
    Metrics,
    /// The JSON status.
    Status,
}

/// A query waiting for the main loop's answer.
pub struct Pending {
    /// What is asked.
    pub query: Query,
    /// Where the answer goes.
    pub reply: oneshot::Sender<String>,
}

/// Serves connections on `listener` until the process ends.
pub async fn serve(listener: TcpListener, queries: mpsc::Sender<Pending>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let queries = queries.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, queries.clone()));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(req: Request<Incoming>, queries: mpsc::Sender<Pending>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (query, content_type) = match req.uri().path() {
        "/metrics" => (Query::Metrics, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "/status" => (Query::Status, "application/json"),
        _ => return Ok(plain(StatusCode::NOT_FOUND, "not found: try /metrics or /status\n")),
    };
    let (reply, answer) = oneshot::channel();
    if queries.send(Pending { query, reply }).await.is_err() {
        return Ok(plain(StatusCode::SERVICE_UNAVAILABLE, "agent stopping\n"));
    }
    Ok(match answer.await {
        Ok(body) => Response::builder()
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("static headers are valid"),
        Err(_) => plain(StatusCode::SERVICE_UNAVAILABLE, "agent stopping\n"),
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    Response::builder().status(status).body(Full::new(Bytes::from_static(text.as_bytes()))).expect("static response is valid")
}
