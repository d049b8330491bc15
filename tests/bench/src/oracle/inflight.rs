//! What the oracle sent where and the replica may not show yet: a request
//! still waiting or prefilling has no cached blocks, yet the next request
//! with its prefix should follow it. Prompts are cut into chained hashes of
//! fixed-size byte blocks; each replica keeps the blocks of its recent picks.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    time::{Duration, Instant},
};

/// Bytes per block (about 16 tokens of English-like text).
const BLOCK_BYTES: usize = 64;
/// How long a pick's blocks count as in flight.
const WINDOW: Duration = Duration::from_secs(2);

/// Chained hashes of the prompt's full blocks: block i's hash covers
/// bytes 0..(i+1)*BLOCK_BYTES.
pub fn block_hashes(prompt: &str) -> Vec<u64> {
    let mut previous = 0u64;
    prompt
        .as_bytes()
        .chunks_exact(BLOCK_BYTES)
        .map(|block| {
            let mut hasher = DefaultHasher::new();
            (previous, block).hash(&mut hasher);
            previous = hasher.finish();
            previous
        })
        .collect()
}

/// One replica's in-flight blocks.
#[derive(Default)]
pub struct InFlight {
    blocks: HashMap<u64, Instant>,
}

impl InFlight {
    /// Records a pick's blocks at `now` and forgets blocks older than the window.
    pub fn insert(&mut self, hashes: &[u64], now: Instant) {
        self.blocks.retain(|_, at| now - *at < WINDOW);
        self.blocks.extend(hashes.iter().map(|&h| (h, now)));
    }

    /// Bytes of the prompt's leading blocks in flight here.
    pub fn matched_bytes(&self, hashes: &[u64], now: Instant) -> usize {
        hashes
            .iter()
            .take_while(|h| self.blocks.get(h).is_some_and(|at| now - *at < WINDOW))
            .count()
            * BLOCK_BYTES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_longest_shared_run_of_blocks() {
        let system = "s".repeat(300);
        let a = block_hashes(&format!("{system} question one"));
        let b = block_hashes(&format!("{system} another question"));
        assert_eq!(a[..4], b[..4], "the first 256 bytes are shared");
        let now = Instant::now();
        let mut replica = InFlight::default();
        replica.insert(&a, now);
        assert_eq!(replica.matched_bytes(&b, now), 4 * BLOCK_BYTES);
        assert_eq!(
            replica.matched_bytes(&block_hashes(&"t".repeat(300)), now),
            0
        );
        assert_eq!(replica.matched_bytes(&b, now + WINDOW), 0, "expired");
    }
}
