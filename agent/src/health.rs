//! What the scrapes say about each endpoint: its last good metrics, how long
//! the last scrape took, and its run of failures, which decides readiness.

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use crate::scrape::{
    EngineMetrics,
    worker::{Outcome, TargetKey},
};

/// One endpoint's scrape record.
#[derive(Debug, Default, Clone)]
pub struct EndpointHealth {
    /// The last successful scrape: when, and what it said.
    pub last_ok: Option<(Instant, EngineMetrics)>,
    /// Failures since the last success.
    pub failures: u32,
    /// How long the last scrape took.
    pub last_took: Duration,
    /// The last failure's message, cleared on success.
    pub last_error: Option<String>,
    /// Failures by reason, since the agent started.
    pub errors: BTreeMap<&'static str, u64>,
}

/// Every scraped endpoint's record.
pub struct Health {
    endpoints: HashMap<TargetKey, EndpointHealth>,
    /// Consecutive failures that make an endpoint not ready.
    fail_threshold: u32,
}

impl Health {
    /// Endpoints go not ready after `fail_threshold` failed scrapes in a row.
    pub fn new(fail_threshold: u32) -> Self {
        Self { endpoints: HashMap::new(), fail_threshold: fail_threshold.max(1) }
    }

    /// Records a scrape; returns the endpoint's new readiness if it changed.
    pub fn record(&mut self, outcome: Outcome) -> Option<bool> {
        let threshold = self.fail_threshold;
        let h = self.endpoints.entry(outcome.key).or_default();
        let was_ready = h.failures < threshold;
        h.last_took = outcome.took;
        match outcome.result {
            Ok(metrics) => {
                h.last_ok = Some((outcome.at, metrics));
                h.failures = 0;
                h.last_error = None;
            }
            Err(e) => {
                h.failures = h.failures.saturating_add(1);
                *h.errors.entry(e.reason()).or_default() += 1;
                h.last_error = Some(e.to_string());
            }
        }
        let ready = h.failures < threshold;
        (ready != was_ready).then_some(ready)
    }

    /// The endpoint's metrics if its last success is within `staleness`.
    pub fn fresh(&self, key: &TargetKey, staleness: Duration) -> Option<EngineMetrics> {
        let (at, metrics) = self.endpoints.get(key)?.last_ok?;
        (at.elapsed() <= staleness).then_some(metrics)
    }

    /// An endpoint's record, if it was ever scraped.
    pub fn get(&self, key: &TargetKey) -> Option<&EndpointHealth> {
        self.endpoints.get(key)
    }

    /// Forgets endpoints that are no longer scraped.
    pub fn retain(&mut self, keep: impl Fn(&TargetKey) -> bool) {
        self.endpoints.retain(|k, _| keep(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::ScrapeError;

    fn outcome(result: Result<EngineMetrics, ScrapeError>) -> Outcome {
        let key = TargetKey { pool: "p".into(), endpoint: "127.0.0.1:1".parse().unwrap() };
        Outcome { key, at: Instant::now(), took: Duration::from_millis(1), result }
    }

    #[test]
    fn three_failures_in_a_row_make_an_endpoint_not_ready_and_one_success_restores_it() {
        let mut h = Health::new(3);
        assert_eq!(h.record(outcome(Ok(EngineMetrics::default()))), None);
        assert_eq!(h.record(outcome(Err(ScrapeError::Timeout))), None);
        assert_eq!(h.record(outcome(Err(ScrapeError::Status(500)))), None);
        assert_eq!(h.record(outcome(Err(ScrapeError::Timeout))), Some(false));
        assert_eq!(h.record(outcome(Err(ScrapeError::Timeout))), None);
        assert_eq!(h.record(outcome(Ok(EngineMetrics::default()))), Some(true));
        let key = outcome(Err(ScrapeError::Timeout)).key;
        let rec = h.get(&key).unwrap();
        assert_eq!(rec.errors.get("timeout"), Some(&3));
        assert_eq!(rec.errors.get("status"), Some(&1));
        assert!(h.fresh(&key, Duration::from_secs(1)).is_some());
        assert!(h.fresh(&key, Duration::ZERO).is_none());
    }
}
