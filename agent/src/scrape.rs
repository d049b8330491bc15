//! Model-server metrics: which engine names its signals how, and turning one
//! scrape into the three numbers scoring needs.
//!
//! - [`client`]: HTTP fetches with keep-alive, a timeout and a size limit.
//! - [`worker`]: one scrape loop per endpoint.

pub mod client;
pub mod worker;

use prom_text_format_parser::{Metric, Scrape};
use serde::{Deserialize, Serialize};

/// A model-server engine, by the metric names it exports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// vLLM (`vllm:*`, including the pre-v0.10 `vllm:gpu_cache_usage_perc`).
    #[default]
    Vllm,
    /// SGLang (`sglang:*`).
    Sglang,
    /// TensorRT-LLM: trtllm-serve (`trtllm_*`) or Triton (`nv_trt_llm_*`).
    #[serde(alias = "trtllm-serve", alias = "triton-tensorrt-llm")]
    Trtllm,
}

impl Engine {
    /// The engine named by the pod label `inference.networking.k8s.io/engine-type`.
    pub fn from_label(value: &str) -> Option<Self> {
        match value {
            "vllm" => Some(Self::Vllm),
            "sglang" => Some(Self::Sglang),
            "trtllm" | "trtllm-serve" | "triton-tensorrt-llm" => Some(Self::Trtllm),
            _ => None,
        }
    }

    /// Where each signal (waiting, running, KV usage) is found, in order of
    /// preference.
    fn signals(self) -> [&'static [Series]; 3] {
        match self {
            Engine::Vllm => VLLM,
            Engine::Sglang => SGLANG,
            Engine::Trtllm => TRTLLM,
        }
    }
}

const VLLM: [&[Series]; 3] = [
    &[Series::plain("vllm:num_requests_waiting")],
    &[Series::plain("vllm:num_requests_running")],
    &[Series::plain("vllm:kv_cache_usage_perc"), Series::plain("vllm:gpu_cache_usage_perc")],
];

const SGLANG: [&[Series]; 3] = [
    &[Series::plain("sglang:num_queue_reqs")],
    &[Series::plain("sglang:num_running_reqs")],
    &[Series::plain("sglang:token_usage")],
];

const TRTLLM: [&[Series]; 3] = [
    &[Series::plain("trtllm_num_requests_waiting"), Series::labelled("nv_trt_llm_request_metrics", "request_type", "waiting")],
    &[Series::plain("trtllm_num_requests_running"), Series::labelled("nv_trt_llm_request_metrics", "request_type", "scheduled")],
    &[
        Series::plain("trtllm_kv_cache_utilization"),
        Series::labelled("nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type", "fraction"),
    ],
];

/// One metric name, optionally narrowed to samples with one label value.
struct Series {
    name: &'static str,
    label: Option<(&'static str, &'static str)>,
}

impl Series {
    const fn plain(name: &'static str) -> Self {
        Self { name, label: None }
    }

    const fn labelled(name: &'static str, key: &'static str, value: &'static str) -> Self {
        Self { name, label: Some((key, value)) }
    }

    /// The matching samples' values, if the metric is present.
    fn values(&self, metrics: &[Metric]) -> Option<Vec<f64>> {
        let values: Vec<f64> = metrics
            .iter()
            .filter(|m| m.name == self.name)
            .flat_map(|m| &m.samples)
            .filter(|s| match self.label {
                Some((k, v)) => s.labels.iter().any(|l| l.key == k && l.value == v),
                None => true,
            })
            .map(|s| s.value.value.as_f64())
            .collect();
        (!values.is_empty()).then_some(values)
    }
}

/// What scoring needs from one model server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct EngineMetrics {
    /// Requests waiting for a batch slot (summed over models and adapters).
    pub waiting: f64,
    /// Requests in the running batch.
    pub running: f64,
    /// KV-cache usage, 0..=1 (the largest if several series).
    pub kv_usage: f64,
}

/// Why a scrape did not yield metrics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
    /// Could not connect or the connection broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// Answered with a non-success status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is larger than the limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// Not Prometheus text.
    #[error("not Prometheus text: {0}")]
    Syntax(String),
    /// A signal the engine must export is absent.
    #[error("missing metric {0}")]
    Missing(&'static str),
    /// A value out of its range (negative, NaN, infinite).
    #[error("{0} has invalid value {1}")]
    Invalid(&'static str, f64),
}

impl ScrapeError {
    /// A fixed label value for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ScrapeError::Timeout => "timeout",
            ScrapeError::Connect(_) => "connect",
            ScrapeError::Status(_) => "status",
            ScrapeError::TooLarge(_) => "too_large",
            ScrapeError::Syntax(_) => "syntax",
            ScrapeError::Missing(_) => "missing",
            ScrapeError::Invalid(..) => "invalid",
        }
    }
}

/// Parses an engine's metrics page.
pub fn parse(engine: Engine, text: &str) -> Result<EngineMetrics, ScrapeError> {
    let [waiting, running, kv] = engine.signals();
    // Only the sample lines of the few series scoring reads matter: keep
    // those and parse just them. That keeps a scrape cheap however large the
    // page (real engines export dozens of histograms), and makes both
    // exposition dialects parse alike: classic text (`# TYPE x_total
    // counter`, as vLLM's Python client writes) and OpenMetrics (`# TYPE x
    // counter` over `x_total` samples), which the parser would otherwise
    // reject as a family without samples.
    let wanted = |line: &str| [waiting, running, kv].iter().flat_map(|c| c.iter()).any(|s| starts_with_name(line, s.name));
    let samples: String = text.lines().filter(|l| wanted(l)).flat_map(|l| [l, "\n"]).collect();
    if samples.is_empty() {
        return Err(ScrapeError::Missing(waiting[0].name));
    }
    let scrape = Scrape::parse(&samples).map_err(|e| {
        // At most 200 characters of the parser's message (a byte cut could
        // split a character of the server's text: found by fuzzing).
        ScrapeError::Syntax(format!("{e:?}").chars().take(200).collect())
    })?;
    let read = |candidates: &[Series]| -> Result<Vec<f64>, ScrapeError> {
        let values = candidates.iter().find_map(|s| s.values(&scrape.metrics)).ok_or(ScrapeError::Missing(candidates[0].name))?;
        match values.iter().find(|v| !v.is_finite() || **v < 0.0) {
            Some(&bad) => Err(ScrapeError::Invalid(candidates[0].name, bad)),
            None => Ok(values),
        }
    };
    Ok(EngineMetrics {
        waiting: read(waiting)?.iter().sum(),
        running: read(running)?.iter().sum(),
        kv_usage: read(kv)?.iter().copied().fold(0.0, f64::max).min(1.0),
    })
}

/// Whether a sample line is of metric `name` (the name followed by labels,
/// a space or the end).
fn starts_with_name(line: &str, name: &str) -> bool {
    line.strip_prefix(name).is_some_and(|rest| rest.starts_with(['{', ' ', '\t']))
}

#[cfg(test)]
mod tests;
