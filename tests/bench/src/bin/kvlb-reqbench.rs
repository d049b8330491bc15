//! `kvlb-reqbench`: the client of `cargo xtask bench overhead`. It POSTs one
//! fixed chat request (of a chosen size) over keep-alive HTTP/1.1
//! connections, on one thread, and prints the latency distribution and the
//! rate as JSON.
//!
//! - With `--rate`, open loop: request `i` is due at `start + i / rate`
//!   whatever happened before, and its latency counts from when the timer
//!   fired for it, waiting for a free connection included, so a path that
//!   falls behind shows it (no coordinated omission).
//! - Without, closed loop: `--connections` requests in flight at all times,
//!   each sent as soon as the last one on its connection is answered; the
//!   rate is the path's maximum at that concurrency.

use std::{
    cell::RefCell,
    net::SocketAddr,
    rc::Rc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::{Request, client::conn::http1::SendRequest, header};
use hyper_util::rt::TokioIo;

#[derive(Parser)]
#[command(about = "Fixed chat requests over keep-alive connections: latency at a rate, or the maximum rate")]
struct Args {
    /// Where to send, as `http://ADDR:PORT/path`.
    url: hyper::Uri,
    /// Requests per second (open loop); without it, as fast as answers come.
    #[arg(long)]
    rate: Option<f64>,
    /// Keep-alive connections (open loop: the most in flight at once).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Seconds run first and not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup_seconds: f64,
    /// Size of the request body.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// The model the body names.
    #[arg(long, default_value = "static")]
    model: String,
}

/// What one run has seen after its warm-up.
struct Tally {
    /// Nanoseconds from due (open loop) or sent (closed loop) to the last
    /// body byte.
    latency: hdrhistogram::Histogram<u64>,
    errors: u64,
    /// Requests answered before the warm-up ended (not counted).
    measuring_from: Instant,
}

type Shared = Rc<RefCell<Tally>>;

/// Where and what to send.
struct Target {
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    match tokio::task::LocalSet::new().block_on(&runtime, run(args)) {
        Ok(summary) => {
            println!("{summary}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kvlb-reqbench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be positive");
    let target = Rc::new(target(&args)?);
    let start = Instant::now();
    let measuring_from = start + Duration::from_secs_f64(args.warmup_seconds);
    let end = measuring_from + Duration::from_secs_f64(args.seconds);
    let tally = Rc::new(RefCell::new(Tally {
        latency: hdrhistogram::Histogram::new_with_bounds(1, 60_000_000_000, 3)?,
        errors: 0,
        measuring_from,
    }));
    let mut connections = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        connections.push(connect(target.addr).await?);
    }
    match args.rate {
        Some(rate) => {
            anyhow::ensure!(rate > 0.0, "--rate must be positive");
            open_loop(&target, connections, start, end, rate, &tally).await;
        }
        None => closed_loop(&target, connections, end, &tally).await,
    }
    let tally = tally.borrow();
    let us = |q: f64| tally.latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(serde_json::json!({
        "requests": tally.latency.len(),
        "errors": tally.errors,
        "per_second": tally.latency.len() as f64 / args.seconds,
        "p50_us": us(0.5),
        "p90_us": us(0.9),
        "p99_us": us(0.99),
        "p999_us": us(0.999),
        "max_us": tally.latency.max() as f64 / 1000.0,
    }))
}

fn target(args: &Args) -> anyhow::Result<Target> {
    anyhow::ensure!(args.url.scheme_str() == Some("http"), "url {}: only http:// is supported", args.url);
    let authority = args.url.authority().ok_or_else(|| anyhow::anyhow!("url {}: no address", args.url))?;
    let addr: SocketAddr = authority.as_str().parse().map_err(|_| anyhow::anyhow!("url {}: the address must be IP:PORT", args.url))?;
    let empty = serde_json::json!({"model": args.model, "messages": [{"role": "user", "content": ""}], "max_tokens": 1});
    let pad = args.body_bytes.saturating_sub(empty.to_string().len());
    let body = serde_json::json!({"model": args.model, "messages": [{"role": "user", "content": "a".repeat(pad)}], "max_tokens": 1});
    let request = Request::post(args.url.path())
        .header(header::HOST, authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    Ok(Target { addr, request })
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::task::spawn_local(connection);
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole answer; `Err` for a
/// broken connection, `Ok(false)` for a status other than 200.
async fn exchange(sender: &mut SendRequest<Full<Bytes>>, target: &Target) -> anyhow::Result<bool> {
    sender.ready().await?;
    let response = sender.send_request(target.request.clone()).await?;
    let ok = response.status() == hyper::StatusCode::OK;
    response.into_body().collect().await?;
    Ok(ok)
}

/// Sends and records one request counted from `since`; hands back a usable
/// connection (a new one when this one broke).
async fn one(mut sender: SendRequest<Full<Bytes>>, target: &Target, since: Instant, tally: &Shared) -> SendRequest<Full<Bytes>> {
    let outcome = exchange(&mut sender, target).await;
    let done = Instant::now();
    {
        let mut tally = tally.borrow_mut();
        if since >= tally.measuring_from {
            match outcome {
                Ok(true) => tally.latency.saturating_record(done.duration_since(since).as_nanos() as u64),
                _ => tally.errors += 1,
            }
        }
    }
    if outcome.is_ok() && !sender.is_closed() {
        return sender;
    }
    loop {
        match connect(target.addr).await {
            Ok(fresh) => return fresh,
            Err(_) => {
                tally.borrow_mut().errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn open_loop(target: &Rc<Target>, connections: Vec<SendRequest<Full<Bytes>>>, start: Instant, end: Instant, rate: f64, tally: &Shared) {
    let (idle_tx, mut idle_rx) = tokio::sync::mpsc::unbounded_channel();
    for c in connections {
        let _ = idle_tx.send(c);
    }
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut running = tokio::task::JoinSet::new();
    for i in 0u32.. {
        let due = start + interval * i;
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        // The timer wakes up to a millisecond late: the clock starts when it
        // does, before waiting for an idle connection, so a path that falls
        // behind still shows it and the timer's lateness does not.
        let since = Instant::now();
        let Some(sender) = idle_rx.recv().await else { break };
        let (target, tally, idle_tx) = (target.clone(), tally.clone(), idle_tx.clone());
        running.spawn_local(async move {
            let sender = one(sender, &target, since, &tally).await;
            let _ = idle_tx.send(sender);
        });
    }
    while running.join_next().await.is_some() {}
}

async fn closed_loop(target: &Rc<Target>, connections: Vec<SendRequest<Full<Bytes>>>, end: Instant, tally: &Shared) {
    let mut running = tokio::task::JoinSet::new();
    for mut sender in connections {
        let (target, tally) = (target.clone(), tally.clone());
        running.spawn_local(async move {
            while Instant::now() < end {
                sender = one(sender, &target, Instant::now(), &tally).await;
            }
        });
    }
    while running.join_next().await.is_some() {}
}
