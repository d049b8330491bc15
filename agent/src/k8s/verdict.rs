//! What kvlb made of one KvlbPool, and the status conditions that say so:
//! `Accepted` (the spec is valid and its VIP is its own) and `ResolvedRefs`
//! (the InferencePool and the Service exist and fit). Both depend only on
//! cluster-wide objects, never on one node's pods, so every agent reaches the
//! same verdict and any one of them may write it.

use std::net::SocketAddr;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::{Condition, Time}, jiff::Timestamp};

use super::crd::KvlbPoolStatus;

/// Condition type: the spec is valid and its VIP unique.
pub const ACCEPTED: &str = "Accepted";
/// Condition type: the InferencePool and the Service resolve.
pub const RESOLVED_REFS: &str = "ResolvedRefs";

/// Why a condition is False: a CamelCase reason and a message that starts
/// with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The condition reason.
    pub reason: &'static str,
    /// The field and what is wrong with it.
    pub message: String,
}

impl Problem {
    /// An invalid spec field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self { reason: "InvalidField", message: message.into() }
    }

    /// A problem with a reason of its own.
    pub fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self { reason, message: message.into() }
    }
}

/// The verdict on one KvlbPool.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// The generation judged.
    pub generation: Option<i64>,
    /// The VIP, once the Service resolves.
    pub vip: Option<SocketAddr>,
    /// `Accepted`.
    pub accepted: Result<(), Problem>,
    /// `ResolvedRefs`.
    pub resolved: Result<(), Problem>,
}

impl Verdict {
    /// Whether the pool belongs in the table.
    pub fn in_service(&self) -> bool {
        self.accepted.is_ok() && self.resolved.is_ok()
    }

    /// The status this verdict calls for. A condition whose status did not
    /// change keeps its `lastTransitionTime` from `previous`.
    pub fn status(&self, previous: Option<&KvlbPoolStatus>, now: Timestamp) -> KvlbPoolStatus {
        let condition = |kind: &str, result: &Result<(), Problem>, ok_reason: &str, ok_message: &str| {
            let (status, reason, message) = match result {
                Ok(()) => ("True", ok_reason.to_owned(), ok_message.to_owned()),
                Err(p) => ("False", p.reason.to_owned(), p.message.clone()),
            };
            let since = previous
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == kind && c.status == status))
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: kind.to_owned(),
                status: status.to_owned(),
                reason,
                message,
                observed_generation: self.generation,
                last_transition_time: since,
            }
        };
        KvlbPoolStatus {
            observed_generation: self.generation,
            vip: self.vip.map(|v| v.to_string()),
            conditions: vec![
                condition(ACCEPTED, &self.accepted, "Accepted", "kvlb routes this pool on every node with a ready local endpoint"),
                condition(RESOLVED_REFS, &self.resolved, "ResolvedRefs", "the InferencePool and the Service resolve"),
            ],
        }
    }
}

/// Whether two statuses say the same, transition times aside.
pub fn same_status(a: &KvlbPoolStatus, b: &KvlbPoolStatus) -> bool {
    let strip = |s: &KvlbPoolStatus| {
        let mut s = s.clone();
        for c in &mut s.conditions {
            c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
        }
        s
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(accepted: Result<(), Problem>) -> Verdict {
        Verdict {
            namespace: "models".into(),
            name: "llama".into(),
            generation: Some(3),
            vip: Some("127.96.0.10:8000".parse().unwrap()),
            accepted,
            resolved: Ok(()),
        }
    }

    #[test]
    fn conditions_carry_reason_message_and_observed_generation() {
        let bad = verdict(Err(Problem::invalid("spec.scoring.saturationKv: 2 is out of range (0, 1]")));
        let status = bad.status(None, Timestamp::UNIX_EPOCH);
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.vip.as_deref(), Some("127.96.0.10:8000"));
        let accepted = &status.conditions[0];
        assert_eq!((accepted.type_.as_str(), accepted.status.as_str(), accepted.reason.as_str()), ("Accepted", "False", "InvalidField"));
        assert!(accepted.message.starts_with("spec.scoring.saturationKv"), "{}", accepted.message);
        assert_eq!(accepted.observed_generation, Some(3));
        assert_eq!((status.conditions[1].type_.as_str(), status.conditions[1].status.as_str()), ("ResolvedRefs", "True"));
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time_and_a_changed_one_moves() {
        let then = Timestamp::from_second(1_000).unwrap();
        let now = Timestamp::from_second(2_000).unwrap();
        let first = verdict(Ok(())).status(None, then);
        let same = verdict(Ok(())).status(Some(&first), now);
        assert_eq!(same, first);
        let flipped = verdict(Err(Problem::invalid("spec.mode: no"))).status(Some(&first), now);
        assert_eq!(flipped.conditions[0].last_transition_time, Time(now));
        assert_eq!(flipped.conditions[1].last_transition_time, Time(then));
        assert!(!same_status(&first, &flipped));
        assert!(same_status(&first, &verdict(Ok(())).status(None, now)));
    }
}
