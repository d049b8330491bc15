//! A request inside the engine: its tokens, KV blocks and timings.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::request::TokenEvent;
use crate::{kv_cache, tokenizer};

/// A request as the scheduler sees it (vLLM's `Request`).
#[derive(Debug)]
pub(crate) struct Sequence {
    pub(crate) id: u64,
    /// Prompt followed by the generated tokens.
    pub(crate) tokens: Vec<u32>,
    pub(crate) prompt_len: usize,
    /// Output tokens to generate before finishing.
    pub(crate) target_len: usize,
    pub(crate) max_tokens: usize,
    /// Tokens whose KV is in the cache.
    pub(crate) computed: usize,
    /// Tokens scheduled in the step in flight.
    pub(crate) scheduled: usize,
    pub(crate) blocks: Vec<u32>,
    /// Chained hashes of the full blocks of `tokens`.
    pub(crate) hashes: Vec<u64>,
    /// Leading blocks already registered in the prefix cache.
    pub(crate) stored_blocks: usize,
    /// Adapter index and name.
    pub(crate) lora: Option<(usize, Arc<str>)>,
    /// Prefix-cache hit at first admission, in tokens.
    pub(crate) cached_tokens: Option<usize>,
    pub(crate) preemptions: u32,
    pub(crate) text_seed: u64,
    pub(crate) arrival: f64,
    pub(crate) first_scheduled: Option<f64>,
    pub(crate) last_token_at: Option<f64>,
    pub(crate) sink: mpsc::UnboundedSender<TokenEvent>,
}

impl Sequence {
    pub(crate) fn num_tokens(&self) -> usize {
        self.tokens.len()
    }

    pub(crate) fn output_len(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }

    pub(crate) fn lora_name(&self) -> Option<&str> {
        self.lora.as_ref().map(|(_, name)| &**name)
    }

    /// Extends `hashes` to cover every full block of `tokens`.
    pub(crate) fn update_hashes(&mut self, block_size: usize) {
        let full = self.tokens.len() / block_size;
        while self.hashes.len() < full {
            let i = self.hashes.len();
            let parent = match i {
                0 => kv_cache::root_hash(self.lora_name()),
                _ => self.hashes[i - 1],
            };
            let block = &self.tokens[i * block_size..(i + 1) * block_size];
            self.hashes.push(kv_cache::block_hash(parent, block));
        }
    }

    /// The next output token: text and id, fixed by the seed and position.
    pub(crate) fn next_token(&self) -> (&'static str, u32) {
        let position = self.output_len() as u64;
        tokenizer::output_piece(splitmix64(self.text_seed ^ position) as usize)
    }
}

/// SplitMix64: a stateless mix from (seed, position) to a pseudo-random word,
/// so generated text needs no per-request RNG state.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
