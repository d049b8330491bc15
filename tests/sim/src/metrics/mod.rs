//! `/metrics` in the metric names of vLLM, SGLang or Triton TensorRT-LLM.
//!
//! Each scrape copies the engine's load and statistics once and encodes them
//! through prometheus-client's collector API, which writes metric names as
//! given, so the engines' `vllm:`-style colon names come out unchanged. The
//! exposition is OpenMetrics 1.0 text (counters are typed under their base
//! name and sampled with a `_total` suffix; the body ends with `# EOF`).

mod sglang;
mod trtllm;
mod vllm;

use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet, text::encode},
    metrics::MetricType,
    registry::Registry,
};
use serde::Serialize;

use crate::engine::{Engine, Histogram, LoadSnapshot};

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Whose metric names `/metrics` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MetricsFlavor {
    /// vLLM (`vllm:num_requests_waiting`, ...).
    Vllm,
    /// SGLang (`sglang:num_queue_reqs`, ...).
    Sglang,
    /// Triton's TensorRT-LLM backend (`nv_trt_llm_request_metrics{...}`).
    Trtllm,
}

/// One scrape's worth of data.
#[derive(Debug)]
struct Scrape {
    flavor: MetricsFlavor,
    model: String,
    max_num_seqs: usize,
    max_loras: usize,
    lora_enabled: bool,
    prefix_caching: bool,
    load: LoadSnapshot,
}

impl Collector for Scrape {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metrics = Encoder(encoder);
        match self.flavor {
            MetricsFlavor::Vllm => vllm::encode(self, &mut metrics),
            MetricsFlavor::Sglang => sglang::encode(self, &mut metrics),
            MetricsFlavor::Trtllm => trtllm::encode(self, &mut metrics),
        }
    }
}

/// Renders the engine's metrics in its configured flavor.
pub fn render(engine: &Engine) -> String {
    let config = engine.config();
    let scrape = Scrape {
        flavor: config.metrics_flavor,
        model: config.model.clone(),
        max_num_seqs: config.max_num_seqs,
        max_loras: config.max_loras,
        lora_enabled: !config.lora_adapters.is_empty(),
        prefix_caching: config.enable_prefix_caching,
        load: engine.load(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(scrape));
    let mut text = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

/// Thin helpers over the descriptor encoder: one call per metric family.
struct Encoder<'a>(DescriptorEncoder<'a>);

type Labels<'a> = [(&'a str, &'a str)];

impl Encoder<'_> {
    fn gauge(&mut self, name: &str, help: &str, labels: &Labels, value: f64) -> std::fmt::Result {
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        metric.encode_family(&labels)?.encode_gauge(&value)
    }

    /// Several series of one gauge family, each with its own labels.
    fn gauges<S: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: &[(S, f64)],
    ) -> std::fmt::Result {
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (labels, value) in series {
            metric.encode_family(labels)?.encode_gauge(value)?;
        }
        Ok(())
    }

    /// A counter; the exposition appends `_total` to `name`.
    fn counter(&mut self, name: &str, help: &str, labels: &Labels, value: u64) -> std::fmt::Result {
        self.counters(name, help, &[(labels, value)])
    }

    /// Several series of one counter family.
    fn counters<S: EncodeLabelSet>(
        &mut self,
        name: &str,
        help: &str,
        series: &[(S, u64)],
    ) -> std::fmt::Result {
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Counter)?;
        for (labels, value) in series {
            metric
                .encode_family(labels)?
                .encode_counter::<NoLabelSet, _, u64>(value, None)?;
        }
        Ok(())
    }

    fn histogram(
        &mut self,
        name: &str,
        help: &str,
        labels: &Labels,
        h: &Histogram,
    ) -> std::fmt::Result {
        let mut metric = self
            .0
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        metric
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets(), None)
    }
}

/// Seconds since the Unix epoch (the value of vLLM's LoRA info gauge).
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
