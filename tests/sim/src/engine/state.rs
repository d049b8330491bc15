//! Ground truth: the exact instantaneous state of one replica, as served by
//! `/debug/state` and [`crate::Engine::snapshot`].

use serde::Serialize;

use super::{core::EngineCore, sequence::Sequence, stats::EngineStats};

/// One request's progress.
#[derive(Debug, Clone, Serialize)]
pub struct RequestState {
    /// Engine-wide request id.
    pub id: u64,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Tokens generated so far.
    pub output_tokens: usize,
    /// Output length the request will stop at (ground truth a router cannot see).
    pub target_output_tokens: usize,
    /// Tokens whose KV is computed.
    pub computed_tokens: usize,
    /// KV blocks held.
    pub blocks: usize,
    /// Prefix-cache hit at first admission, in tokens.
    pub cached_tokens: Option<usize>,
    /// Times preempted.
    pub preemptions: u32,
    /// LoRA adapter.
    pub lora: Option<String>,
    /// Arrival, model seconds.
    pub arrival_s: f64,
}

impl From<&Sequence> for RequestState {
    fn from(seq: &Sequence) -> Self {
        Self {
            id: seq.id,
            prompt_tokens: seq.prompt_len,
            output_tokens: seq.output_len(),
            target_output_tokens: seq.target_len,
            computed_tokens: seq.computed,
            blocks: seq.blocks.len(),
            cached_tokens: seq.cached_tokens,
            preemptions: seq.preemptions,
            lora: seq.lora_name().map(str::to_string),
            arrival_s: seq.arrival,
        }
    }
}

/// A replica's state at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct EngineState {
    /// Served model.
    pub model: String,
    /// Profile name.
    pub profile: String,
    /// Model time now, seconds.
    pub now_s: f64,
    /// Steps completed.
    pub steps: u64,
    /// Total KV blocks.
    pub num_gpu_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
    /// Blocks held by requests.
    pub used_blocks: usize,
    /// Blocks no request holds (including cached ones).
    pub free_blocks: usize,
    /// Free blocks that still hold a reusable prefix.
    pub cached_free_blocks: usize,
    /// `used_blocks / num_gpu_blocks`, as `vllm:kv_cache_usage_perc`.
    pub kv_cache_usage: f64,
    /// Waiting queue, front first.
    pub waiting: Vec<RequestState>,
    /// Running batch, in admission order.
    pub running: Vec<RequestState>,
    /// Loaded LoRA adapters, least recently used first.
    pub loaded_loras: Vec<String>,
    /// Hashes of every cached block (omitted on request).
    pub cached_block_hashes: Option<Vec<u64>>,
    /// Lifetime counters and histograms.
    pub stats: EngineStats,
}

impl EngineCore {
    /// Copies out the state; `now` is the current model time.
    pub(crate) fn state(&self, now: f64, with_hashes: bool) -> EngineState {
        EngineState {
            model: self.config.model.clone(),
            profile: self.config.profile.name.to_string(),
            now_s: now,
            steps: self.steps,
            num_gpu_blocks: self.pool.num_blocks(),
            block_size: self.pool.block_size(),
            used_blocks: self.pool.num_blocks() - self.pool.num_free(),
            free_blocks: self.pool.num_free(),
            cached_free_blocks: self.pool.num_cached_free(),
            kv_cache_usage: self.pool.usage(),
            waiting: self.waiting.iter().map(RequestState::from).collect(),
            running: self.running.iter().map(RequestState::from).collect(),
            loaded_loras: self
                .loras
                .loaded()
                .iter()
                .map(|&a| self.config.lora_adapters[a].to_string())
                .collect(),
            cached_block_hashes: with_hashes.then(|| self.pool.cached_hashes()),
            stats: self.stats.clone(),
        }
    }
}

/// The aggregate numbers `/metrics` and `/get_load` report, cheaper than
/// [`EngineState`] (no per-request lists).
#[derive(Debug, Clone, Serialize)]
pub struct LoadSnapshot {
    /// Requests in the running batch.
    pub running: usize,
    /// Requests in the waiting queue.
    pub waiting: usize,
    /// Running requests that have not produced their first token.
    pub prefilling: usize,
    /// Total KV blocks.
    pub num_gpu_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
    /// Blocks held by requests.
    pub used_blocks: usize,
    /// Fraction of blocks held by requests.
    pub kv_cache_usage: f64,
    /// Tokens whose KV the running requests hold.
    pub computed_tokens: usize,
    /// Prompt tokens of the waiting requests.
    pub waiting_tokens: usize,
    /// Adapters used by running requests.
    pub running_loras: Vec<String>,
    /// Adapters wanted by waiting requests.
    pub waiting_loras: Vec<String>,
    /// Lifetime counters and histograms.
    pub stats: EngineStats,
}

impl EngineCore {
    /// Copies out the aggregate load.
    pub(crate) fn load(&self) -> LoadSnapshot {
        let adapters = |seqs: &mut dyn Iterator<Item = &Sequence>| {
            let mut names: Vec<String> = seqs
                .filter_map(|s| s.lora_name())
                .map(str::to_string)
                .collect();
            names.sort_unstable();
            names.dedup();
            names
        };
        LoadSnapshot {
            running: self.running.len(),
            waiting: self.waiting.len(),
            prefilling: self
                .running
                .iter()
                .filter(|s| s.last_token_at.is_none())
                .count(),
            num_gpu_blocks: self.pool.num_blocks(),
            block_size: self.pool.block_size(),
            used_blocks: self.pool.num_blocks() - self.pool.num_free(),
            kv_cache_usage: self.pool.usage(),
            computed_tokens: self.running.iter().map(|s| s.computed).sum(),
            waiting_tokens: self.waiting.iter().map(|s| s.num_tokens()).sum(),
            running_loras: adapters(&mut self.running.iter()),
            waiting_loras: adapters(&mut self.waiting.iter()),
            stats: self.stats.clone(),
        }
    }
}
