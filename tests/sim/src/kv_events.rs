//! KV-cache events: the blocks a replica stores and evicts, as vLLM publishes
//! them with `--kv-events-config`, so exact prefix routing can be built on
//! them. Block hashes are those of [`crate::kv_cache::block_hash`].

use std::sync::Arc;

use serde::Serialize;

/// One change to the set of cached blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum KvEvent {
    /// A full block was computed and is now reusable by its hash.
    BlockStored {
        /// Hash of the block (covers its parent's hash and its tokens).
        block_hash: u64,
        /// Hash of the previous block of the sequence; `None` for the first.
        parent_block_hash: Option<u64>,
        /// The block's token ids.
        token_ids: Vec<u32>,
        /// LoRA adapter the block was computed with.
        lora_name: Option<Arc<str>>,
    },
    /// A cached block was evicted (reused for other tokens or flushed).
    BlockRemoved {
        /// Hash of the evicted block.
        block_hash: u64,
    },
}

/// The events of one engine step.
#[derive(Debug, Clone, Serialize)]
pub struct KvEventBatch {
    /// Model time of the step's end, in seconds.
    pub ts: f64,
    /// Events in the order they happened.
    pub events: Vec<KvEvent>,
}
