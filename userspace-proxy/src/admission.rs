//! Priority admission: a request names its objective in the
//! `x-gateway-inference-objective` header; the objective's priority follows
//! InferenceObjective's meaning (higher is more important, below zero is
//! sheddable, absent or unknown is 0). While the request's pool is saturated,
//! sheddable requests are refused with 429 and Retry-After; nothing else is
//! ever refused, so no request is shed while a lower-priority one is admitted.

use std::collections::HashMap;

/// The header that names a request's objective.
pub const OBJECTIVE_HEADER: &str = "x-gateway-inference-objective";

/// Seconds a shed client is told to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// A request's priority, from its objective.
pub fn priority(objective: Option<&str>, objectives: &HashMap<String, i32>) -> i32 {
    objective.and_then(|o| objectives.get(o)).copied().unwrap_or(0)
}

/// Whether to admit a request of `priority` to a pool at `saturation`
/// (1.0 = saturated; `None` when the pool has no fresh figure, which
/// admits: without evidence of saturation nothing is shed).
pub fn admit(priority: i32, saturation: Option<f64>) -> bool {
    priority >= 0 || saturation.is_none_or(|s| s < 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sheddable_requests_are_refused_and_only_when_saturated() {
        let objectives = HashMap::from([("batch".to_owned(), -1), ("chat".to_owned(), 5)]);
        let batch = priority(Some("batch"), &objectives);
        let chat = priority(Some("chat"), &objectives);
        assert_eq!((batch, chat, priority(Some("other"), &objectives), priority(None, &objectives)), (-1, 5, 0, 0));
        assert!(!admit(batch, Some(1.2)));
        assert!(admit(batch, Some(0.7)));
        assert!(admit(batch, None));
        assert!(admit(chat, Some(5.0)) && admit(0, Some(5.0)));
    }
}
