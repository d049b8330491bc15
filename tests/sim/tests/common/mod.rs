//! Shared helpers of the simulator's integration tests: in-process replicas on
//! 127.0.0.1:0, the real binary as a child process, an HTTP client, SSE and
//! OpenMetrics parsing, and the project's Python venv.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    io::{BufRead, BufReader},
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use kvlb_sim::{EngineConfig, Replica, profile};
use openmetrics_parser::{
    MetricsExposition, OpenMetricsType, OpenMetricsValue, openmetrics::parse_openmetrics,
};
use serde_json::{Value, json};

/// Model name every test replica serves.
pub const MODEL: &str = "sim-model";

/// A replica config for `profile` at `time_scale`, serving [`MODEL`].
pub fn config(profile_name: &str, time_scale: f64) -> EngineConfig {
    let mut config = EngineConfig::new(profile::find(profile_name).expect("known profile"), MODEL);
    config.time_scale = time_scale;
    config
}

/// Starts an in-process replica on a free loopback port.
pub async fn replica(config: EngineConfig) -> Replica {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    Replica::start(0, config, addr, kvlb_sim::api::DEFAULT_MAX_BODY_BYTES)
        .await
        .expect("replica starts")
}

/// Base URL of a replica.
pub fn url(replica: &Replica) -> String {
    format!("http://{}", replica.addr)
}

/// An HTTP client that never uses a proxy (loopback only).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client builds")
}

/// Deterministic filler text of about `words` words; `salt` makes it unique.
pub fn text(words: usize, salt: u64) -> String {
    const WORDS: &[&str] = &[
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
        "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra",
        "tango",
    ];
    let mut state = salt.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..words)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            WORDS[(state >> 33) as usize % WORDS.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A chat body generating exactly `max_tokens` tokens; streamed ones ask
/// for the usage chunk.
pub fn chat_body(content: &str, max_tokens: usize, stream: bool) -> Value {
    let mut body = json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": content}],
        "max_tokens": max_tokens,
        "ignore_eos": true,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

/// POSTs JSON and returns the response.
pub async fn post(client: &reqwest::Client, url: &str, body: &Value) -> reqwest::Response {
    client
        .post(url)
        .json(body)
        .send()
        .await
        .expect("request sent")
}

/// The `data` fields of an SSE response, in order.
pub async fn sse_data(response: reqwest::Response) -> Vec<String> {
    let mut events = response.bytes_stream().eventsource();
    let mut data = Vec::new();
    while let Some(event) = events.next().await {
        data.push(event.expect("well-formed SSE").data);
    }
    data
}

/// Wall time from sending a streaming request to its first SSE event.
pub async fn time_to_first_event(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> (Duration, Vec<String>) {
    let start = Instant::now();
    let response = post(client, url, body).await;
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream().eventsource();
    let first = events
        .next()
        .await
        .expect("one event")
        .expect("well-formed SSE");
    let ttft = start.elapsed();
    let mut data = vec![first.data];
    while let Some(event) = events.next().await {
        data.push(event.expect("well-formed SSE").data);
    }
    (ttft, data)
}

/// Scrapes and parses `/metrics` with an OpenMetrics parser.
pub async fn scrape(
    client: &reqwest::Client,
    base: &str,
) -> MetricsExposition<OpenMetricsType, OpenMetricsValue> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    parse_openmetrics(&text).unwrap_or_else(|e| panic!("metrics do not parse: {e:?}\n{text}"))
}

/// Value of the first sample of a gauge or counter family.
pub fn value(metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>, family: &str) -> f64 {
    let family = metrics
        .families
        .get(family)
        .unwrap_or_else(|| panic!("no metric family {family}"));
    match &family.iter_samples().next().expect("one sample").value {
        OpenMetricsValue::Gauge(n) | OpenMetricsValue::Unknown(n) => n.as_f64(),
        OpenMetricsValue::Counter(c) => c.value.as_f64(),
        other => panic!("{other:?} is not a number"),
    }
}

/// `(sum, count)` of a histogram family's first sample.
pub fn histogram(
    metrics: &MetricsExposition<OpenMetricsType, OpenMetricsValue>,
    family: &str,
) -> (f64, u64) {
    match &metrics.families[family]
        .iter_samples()
        .next()
        .expect("one sample")
        .value
    {
        OpenMetricsValue::Histogram(h) => (h.sum.map_or(0.0, |s| s.as_f64()), h.count.unwrap_or(0)),
        other => panic!("{other:?} is not a histogram"),
    }
}

/// Polls `check` every 5 ms until it holds; panics after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The `kvlb-sim` binary running as a child; killed on drop.
pub struct SimProcess {
    child: Child,
    /// The replica lines it printed.
    pub replicas: Vec<Value>,
}

impl SimProcess {
    /// Runs `kvlb-sim <args>` and waits for `replicas` announcement lines.
    pub fn start(args: &[&str], replicas: usize) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kvlb-sim"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kvlb-sim starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Self {
            child,
            replicas: Vec::new(),
        };
        while process.replicas.len() < replicas {
            let line = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("kvlb-sim announces its replicas");
            process
                .replicas
                .push(serde_json::from_str(&line).expect("JSON line"));
        }
        process
    }

    /// Base URLs of the replicas.
    pub fn urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .map(|r| r["url"].as_str().expect("url").to_string())
            .collect()
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The project venv's Python; fails (never skips) when it is missing.
pub fn venv_python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".tools/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` to create the Python venv with tests/requirements.txt",
        python.display()
    );
    python
}
