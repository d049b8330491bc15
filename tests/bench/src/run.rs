//! Driving a trace: open loop (each request at its arrival offset, scaled
//! to a target rate, whatever the server does) or closed loop (a fixed
//! number of streams, each sending its next request when the last ends).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::task::JoinSet;

use crate::{
    request::{self, Outcome, SendOptions},
    stats::{Summary, summarize},
    target::Target,
    trace::{self, TraceRequest},
};

/// How to drive a trace.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Open loop at this mean rate (model-time requests per second), the
    /// trace's offsets rescaled; `None` keeps the trace's own offsets.
    pub qps: Option<f64>,
    /// Closed loop with this many streams instead (the trace is cycled).
    pub concurrency: Option<usize>,
    /// Stop sending after this long (wall clock).
    pub duration: Option<Duration>,
    /// Send at most this many requests.
    pub max_requests: Option<usize>,
    /// Per-request settings.
    pub send: SendOptions,
    /// Model seconds per wall second of the servers.
    pub time_scale: f64,
    /// The TTFT objective goodput counts against (model ms).
    pub ttft_slo_ms: f64,
}

/// Runs `trace` against `target` and summarizes what it measured.
pub async fn run(
    trace: Arc<Vec<TraceRequest>>,
    target: Arc<Target>,
    client: reqwest::Client,
    options: &RunOptions,
) -> anyhow::Result<Summary> {
    anyhow::ensure!(
        options.time_scale > 0.0 && options.time_scale.is_finite(),
        "--time-scale must be positive"
    );
    anyhow::ensure!(options.ttft_slo_ms > 0.0, "--ttft-slo-ms must be positive");
    let start = Instant::now();
    let (outcomes, offered_qps) = match options.concurrency {
        Some(streams) => (
            closed_loop(trace, target, client, options, streams, start).await?,
            0.0,
        ),
        None => open_loop(trace, target, client, options, start).await?,
    };
    Ok(summarize(
        &outcomes,
        start.elapsed().as_secs_f64(),
        offered_qps,
        options.ttft_slo_ms,
        options.time_scale,
    ))
}

/// Wall-clock send offsets (ms) of each request and the offered model-time rate.
fn schedule(trace: &[TraceRequest], options: &RunOptions) -> anyhow::Result<(Vec<f64>, f64)> {
    let trace_qps = trace::mean_qps(trace);
    let model_offsets: Vec<f64> = match options.qps {
        Some(qps) => {
            anyhow::ensure!(
                qps > 0.0 && qps.is_finite(),
                "--qps must be a positive number, got {qps}"
            );
            anyhow::ensure!(
                trace_qps > 0.0,
                "--qps: the trace's requests all arrive at once, so it has no rate to scale"
            );
            trace.iter().map(|r| r.t_ms * trace_qps / qps).collect()
        }
        None => trace.iter().map(|r| r.t_ms).collect(),
    };
    let offered = options.qps.unwrap_or(trace_qps);
    Ok((
        model_offsets
            .into_iter()
            .map(|t| t / options.time_scale)
            .collect(),
        offered,
    ))
}

async fn open_loop(
    trace: Arc<Vec<TraceRequest>>,
    target: Arc<Target>,
    client: reqwest::Client,
    options: &RunOptions,
    start: Instant,
) -> anyhow::Result<(Vec<Outcome>, f64)> {
    let (offsets, offered) = schedule(&trace, options)?;
    let limit = options.max_requests.unwrap_or(usize::MAX);
    let mut tasks = JoinSet::new();
    for (i, offset) in offsets.into_iter().enumerate().take(limit) {
        let at = start + Duration::from_secs_f64(offset / 1000.0);
        if options.duration.is_some_and(|d| at - start > d) {
            break;
        }
        tokio::time::sleep_until(at.into()).await;
        let (trace, target, client, send) = (
            trace.clone(),
            target.clone(),
            client.clone(),
            options.send.clone(),
        );
        tasks.spawn(async move {
            let url = target.pick(&trace[i]).await;
            request::send(&client, url, &trace[i], &send, at).await
        });
    }
    Ok((tasks.join_all().await, offered))
}

async fn closed_loop(
    trace: Arc<Vec<TraceRequest>>,
    target: Arc<Target>,
    client: reqwest::Client,
    options: &RunOptions,
    streams: usize,
    start: Instant,
) -> anyhow::Result<Vec<Outcome>> {
    anyhow::ensure!(streams >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        options.duration.is_some() || options.max_requests.is_some(),
        "--concurrency needs --duration-s or --max-requests to end"
    );
    let limit = options.max_requests.unwrap_or(usize::MAX);
    let deadline = options.duration.map(|d| start + d);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..streams {
        let (trace, target, client, send, next) = (
            trace.clone(),
            target.clone(),
            client.clone(),
            options.send.clone(),
            next.clone(),
        );
        workers.spawn(async move {
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit || deadline.is_some_and(|d| Instant::now() >= d) {
                    return outcomes;
                }
                let request = &trace[i % trace.len()];
                let url = target.pick(request).await;
                outcomes.push(request::send(&client, url, request, &send, Instant::now()).await);
            }
        });
    }
    Ok(workers.join_all().await.into_iter().flatten().collect())
}
