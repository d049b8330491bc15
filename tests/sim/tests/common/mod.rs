//! Shared helpers of the simulator's integration tests: in-process replicas on
//! 127.0.0.1:0, the real binary as a child process, an HTTP client, SSE and
//! OpenMetrics parsing (the official Prometheus client's strict parser, run
//! in the project's Python venv).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::{
    collections::BTreeMap,
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
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

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

/// One sample of a metric family, as the Prometheus client parsed it.
#[derive(Debug, Deserialize)]
pub struct Sample {
    /// Sample name (`_total`, `_bucket`, `_sum`, `_count` included).
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its value, as Python's float text (`inf`, `nan` survive JSON).
    value: String,
}

impl Sample {
    /// The value as a number.
    pub fn value(&self) -> f64 {
        self.value
            .parse()
            .unwrap_or_else(|e| panic!("{}: value {:?}: {e}", self.name, self.value))
    }

    /// A label's value; panics naming the sample if it has none.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .unwrap_or_else(|| panic!("{} has no label {name}", self.name))
    }
}

/// One metric family: its OpenMetrics type and samples in exposition order.
#[derive(Debug, Deserialize)]
pub struct Family {
    /// Family name (a counter's without `_total`).
    pub name: String,
    /// `gauge`, `counter`, `histogram`, `unknown`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its samples.
    pub samples: Vec<Sample>,
}

/// A parsed exposition, families by name.
#[derive(Debug)]
pub struct Metrics {
    /// Every family.
    pub families: BTreeMap<String, Family>,
}

impl Metrics {
    /// A family; panics naming it if it is missing.
    pub fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no metric family {name}"))
    }
}

/// Fetches `/metrics` as text.
pub async fn scrape_text(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body")
}

/// Parses an exposition with the official Prometheus client's strict
/// OpenMetrics parser (`tests/python/parse_openmetrics.py` in the venv);
/// panics with the parser's error and the text if it does not parse.
pub async fn parse_metrics(text: &str) -> Metrics {
    #[derive(Deserialize)]
    struct Parsed {
        families: Vec<Family>,
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/parse_openmetrics.py");
    let mut child = tokio::process::Command::new(venv_python())
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the parser starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(text.as_bytes())
        .await
        .expect("exposition written");
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the parser finishes")
        .expect("parser output");
    assert!(
        output.status.success(),
        "metrics do not parse: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Parsed = serde_json::from_slice(&output.stdout).expect("the parser prints JSON");
    Metrics {
        families: parsed
            .families
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect(),
    }
}

/// Scrapes `/metrics` and parses it as strict OpenMetrics.
pub async fn scrape(client: &reqwest::Client, base: &str) -> Metrics {
    parse_metrics(&scrape_text(client, base).await).await
}

/// Value of the first sample of a gauge, counter or untyped family.
pub fn value(metrics: &Metrics, family: &str) -> f64 {
    let family = metrics.family(family);
    assert!(
        matches!(family.kind.as_str(), "gauge" | "counter" | "unknown"),
        "{} is a {}, not a number",
        family.name,
        family.kind
    );
    family.samples.first().expect("one sample").value()
}

/// `(sum, count)` of a histogram family's first series.
pub fn histogram(metrics: &Metrics, family: &str) -> (f64, u64) {
    let family = metrics.family(family);
    assert_eq!(
        family.kind, "histogram",
        "{} is not a histogram",
        family.name
    );
    let first = |suffix: &str| {
        let name = format!("{}{suffix}", family.name);
        family
            .samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} sample"))
            .value()
    };
    (first("_sum"), first("_count") as u64)
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
