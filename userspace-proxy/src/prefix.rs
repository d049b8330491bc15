//! Prompt-prefix affinity, as GIE's approximate prefix scorer does it: the
//! prompt bytes are cut into 64-byte blocks (16 tokens × ~4 bytes), each
//! block hashed with xxh64 over the block and its parent's hash (the chain
//! seeded with the model name), and a bounded LRU index remembers which
//! endpoints recently served each block. It is routing history, not ground
//! truth: a block the server since evicted still counts until it ages out.

use std::{collections::HashMap, num::NonZeroUsize, sync::Mutex};

use lru::LruCache;
use xxhash_rust::xxh64::xxh64;

/// Bytes per block.
pub const BLOCK_BYTES: usize = 64;
/// Blocks hashed per prompt at most (16 KiB, about 4,096 tokens).
pub const MAX_BLOCKS: usize = 256;

/// The chained block hashes of a prompt; a partial last block is not hashed.
pub fn block_hashes(model: &str, prompt: &[u8]) -> Vec<u64> {
    let mut parent = xxh64(model.as_bytes(), 0);
    let mut block = [0u8; BLOCK_BYTES + 8];
    prompt
        .chunks_exact(BLOCK_BYTES)
        .take(MAX_BLOCKS)
        .map(|chunk| {
            block[..BLOCK_BYTES].copy_from_slice(chunk);
            block[BLOCK_BYTES..].copy_from_slice(&parent.to_le_bytes());
            parent = xxh64(&block, 0);
            parent
        })
        .collect()
}

/// Which endpoints recently served which block, bounded by blocks.
pub struct PrefixIndex {
    blocks: Mutex<LruCache<u64, Vec<u32>>>,
}

/// Endpoints remembered per block at most.
const ENDPOINTS_PER_BLOCK: usize = 8;

impl PrefixIndex {
    /// An index remembering at most `capacity` blocks.
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self { blocks: Mutex::new(LruCache::new(capacity)) }
    }

    /// For each endpoint, how many leading blocks of `hashes` it served.
    pub fn matches(&self, hashes: &[u64]) -> HashMap<u32, usize> {
        let mut blocks = self.blocks.lock().expect("prefix index lock");
        let mut matched: HashMap<u32, usize> = HashMap::new();
        for (i, hash) in hashes.iter().enumerate() {
            let Some(endpoints) = blocks.get(hash) else { break };
            let mut extended = false;
            for &e in endpoints {
                let n = matched.entry(e).or_default();
                if *n == i {
                    *n += 1;
                    extended = true;
                }
            }
            if !extended {
                break;
            }
        }
        matched
    }

    /// Records that `endpoint` is serving a prompt with these blocks.
    pub fn record(&self, hashes: &[u64], endpoint: u32) {
        let mut blocks = self.blocks.lock().expect("prefix index lock");
        for &hash in hashes {
            let endpoints = blocks.get_or_insert_mut(hash, Vec::new);
            if let Some(pos) = endpoints.iter().position(|&e| e == endpoint) {
                endpoints.remove(pos);
            } else if endpoints.len() == ENDPOINTS_PER_BLOCK {
                endpoints.remove(0);
            }
            endpoints.push(endpoint);
        }
    }

    /// Blocks remembered.
    pub fn len(&self) -> usize {
        self.blocks.lock().expect("prefix index lock").len()
    }

    /// Whether no block is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_chain_over_full_blocks_and_depend_on_the_model() {
        let a = block_hashes("m", &[b'x'; 200]);
        assert_eq!(a.len(), 3, "a partial last block is not hashed");
        let b = block_hashes("m", &[b'x'; 128]);
        assert_eq!(&a[..2], &b[..], "equal prefixes hash alike");
        assert_ne!(a[0], a[1], "the chain makes equal blocks differ by position");
        assert_ne!(block_hashes("other", &[b'x'; 64]), block_hashes("m", &[b'x'; 64]));
        assert_eq!(block_hashes("m", &vec![b'y'; 64 * 1000]).len(), MAX_BLOCKS);
    }

    #[test]
    fn matches_count_leading_blocks_per_endpoint() {
        let index = PrefixIndex::new(NonZeroUsize::new(100).unwrap());
        let long = block_hashes("m", &[b'a'; 64 * 6]);
        index.record(&long[..4], 1);
        index.record(&long[..2], 2);
        let m = index.matches(&long);
        assert_eq!((m[&1], m[&2]), (4, 2));
        let other = block_hashes("m", &[b'b'; 64 * 3]);
        assert!(index.matches(&other).is_empty());
    }

    #[test]
    fn the_index_is_bounded() {
        let index = PrefixIndex::new(NonZeroUsize::new(10).unwrap());
        for i in 0..100u8 {
            index.record(&block_hashes("m", &[i; 64]), 1);
        }
        assert_eq!(index.len(), 10);
    }
}
