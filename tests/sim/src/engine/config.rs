//! Engine configuration: a profile's defaults plus per-replica overrides.

use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;

use crate::{metrics::MetricsFlavor, profile::Profile};

/// Shape of the output-length distribution for requests without `ignore_eos`:
/// log-normal, capped at `max_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OutputLen {
    /// Median output length in tokens.
    pub median: f64,
    /// Standard deviation of the length's natural logarithm.
    pub sigma: f64,
}

impl Default for OutputLen {
    /// Median 180, sigma 0.9: mean ≈ 270 tokens with a long tail, close to
    /// ShareGPT's answer lengths.
    fn default() -> Self {
        Self {
            median: 180.0,
            sigma: 0.9,
        }
    }
}

/// A configuration value the engine cannot run with.
#[derive(Debug, Error)]
#[error("invalid engine configuration: {0}")]
pub struct InvalidConfig(String);

/// Everything one simulated replica needs.
#[derive(Debug, Clone, Serialize)]
pub struct EngineConfig {
    /// Served model name (`model` in requests and in `/v1/models`).
    pub model: String,
    /// Hardware/model profile the step time comes from.
    pub profile: Profile,
    /// KV-cache blocks.
    pub num_gpu_blocks: usize,
    /// Tokens per block.
    pub block_size: usize,
    /// Most sequences in the running batch.
    pub max_num_seqs: usize,
    /// Token budget of one step (prefill chunks plus decodes).
    pub max_num_batched_tokens: usize,
    /// Longest prompt plus output (clamped to the KV capacity).
    pub max_model_len: usize,
    /// Waiting-queue cap; a request beyond it gets HTTP 429.
    pub max_waiting: usize,
    /// LoRA adapters this replica serves (by name).
    pub lora_adapters: Vec<Arc<str>>,
    /// Adapters that can be loaded at once.
    pub max_loras: usize,
    /// Whether computed blocks are cached and reused.
    pub enable_prefix_caching: bool,
    /// Output-length distribution.
    pub output_len: OutputLen,
    /// Seed for output lengths and generated text.
    pub seed: u64,
    /// Model time runs this many times faster than wall time.
    pub time_scale: f64,
    /// Which engine's metric names `/metrics` uses.
    pub metrics_flavor: MetricsFlavor,
}

impl EngineConfig {
    /// A replica with `profile`'s defaults serving `model` at real speed.
    pub fn new(profile: &Profile, model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            profile: profile.clone(),
            num_gpu_blocks: profile.num_gpu_blocks,
            block_size: profile.block_size,
            max_num_seqs: profile.max_num_seqs,
            max_num_batched_tokens: profile.max_num_batched_tokens,
            max_model_len: profile.max_model_len,
            max_waiting: 1000,
            lora_adapters: Vec::new(),
            max_loras: 1,
            enable_prefix_caching: true,
            output_len: OutputLen::default(),
            seed: 0,
            time_scale: 1.0,
            metrics_flavor: MetricsFlavor::Vllm,
        }
    }

    /// Tokens the whole KV cache holds.
    pub fn kv_capacity_tokens(&self) -> usize {
        self.num_gpu_blocks * self.block_size
    }

    /// `max_model_len` as enforced: vLLM refuses to start when one sequence
    /// cannot fit the cache; the simulator clamps instead.
    pub fn effective_max_model_len(&self) -> usize {
        self.max_model_len.min(self.kv_capacity_tokens())
    }

    /// Checks the values an engine cannot run with.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let positive = [
            ("num_gpu_blocks", self.num_gpu_blocks),
            ("block_size", self.block_size),
            ("max_num_seqs", self.max_num_seqs),
            ("max_num_batched_tokens", self.max_num_batched_tokens),
            ("max_model_len", self.max_model_len),
            ("max_loras", self.max_loras),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(InvalidConfig(format!("{name} must be at least 1")));
        }
        if u32::try_from(self.num_gpu_blocks).is_err() {
            return Err(InvalidConfig("num_gpu_blocks must fit in 32 bits".into()));
        }
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(InvalidConfig("time_scale must be a positive number".into()));
        }
        if !(self.output_len.median >= 1.0 && self.output_len.sigma >= 0.0) {
            return Err(InvalidConfig(
                "output length median must be >= 1 and sigma >= 0".into(),
            ));
        }
        Ok(())
    }

    /// Index of a served LoRA adapter.
    pub fn lora_index(&self, name: &str) -> Option<usize> {
        self.lora_adapters.iter().position(|a| &**a == name)
    }
}
