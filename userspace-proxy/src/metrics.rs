//! The proxy's Prometheus metrics: requests by model, pool, endpoint and
//! status; time to first byte and total latency as the proxy sees them;
//! tokens from the replies' usage; retries; sheds; in-flight requests; the
//! prefix index's size; the Endpoint Picker's decision time.

use std::{sync::Arc, time::Duration};

use prometheus_client::{
    encoding::text::encode,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::tap::Usage;

type Labels = Vec<(&'static str, String)>;

fn histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Microseconds to about 130 ms in steps of 2^¼ (±9 %), fine enough to read
/// a decision's p50 and p99 from.
fn decision_histogram() -> Histogram {
    Histogram::new((0..=68).map(|k| 1e-6 * 2f64.powf(f64::from(k) / 4.0)))
}

/// Every series, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    ttfb: Family<Labels, Histogram, fn() -> Histogram>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    tokens: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    sheds: Family<Labels, Counter>,
    inflight: Family<Labels, Gauge>,
    prefix_blocks: Gauge,
    epp_decision: Histogram,
    /// External providers' attempts, fallbacks and tokens.
    pub providers: crate::egress::metrics::ProviderMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kvlb_proxy");
        let requests = Family::<Labels, Counter>::default();
        let ttfb = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let duration = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(histogram);
        let tokens = Family::<Labels, Counter>::default();
        let retries = Family::<Labels, Counter>::default();
        let sheds = Family::<Labels, Counter>::default();
        let inflight = Family::<Labels, Gauge>::default();
        let prefix_blocks = Gauge::default();
        let epp_decision = decision_histogram();
        registry.register("requests", "Requests by model, pool, endpoint and status", requests.clone());
        registry.register("time_to_first_byte_seconds", "Time to the first response byte (first token when streaming)", ttfb.clone());
        registry.register("request_duration_seconds", "Time to the end of the response", duration.clone());
        registry.register("tokens", "Tokens the replies' usage reports, by model and kind (prompt, completion, cached)", tokens.clone());
        registry.register("retries", "Attempts moved to another endpoint after a failure", retries.clone());
        registry.register("sheds", "Requests refused by admission while their pool was saturated", sheds.clone());
        registry.register("inflight", "Requests in flight per endpoint", inflight.clone());
        registry.register("prefix_index_blocks", "Prompt blocks the prefix index remembers (at most --prefix-blocks)", prefix_blocks.clone());
        registry.register(
            "epp_decision_seconds",
            "Endpoint Picker: time from a request's headers and body to the answer sent to the gateway",
            epp_decision.clone(),
        );
        let providers = crate::egress::metrics::ProviderMetrics::register(&mut registry);
        Self { registry, requests, ttfb, duration, tokens, retries, sheds, inflight, prefix_blocks, epp_decision, providers }
    }
}

impl Metrics {
    /// Counts a retry away from a failed endpoint.
    pub fn retried(&self, pool: &str) {
        self.retries.get_or_create(&vec![("pool", pool.to_owned())]).inc();
    }

    /// Counts a shed request.
    pub fn shed(&self, pool: &str, objective: &str) {
        self.sheds.get_or_create(&vec![("pool", pool.to_owned()), ("objective", objective.to_owned())]).inc();
    }

    /// Counts a request answered by the proxy itself (an error).
    pub fn answered(&self, model: &str, pool: &str, status: u16) {
        self.requests.get_or_create(&request_labels(model, pool, "-", status)).inc();
    }

    /// Counts a response from `endpoint` with `status`.
    pub fn responded(&self, model: &str, pool: &str, endpoint: &str, status: u16) {
        self.requests.get_or_create(&request_labels(model, pool, endpoint, status)).inc();
    }

    /// Notes how long an Endpoint Picker decision took.
    pub fn decided(&self, elapsed: Duration) {
        self.epp_decision.observe(elapsed.as_secs_f64());
    }

    /// Sets an endpoint's in-flight gauge (done when metrics are read).
    pub fn set_inflight(&self, pool: &str, endpoint: String, n: u64) {
        self.inflight.get_or_create(&vec![("pool", pool.to_owned()), ("endpoint", endpoint)]).set(n as i64);
    }

    /// Sets the prefix index's size.
    pub fn set_prefix_blocks(&self, n: usize) {
        self.prefix_blocks.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

fn request_labels(model: &str, pool: &str, endpoint: &str, status: u16) -> Labels {
    vec![("model", model.to_owned()), ("pool", pool.to_owned()), ("endpoint", endpoint.to_owned()), ("status", status.to_string())]
}

/// One forwarded request's metrics, completed by its response body.
pub struct RequestRecord {
    metrics: Arc<Metrics>,
    model: String,
    pool: String,
}

impl RequestRecord {
    /// Counts a response from `endpoint` with `status`; the rest follows as
    /// the body streams.
    pub fn start(metrics: Arc<Metrics>, model: &str, pool: &str, endpoint: &str, status: u16) -> Self {
        metrics.responded(model, pool, endpoint, status);
        Self { metrics, model: model.to_owned(), pool: pool.to_owned() }
    }

    /// The first response byte arrived after `elapsed`.
    pub fn first_byte(&self, elapsed: Duration) {
        self.metrics.ttfb.get_or_create(&vec![("pool", self.pool.clone())]).observe(elapsed.as_secs_f64());
    }

    /// The body ended (`complete`) or was cut, after `elapsed`.
    pub fn finish(self, elapsed: Duration, usage: Option<Usage>, complete: bool) {
        let outcome = if complete { "complete" } else { "cut" };
        self.metrics
            .duration
            .get_or_create(&vec![("pool", self.pool.clone()), ("outcome", outcome.to_owned())])
            .observe(elapsed.as_secs_f64());
        if let Some(u) = usage {
            let cached = u.prompt_tokens_details.map_or(0, |d| d.cached_tokens);
            for (kind, n) in [("prompt", u.prompt_tokens), ("completion", u.completion_tokens), ("cached", cached)] {
                self.metrics.tokens.get_or_create(&vec![("model", self.model.clone()), ("kind", kind.to_owned())]).inc_by(n);
            }
        }
    }
}
