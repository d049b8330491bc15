//! Percentiles and the run summary the load generator prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::request::Outcome;

/// The `p`-th percentile (0..=100) of ascending `sorted` values, linearly
/// interpolated between the two nearest ranks (numpy's default); `None`
/// for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = p.clamp(0.0, 100.0) / 100.0 * last as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    Some(sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64))
}

/// What a run measured. Durations are milliseconds and rates per second of
/// model time: wall time multiplied by the simulator's time scale.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Requests sent.
    pub requests: usize,
    /// Requests that streamed to the end.
    pub completed: usize,
    /// Requests that failed (status, transport, timeout, bad stream).
    pub errors: usize,
    /// `errors / requests`.
    pub error_rate: f64,
    /// Errors by kind (`status 429`, `timeout`, `connect`, ...).
    pub errors_by_kind: BTreeMap<String, usize>,
    /// Arrival rate asked for, requests per second (0 in closed loop).
    pub offered_qps: f64,
    /// From the first send to the last response.
    pub duration_s: f64,
    /// Time to first token, percentiles.
    pub ttft_p50_ms: Option<f64>,
    /// 90th percentile TTFT.
    pub ttft_p90_ms: Option<f64>,
    /// 99th percentile TTFT.
    pub ttft_p99_ms: Option<f64>,
    /// Inter-token latency (gaps between streamed tokens), median.
    pub itl_p50_ms: Option<f64>,
    /// 99th percentile inter-token latency.
    pub itl_p99_ms: Option<f64>,
    /// Mean inter-token latency.
    pub itl_mean_ms: Option<f64>,
    /// End-to-end latency, median.
    pub e2e_p50_ms: Option<f64>,
    /// 99th percentile end-to-end latency.
    pub e2e_p99_ms: Option<f64>,
    /// Output tokens of completed requests.
    pub output_tokens: u64,
    /// Output tokens per second over the run.
    pub output_tok_s: f64,
    /// Streamed chunks per wall-clock second (load on the client and server).
    pub chunks_per_wall_s: f64,
    /// The TTFT service-level objective goodput counts against.
    pub ttft_slo_ms: f64,
    /// Completed requests per second whose TTFT met the SLO.
    pub goodput_rps: f64,
    /// Prompt tokens of completed requests (from `usage`).
    pub prompt_tokens: u64,
    /// Of those, served from the prefix cache (`prompt_tokens_details.cached_tokens`).
    pub cached_tokens: u64,
    /// `cached_tokens / prompt_tokens`.
    pub prefix_hit_rate: f64,
    /// Model seconds per wall second of the server (1 = real time).
    pub time_scale: f64,
    /// Worst delay of a send behind its scheduled arrival, wall ms: large
    /// values mean the load generator itself could not keep up.
    pub max_send_lag_ms: f64,
}

/// Summarizes outcomes. `wall_s` is the run's wall-clock length; TTFTs are
/// counted against `ttft_slo_ms` in model time.
pub fn summarize(
    outcomes: &[Outcome],
    wall_s: f64,
    offered_qps: f64,
    ttft_slo_ms: f64,
    time_scale: f64,
) -> Summary {
    let model_ms = |wall: f64| wall * time_scale;
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v
    };
    let done: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_none()).collect();
    let ttft = sorted(
        done.iter()
            .filter_map(|o| o.ttft_ms)
            .map(model_ms)
            .collect(),
    );
    let itl = sorted(
        done.iter()
            .flat_map(|o| o.itl_ms.iter().map(|&g| model_ms(f64::from(g))))
            .collect(),
    );
    let e2e = sorted(done.iter().map(|o| model_ms(o.e2e_ms)).collect());
    let mut errors_by_kind = BTreeMap::new();
    for error in outcomes.iter().filter_map(|o| o.error.as_ref()) {
        *errors_by_kind.entry(error.kind()).or_insert(0) += 1;
    }
    let model_s = (wall_s * time_scale).max(f64::MIN_POSITIVE);
    let output_tokens: u64 = done.iter().map(|o| o.output_tokens).sum();
    let prompt_tokens: u64 = done.iter().map(|o| o.prompt_tokens).sum();
    let cached_tokens: u64 = done.iter().map(|o| o.cached_tokens).sum();
    let good = done
        .iter()
        .filter(|o| o.ttft_ms.is_some_and(|t| model_ms(t) <= ttft_slo_ms))
        .count();
    let errors = outcomes.len() - done.len();
    Summary {
        requests: outcomes.len(),
        completed: done.len(),
        errors,
        error_rate: if outcomes.is_empty() {
            0.0
        } else {
            errors as f64 / outcomes.len() as f64
        },
        errors_by_kind,
        offered_qps,
        duration_s: model_s,
        ttft_p50_ms: percentile(&ttft, 50.0),
        ttft_p90_ms: percentile(&ttft, 90.0),
        ttft_p99_ms: percentile(&ttft, 99.0),
        itl_p50_ms: percentile(&itl, 50.0),
        itl_p99_ms: percentile(&itl, 99.0),
        itl_mean_ms: (!itl.is_empty()).then(|| itl.iter().sum::<f64>() / itl.len() as f64),
        e2e_p50_ms: percentile(&e2e, 50.0),
        e2e_p99_ms: percentile(&e2e, 99.0),
        output_tokens,
        output_tok_s: output_tokens as f64 / model_s,
        chunks_per_wall_s: outcomes.iter().map(|o| o.chunks).sum::<u64>() as f64
            / wall_s.max(f64::MIN_POSITIVE),
        ttft_slo_ms,
        goodput_rps: good as f64 / model_s,
        prompt_tokens,
        cached_tokens,
        prefix_hit_rate: if prompt_tokens == 0 {
            0.0
        } else {
            cached_tokens as f64 / prompt_tokens as f64
        },
        time_scale,
        max_send_lag_ms: outcomes.iter().map(|o| o.send_lag_ms).fold(0.0, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestError;

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.5));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert!((percentile(&v, 99.0).unwrap() - 99.01).abs() < 1e-9);
        assert_eq!(percentile(&[7.0], 90.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0, 3.0], 50.0), Some(2.0));
    }

    fn ok(ttft_ms: f64, itl: &[f32], tokens: u64) -> Outcome {
        Outcome {
            ttft_ms: Some(ttft_ms),
            itl_ms: itl.to_vec(),
            e2e_ms: ttft_ms + itl.iter().map(|&x| f64::from(x)).sum::<f64>(),
            output_tokens: tokens,
            prompt_tokens: 100,
            cached_tokens: 25,
            chunks: tokens,
            ..Outcome::default()
        }
    }

    #[test]
    fn summary_counts_goodput_hits_and_errors_in_model_time() {
        let failed = Outcome {
            error: Some(RequestError::Status(429)),
            ..Outcome::default()
        };
        let outcomes = [ok(10.0, &[1.0, 3.0], 3), ok(30.0, &[2.0], 2), failed];
        // 2 wall seconds at time scale 10 = 20 model seconds.
        let s = summarize(&outcomes, 2.0, 1.5, 150.0, 10.0);
        assert_eq!((s.requests, s.completed, s.errors), (3, 2, 1));
        assert!((s.error_rate - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.errors_by_kind["status 429"], 1);
        assert_eq!(s.ttft_p50_ms, Some(200.0), "wall ms x 10");
        assert_eq!(s.itl_p50_ms, Some(20.0));
        assert_eq!(s.output_tok_s, 5.0 / 20.0);
        assert_eq!(
            s.goodput_rps,
            1.0 / 20.0,
            "only the 100 ms TTFT meets 150 ms"
        );
        assert_eq!(s.prefix_hit_rate, 0.25);
        assert_eq!(s.duration_s, 20.0);
    }
}
