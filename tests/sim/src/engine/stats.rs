//! Counters and latency histograms the engine keeps for `/metrics`.

use serde::Serialize;

/// vLLM's `vllm:time_to_first_token_seconds` buckets.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// vLLM's `vllm:inter_token_latency_seconds` buckets.
pub const ITL_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// vLLM's request-latency buckets (e2e and queue time).
pub const REQUEST_LATENCY_BUCKETS: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// A fixed-bucket histogram (observations in model seconds).
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    /// Upper bounds, ascending; `+Inf` is implicit.
    pub bounds: &'static [f64],
    /// Observations per bucket (not cumulative); the last is the `+Inf` one.
    pub counts: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one value.
    pub fn observe(&mut self, value: f64) {
        let bucket = self.bounds.partition_point(|&b| b < value);
        self.counts[bucket] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// `(upper bound, count in that bucket)` pairs, not cumulative, the last
    /// bound `f64::MAX`: the shape prometheus-client's encoder takes (it sums
    /// the counts itself and writes `f64::MAX` as `le="+Inf"`).
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        self.bounds
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(self.counts.iter().copied())
            .collect()
    }
}

/// Engine-lifetime statistics.
#[derive(Debug, Clone, Serialize)]
pub struct EngineStats {
    /// Prompt tokens of requests whose prefill completed.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub generation_tokens: u64,
    /// Tokens looked up in the prefix cache at admission.
    pub prefix_cache_queries: u64,
    /// Of those, tokens found cached.
    pub prefix_cache_hits: u64,
    /// Requests preempted (KV blocks freed, recomputed later).
    pub preemptions: u64,
    /// Requests finished by reaching their sampled length.
    pub finished_stop: u64,
    /// Requests finished by reaching `max_tokens`.
    pub finished_length: u64,
    /// Requests aborted because the client went away.
    pub aborted: u64,
    /// Requests refused with 429.
    pub rejected: u64,
    /// Time to first token.
    pub ttft: Histogram,
    /// Time between consecutive output tokens.
    pub itl: Histogram,
    /// Arrival to last token.
    pub e2e: Histogram,
    /// Arrival to first scheduling.
    pub queue_time: Histogram,
    /// Output tokens per model second over the last full second.
    pub gen_throughput: f64,
    /// Times the engine trailed the wall clock by more than 20 ms and jumped
    /// ahead: the simulator process itself was the bottleneck.
    pub lagged_steps: u64,
    #[serde(skip)]
    window: ThroughputWindow,
}

#[derive(Debug, Clone, Copy, Default)]
struct ThroughputWindow {
    start: f64,
    tokens: u64,
}

impl Default for EngineStats {
    fn default() -> Self {
        Self {
            prompt_tokens: 0,
            generation_tokens: 0,
            prefix_cache_queries: 0,
            prefix_cache_hits: 0,
            preemptions: 0,
            finished_stop: 0,
            finished_length: 0,
            aborted: 0,
            rejected: 0,
            ttft: Histogram::new(TTFT_BUCKETS),
            itl: Histogram::new(ITL_BUCKETS),
            e2e: Histogram::new(REQUEST_LATENCY_BUCKETS),
            queue_time: Histogram::new(REQUEST_LATENCY_BUCKETS),
            gen_throughput: 0.0,
            lagged_steps: 0,
            window: ThroughputWindow::default(),
        }
    }
}

impl EngineStats {
    /// Counts one generated token produced at model time `now`.
    pub(crate) fn generated_token(&mut self, now: f64) {
        self.generation_tokens += 1;
        self.window.tokens += 1;
        let elapsed = now - self.window.start;
        if elapsed >= 1.0 {
            self.gen_throughput = self.window.tokens as f64 / elapsed;
            self.window = ThroughputWindow {
                start: now,
                tokens: 0,
            };
        }
    }

    /// Prefix-cache hit rate over the engine's lifetime (0 before any query).
    pub fn prefix_hit_rate(&self) -> f64 {
        match self.prefix_cache_queries {
            0 => 0.0,
            q => self.prefix_cache_hits as f64 / q as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_inclusive_upper_bounds() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.1, 0.5, 1.0, 7.0] {
            h.observe(v);
        }
        assert_eq!(h.buckets(), [(0.1, 1), (1.0, 2), (f64::MAX, 1)]);
        assert_eq!(h.count, 4);
    }
}
