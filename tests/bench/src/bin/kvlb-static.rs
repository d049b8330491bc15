//! `kvlb-static`: the fast static backend of `cargo xtask bench overhead`. It
//! answers every POST with the same small chat completion as soon as the
//! request body has arrived, so what a benchmark measures in front of it is
//! the path, not a model. One thread; one or more listeners.
//!
//! It speaks just enough of a model server for every contender to accept
//! it: `GET /health` (load balancers' and sglang-router's health checks),
//! `GET /v1/models`, SGLang's `GET /get_model_info` and `/get_server_info`,
//! and a vLLM-style `GET /metrics` (requests in flight as running, nothing
//! waiting, an empty KV cache) for kvlb's agent to scrape.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;

#[derive(Parser)]
#[command(about = "A fast static model-server stand-in for overhead benchmarks")]
struct Args {
    /// Where to listen (repeat for several endpoints in one process).
    #[arg(long, required = true)]
    listen: Vec<SocketAddr>,
    /// The model name it reports.
    #[arg(long, default_value = "static")]
    model: String,
}

/// What every answer is built from.
struct Replies {
    chat: Bytes,
    models: Bytes,
    model_info: Bytes,
    in_flight: AtomicI64,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(serve(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlb-static: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let model = &args.model;
    let replies = Arc::new(Replies {
        chat: serde_json::json!({
            "id": "chatcmpl-static",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 256, "completion_tokens": 1, "total_tokens": 257}
        })
        .to_string()
        .into(),
        models: serde_json::json!({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "kvlb-static"}]}).to_string().into(),
        model_info: serde_json::json!({"model_path": model, "tokenizer_path": model, "is_generation": true}).to_string().into(),
        in_flight: AtomicI64::new(0),
    });
    let mut accepting = tokio::task::JoinSet::new();
    for addr in &args.listen {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("--listen {addr}: {e}"))?;
        accepting.spawn(accept(listener, replies.clone()));
    }
    println!("kvlb-static ready");
    match accepting.join_next().await {
        Some(Ok(e)) => Err(e),
        Some(Err(e)) => Err(e.into()),
        None => Ok(()),
    }
}

async fn accept(listener: tokio::net::TcpListener, replies: Arc<Replies>) -> anyhow::Error {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => return e.into(),
        };
        let _ = stream.set_nodelay(true);
        let replies = replies.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, replies.clone()));
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn answer(req: Request<Incoming>, replies: Arc<Replies>) -> Result<Response<Full<Bytes>>, Infallible> {
    let json = |body: Bytes| {
        let mut response = Response::new(Full::new(body));
        response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
        response
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::POST, _) => {
            replies.in_flight.fetch_add(1, Ordering::Relaxed);
            let received = req.into_body().collect().await;
            replies.in_flight.fetch_sub(1, Ordering::Relaxed);
            match received {
                Ok(_) => json(replies.chat.clone()),
                Err(_) => status(StatusCode::BAD_REQUEST),
            }
        }
        (&Method::GET, "/health" | "/health_generate") => Response::new(Full::new(Bytes::from_static(b"ok"))),
        (&Method::GET, "/v1/models") => json(replies.models.clone()),
        (&Method::GET, "/get_model_info") => json(replies.model_info.clone()),
        (&Method::GET, "/get_server_info") => json(Bytes::from_static(b"{}")),
        (&Method::GET, "/metrics") => {
            let running = replies.in_flight.load(Ordering::Relaxed).max(0);
            let page = format!("vllm:num_requests_running {running}\nvllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0\n");
            Response::new(Full::new(page.into()))
        }
        _ => status(StatusCode::NOT_FOUND),
    })
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
