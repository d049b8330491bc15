//! The score model: per-endpoint load costs the kernel compares, and a pool's
//! saturation.
//!
//! An endpoint's cost (lower is better) in units of one waiting request
//! (`SCALE` = 1000 units) is
//!
//! ```text
//! agent score = SCALE × (queue × waiting + running × running + kv × kv/(1 − kv))
//! kernel cost = agent score + SCALE × conn × live connections
//! proxy cost  = agent score + SCALE × conn × in-flight requests (issue #5)
//! ```
//!
//! `kv/(1 − kv)` (with kv capped at 0.99) is an occupancy barrier: negligible
//! at low usage, steep as the cache fills and preemption nears. The agent
//! refreshes scores every scrape interval; between scrapes the kernel's live
//! connection count (and the proxy's own in-flight count) keeps new decisions
//! from herding onto whichever endpoint looked best at the last scrape.
//!
//! The `gie-default` preset reproduces the Gateway API Inference Extension
//! v1.5 default weighting (queue scorer 2, KV-cache scorer 2, both in 0..1 with
//! the queue normalised across the pool's endpoints, no connection term), for
//! side-by-side comparison.

use serde::{Deserialize, Serialize};

use crate::scrape::EngineMetrics;

/// Score units per waiting-request equivalent.
pub const SCALE: f64 = 1000.0;
/// The score of an endpoint whose metrics are stale or unknown: worse than any
/// plausible live score, so a pick avoids it unless both candidates are stale.
pub const STALE_SCORE: u32 = 1_000_000;
/// Largest KV usage fed to the barrier.
const KV_CAP: f64 = 0.99;

/// A named weighting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// kvlb's own: waiting 1, running 0.25, KV barrier 0.5, live connection 0.5.
    #[default]
    KvlbDefault,
    /// GIE v1.5 default: normalised queue 2, KV usage 2, no connection term.
    GieDefault,
}

/// The weights of one pool's score.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    /// The weighting family.
    pub preset: Preset,
    /// Per waiting request (kvlb) or per unit of normalised queue (gie).
    pub queue: f64,
    /// Per running request.
    pub running: f64,
    /// Per unit of the KV barrier (kvlb) or of KV usage (gie).
    pub kv: f64,
    /// Per live connection (kernel) or in-flight request (proxy).
    pub conn: f64,
}

impl Weights {
    /// A preset's weights.
    pub fn preset(preset: Preset) -> Self {
        match preset {
            Preset::KvlbDefault => Self { preset, queue: 1.0, running: 0.25, kv: 0.5, conn: 0.5 },
            Preset::GieDefault => Self { preset, queue: 2.0, running: 0.0, kv: 2.0, conn: 0.0 },
        }
    }

    /// Score units one live connection adds (the pool record's `conn_cost`).
    pub fn conn_cost(&self) -> u32 {
        to_units(self.conn)
    }
}

fn to_units(cost: f64) -> u32 {
    (cost * SCALE).round().clamp(0.0, f64::from(STALE_SCORE)) as u32
}

/// Scores for a pool's endpoints, in order; `None` marks stale or unknown
/// metrics.
pub fn scores(weights: &Weights, inputs: &[Option<EngineMetrics>]) -> Vec<u32> {
    let fresh = || inputs.iter().flatten();
    let q_min = fresh().map(|m| m.waiting).fold(f64::INFINITY, f64::min);
    let q_max = fresh().map(|m| m.waiting).fold(f64::NEG_INFINITY, f64::max);
    inputs
        .iter()
        .map(|input| match input {
            None => STALE_SCORE,
            Some(m) => to_units(match weights.preset {
                Preset::KvlbDefault => {
                    let kv = m.kv_usage.min(KV_CAP);
                    weights.queue * m.waiting + weights.running * m.running + weights.kv * kv / (1.0 - kv)
                }
                Preset::GieDefault => {
                    // GIE's queue scorer is (q_max − q)/(q_max − q_min), 1 when all
                    // are equal; as a cost that is its complement.
                    let queue = if q_max > q_min { (m.waiting - q_min) / (q_max - q_min) } else { 0.0 };
                    weights.queue * queue + weights.running * m.running + weights.kv * m.kv_usage
                }
            }),
        })
        .collect()
}

/// Thresholds of the saturation figure.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SaturationLimits {
    /// Waiting requests at which an endpoint counts as saturated.
    pub queue: f64,
    /// KV usage at which an endpoint counts as saturated.
    pub kv: f64,
}

impl Default for SaturationLimits {
    /// GIE's utilization detector: 5 waiting, 80 % KV.
    fn default() -> Self {
        Self { queue: 5.0, kv: 0.8 }
    }
}

/// The pool's saturation: the mean over endpoints of
/// `max(waiting / queue limit, kv / kv limit)`, a stale endpoint counting as
/// 1; an empty pool is saturated (1). As GIE's utilization detector computes.
pub fn saturation(limits: &SaturationLimits, inputs: &[Option<EngineMetrics>]) -> f64 {
    if inputs.is_empty() {
        return 1.0;
    }
    let per = inputs.iter().map(|i| i.as_ref().map_or(1.0, |m| endpoint_saturation(limits, m)));
    per.sum::<f64>() / inputs.len() as f64
}

/// Whether each endpoint is saturated on its own (its figure of
/// [`saturation`] at least 1); an endpoint without fresh metrics is not
/// (its stale score already keeps requests away).
pub fn saturated(limits: &SaturationLimits, inputs: &[Option<EngineMetrics>]) -> Vec<bool> {
    inputs.iter().map(|i| i.as_ref().is_some_and(|m| endpoint_saturation(limits, m) >= 1.0)).collect()
}

fn endpoint_saturation(limits: &SaturationLimits, m: &EngineMetrics) -> f64 {
    (m.waiting / limits.queue).max(m.kv_usage / limits.kv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(waiting: f64, running: f64, kv_usage: f64) -> Option<EngineMetrics> {
        Some(EngineMetrics { waiting, running, kv_usage })
    }

    #[test]
    fn kvlb_default_orders_by_queue_then_kv_pressure() {
        let w = Weights::preset(Preset::KvlbDefault);
        let s = scores(&w, &[m(0.0, 4.0, 0.2), m(2.0, 4.0, 0.2), m(0.0, 4.0, 0.95), None]);
        assert_eq!(s[0], 1125, "0.25×4 + 0.5×0.25 = 1.125 waiting-equivalents");
        assert!(s[1] > s[0] && s[2] > s[1], "a nearly full cache costs more than two waiting: {s:?}");
        assert_eq!(s[3], STALE_SCORE);
        assert_eq!(w.conn_cost(), 500);
    }

    #[test]
    fn gie_default_normalises_the_queue_across_the_pool() {
        let w = Weights::preset(Preset::GieDefault);
        let s = scores(&w, &[m(0.0, 9.0, 0.5), m(10.0, 0.0, 0.5), m(5.0, 0.0, 0.0)]);
        assert_eq!(s, vec![1000, 3000, 1000]);
        assert_eq!(scores(&w, &[m(3.0, 0.0, 0.0), m(3.0, 0.0, 0.0)]), vec![0, 0], "equal queues score alike");
        assert_eq!(w.conn_cost(), 0);
    }

    #[test]
    fn saturation_is_the_mean_of_the_worse_ratio() {
        let limits = SaturationLimits::default();
        let s = saturation(&limits, &[m(0.0, 0.0, 0.4), m(10.0, 0.0, 0.0), None]);
        assert!((s - (0.5 + 2.0 + 1.0) / 3.0).abs() < 1e-9, "{s}");
        assert_eq!(saturation(&limits, &[]), 1.0);
    }

    #[test]
    fn an_endpoint_is_saturated_by_its_queue_or_its_cache_not_by_its_batch() {
        let limits = SaturationLimits::default();
        let inputs = [m(0.0, 200.0, 0.5), m(5.0, 1.0, 0.1), m(0.0, 4.0, 0.8), None];
        assert_eq!(saturated(&limits, &inputs), vec![false, true, true, false]);
    }
}
