//! Where each request goes: the given URLs in turn (one URL = a router or a
//! VIP under test), or the exact-state [`Oracle`] over simulator replicas.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{oracle::Oracle, trace::TraceRequest};

/// The destination policy of a run.
pub enum Target {
    /// Each request to the next URL in turn.
    RoundRobin {
        /// Base URLs.
        urls: Vec<String>,
        /// The next index.
        next: AtomicUsize,
    },
    /// Each request to the replica the oracle picks.
    Oracle(Oracle),
}

impl Target {
    /// Round robin over `urls` (at least one).
    pub fn round_robin(urls: Vec<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "--url: give at least one base URL");
        Ok(Self::RoundRobin {
            urls,
            next: AtomicUsize::new(0),
        })
    }

    /// The base URL for `request`.
    pub async fn pick(&self, request: &TraceRequest) -> &str {
        match self {
            Self::RoundRobin { urls, next } => {
                &urls[next.fetch_add(1, Ordering::Relaxed) % urls.len()]
            }
            Self::Oracle(oracle) => oracle.pick(request).await,
        }
    }
}
