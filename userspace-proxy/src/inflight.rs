//! The proxy's own in-flight requests per endpoint: decided since the last
//! scrape, so not yet in the agent's score. A guard held by the response
//! body gives the slot back when the response ends or is dropped.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

/// In-flight counts by endpoint id.
#[derive(Default)]
pub struct Inflight {
    counts: RwLock<HashMap<u32, Arc<AtomicU64>>>,
}

/// One in-flight request; dropping it ends it.
pub struct InflightGuard(Arc<AtomicU64>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Inflight {
    /// Requests in flight to an endpoint.
    pub fn get(&self, id: u32) -> u64 {
        self.counts.read().expect("inflight lock").get(&id).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Starts a request to an endpoint.
    pub fn start(&self, id: u32) -> InflightGuard {
        let counter = self.counts.read().expect("inflight lock").get(&id).cloned();
        let counter = match counter {
            Some(c) => c,
            None => self.counts.write().expect("inflight lock").entry(id).or_default().clone(),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        InflightGuard(counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_release() {
        let inflight = Inflight::default();
        let a = inflight.start(3);
        let b = inflight.start(3);
        assert_eq!(inflight.get(3), 2);
        drop(a);
        assert_eq!(inflight.get(3), 1);
        drop(b);
        assert_eq!((inflight.get(3), inflight.get(9)), (0, 0));
    }
}
