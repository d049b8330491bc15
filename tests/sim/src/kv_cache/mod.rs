//! The paged KV cache with prefix caching, shaped like vLLM V1's block pool.
//!
//! Blocks hold `block_size` tokens. A full block is identified by a chained
//! hash over its parent's hash and its tokens, so a block hash names a whole
//! prefix. Blocks no request holds go to an LRU free queue but keep their hash:
//! until the queue hands them out for new tokens, a later request with the same
//! prefix takes them back instead of recomputing them.

mod free_list;

use std::{collections::HashMap, sync::Arc};

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::kv_events::KvEvent;
use free_list::FreeList;

/// Hash that seeds the chain of a sequence: 0 for the base model, the hash of
/// the adapter name for a LoRA adapter (its KV differs from the base model's).
pub fn root_hash(lora: Option<&str>) -> u64 {
    lora.map_or(0, |name| xxh3_64(name.as_bytes()))
}

/// Hash of a full block: XXH3-64 of its token ids (little-endian u32) seeded
/// with the parent block's hash (or [`root_hash`] for the first block).
pub fn block_hash(parent: u64, tokens: &[u32]) -> u64 {
    let mut hasher = Xxh3::with_seed(parent);
    for token in tokens {
        hasher.update(&token.to_le_bytes());
    }
    hasher.digest()
}

/// Hashes of every full block of `tokens`.
pub fn block_hashes(tokens: &[u32], block_size: usize, lora: Option<&str>) -> Vec<u64> {
    let mut parent = root_hash(lora);
    tokens
        .chunks_exact(block_size)
        .map(|block| {
            parent = block_hash(parent, block);
            parent
        })
        .collect()
}

#[derive(Debug, Clone, Copy, Default)]
struct Block {
    ref_cnt: u32,
    hash: Option<u64>,
}

/// The GPU's KV blocks: reference counts, the hash → block map of cached
/// blocks and the LRU queue of free blocks.
#[derive(Debug)]
pub(crate) struct BlockPool {
    block_size: usize,
    blocks: Vec<Block>,
    free: FreeList,
    cached: HashMap<u64, u32>,
    events: Vec<KvEvent>,
    record_events: bool,
}

impl BlockPool {
    pub(crate) fn new(num_blocks: u32, block_size: usize) -> Self {
        Self {
            block_size,
            blocks: vec![Block::default(); num_blocks as usize],
            free: FreeList::full(num_blocks),
            cached: HashMap::new(),
            events: Vec::new(),
            record_events: false,
        }
    }

    pub(crate) fn block_size(&self) -> usize {
        self.block_size
    }

    pub(crate) fn num_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Blocks no request holds, cached or not.
    pub(crate) fn num_free(&self) -> usize {
        self.free.len()
    }

    /// Fraction of blocks held by requests, as vLLM's `kv_cache_usage_perc`:
    /// cached blocks nobody holds count as free.
    pub(crate) fn usage(&self) -> f64 {
        1.0 - self.num_free() as f64 / self.num_blocks() as f64
    }

    /// Free blocks that still hold a cached prefix.
    pub(crate) fn num_cached_free(&self) -> usize {
        self.free
            .iter()
            .filter(|&b| self.blocks[b as usize].hash.is_some())
            .count()
    }

    /// Hashes of every cached block, held or free.
    pub(crate) fn cached_hashes(&self) -> Vec<u64> {
        self.cached.keys().copied().collect()
    }

    /// The block caching `hash`, if any.
    pub(crate) fn lookup(&self, hash: u64) -> Option<u32> {
        self.cached.get(&hash).copied()
    }

    /// Whether taking `block` would remove it from the free queue.
    pub(crate) fn is_free(&self, block: u32) -> bool {
        self.free.contains(block)
    }

    /// Takes a reference to a cached block found by [`Self::lookup`].
    pub(crate) fn acquire(&mut self, block: u32) {
        if self.free.contains(block) {
            self.free.remove(block);
        }
        self.blocks[block as usize].ref_cnt += 1;
    }

    /// Takes the least recently freed block for new tokens, evicting its
    /// cached prefix if it had one.
    pub(crate) fn allocate(&mut self) -> Option<u32> {
        let block = self.free.pop_front()?;
        self.evict(block);
        self.blocks[block as usize].ref_cnt = 1;
        Some(block)
    }

    /// Drops a reference; a block nobody holds joins the free queue's tail.
    pub(crate) fn release(&mut self, block: u32) {
        let entry = &mut self.blocks[block as usize];
        entry.ref_cnt -= 1;
        if entry.ref_cnt == 0 {
            self.free.push_back(block);
        }
    }

    /// Marks a full, computed block as cached under `hash`. A second block with
    /// a hash already cached (two requests prefilling the same prefix in one
    /// step) stays uncached, as in vLLM.
    pub(crate) fn store(
        &mut self,
        block: u32,
        hash: u64,
        parent: Option<u64>,
        tokens: &[u32],
        lora: Option<&Arc<str>>,
    ) {
        if self.cached.contains_key(&hash) || self.blocks[block as usize].hash.is_some() {
            return;
        }
        self.blocks[block as usize].hash = Some(hash);
        self.cached.insert(hash, block);
        if self.record_events {
            self.events.push(KvEvent::BlockStored {
                block_hash: hash,
                parent_block_hash: parent,
                token_ids: tokens.to_vec(),
                lora_name: lora.cloned(),
            });
        }
    }

    /// Drops the cached prefix of every free block (vLLM's
    /// `/reset_prefix_cache`, SGLang's `/flush_cache`). Returns how many.
    pub(crate) fn flush_free(&mut self) -> usize {
        let cached_free: Vec<u32> = self
            .free
            .iter()
            .filter(|&b| self.blocks[b as usize].hash.is_some())
            .collect();
        for &block in &cached_free {
            self.evict(block);
        }
        cached_free.len()
    }

    /// Turns event recording on or off (off when nobody listens).
    pub(crate) fn record_events(&mut self, on: bool) {
        self.record_events = on;
    }

    /// Events since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<KvEvent> {
        std::mem::take(&mut self.events)
    }

    fn evict(&mut self, block: u32) {
        if let Some(hash) = self.blocks[block as usize].hash.take() {
            self.cached.remove(&hash);
            if self.record_events {
                self.events.push(KvEvent::BlockRemoved { block_hash: hash });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_hashes_name_whole_prefixes() {
        let a = block_hashes(&[1, 2, 3, 4, 5, 6, 7, 8, 9], 4, None);
        let b = block_hashes(&[9, 2, 3, 4, 5, 6, 7, 8], 4, None);
        assert_eq!(a.len(), 2);
        assert_ne!(a[1], b[1], "same tokens after a different parent");
        assert_ne!(a, block_hashes(&[1, 2, 3, 4, 5, 6, 7, 8], 4, Some("lora")));
    }

    #[test]
    fn evicts_least_recently_freed_cached_block_first() {
        let mut pool = BlockPool::new(3, 4);
        pool.record_events(true);
        let blocks: Vec<u32> = (0..3).map(|_| pool.allocate().unwrap()).collect();
        for (i, &b) in blocks.iter().enumerate() {
            pool.store(b, 100 + i as u64, None, &[0; 4], None);
        }
        assert!(pool.allocate().is_none());
        assert_eq!(pool.usage(), 1.0);
        for &b in blocks.iter().rev() {
            pool.release(b);
        }
        assert_eq!(pool.usage(), 0.0);
        assert_eq!(pool.num_cached_free(), 3);
        // A prefix hit takes block 0 back out of the free queue.
        let hit = pool.lookup(100).unwrap();
        assert!(pool.is_free(hit));
        pool.acquire(hit);
        // The next allocation evicts the least recently freed: block 2.
        assert_eq!(pool.allocate(), Some(blocks[2]));
        assert_eq!(pool.lookup(102), None);
        assert_eq!(pool.lookup(101), Some(blocks[1]));
        let events = pool.take_events();
        assert_eq!(events.len(), 4);
        assert_eq!(events[3], KvEvent::BlockRemoved { block_hash: 102 });
    }

    #[test]
    fn flush_drops_only_free_cached_blocks() {
        let mut pool = BlockPool::new(2, 4);
        let (a, b) = (pool.allocate().unwrap(), pool.allocate().unwrap());
        pool.store(a, 1, None, &[0; 4], None);
        pool.store(b, 2, None, &[0; 4], None);
        pool.release(a);
        assert_eq!(pool.flush_free(), 1);
        assert_eq!(pool.cached_hashes(), [2]);
    }
}
