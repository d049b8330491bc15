//! Named hardware/model profiles and the step-time model they parameterise.
//!
//! A step's duration is a roofline estimate: the dense layers cost whichever is
//! larger of streaming the weights once from HBM and the FLOPs of every token
//! in the batch; attention adds the KV bytes each decode sequence reads and the
//! FLOPs of each prefill query against its context. docs/simulator.md derives
//! every number below from public datasheets and model configs.

use serde::Serialize;

/// The per-step cost parameters of one GPU + model pairing, all in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepCost {
    /// Fixed cost of every step (scheduling, kernel launches, sampling).
    pub fixed_s: f64,
    /// Streaming all weights from HBM once: the floor of any step.
    pub weights_s: f64,
    /// Dense-layer compute per batched token (2 x parameters FLOPs).
    pub per_token_s: f64,
    /// Per-sequence overhead (sampling, bookkeeping).
    pub per_seq_s: f64,
    /// Reading one context token's K and V during decode.
    pub kv_read_per_token_s: f64,
    /// Prefill attention per (query token, context token) pair.
    pub attention_pair_s: f64,
    /// Loading one LoRA adapter into a GPU slot.
    pub lora_load_s: f64,
}

/// What one engine step computes; the input of [`StepCost::step_time`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BatchShape {
    /// Sequences in the batch.
    pub seqs: usize,
    /// Tokens computed this step (prefill chunks plus one per decode).
    pub tokens: usize,
    /// Context tokens read by the decode sequences (one new token each).
    pub decode_context_tokens: usize,
    /// Causal (query, key) pairs of the prefill chunks.
    pub prefill_attention_pairs: u64,
    /// LoRA adapters loaded before this step.
    pub lora_loads: usize,
}

impl BatchShape {
    /// Adds `n` tokens of one sequence whose first `computed` tokens are
    /// already in the KV cache.
    pub fn add(&mut self, computed: usize, n: usize) {
        self.seqs += 1;
        self.tokens += n;
        if n == 1 {
            self.decode_context_tokens += computed + 1;
        } else {
            let (c, n) = (computed as u64, n as u64);
            self.prefill_attention_pairs += n * c + n * (n + 1) / 2;
        }
    }
}

impl StepCost {
    /// Model seconds one engine step with this batch takes.
    pub fn step_time(&self, batch: &BatchShape) -> f64 {
        let dense = self.weights_s.max(batch.tokens as f64 * self.per_token_s);
        self.fixed_s
            + dense
            + batch.seqs as f64 * self.per_seq_s
            + batch.decode_context_tokens as f64 * self.kv_read_per_token_s
            + batch.prefill_attention_pairs as f64 * self.attention_pair_s
            + batch.lora_loads as f64 * self.lora_load_s
    }
}

/// A named GPU + model pairing with vLLM's defaults for that GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profile {
    /// Name used on the command line (`h100-8b`).
    pub name: &'static str,
    /// One-line description.
    pub description: &'static str,
    /// KV-cache blocks that fit in GPU memory.
    pub num_gpu_blocks: usize,
    /// Tokens per KV-cache block.
    pub block_size: usize,
    /// vLLM `--max-num-seqs` default for this GPU.
    pub max_num_seqs: usize,
    /// vLLM `--max-num-batched-tokens` default for this GPU (API server).
    pub max_num_batched_tokens: usize,
    /// Longest prompt plus output a request may have.
    pub max_model_len: usize,
    /// Step-time parameters.
    pub cost: StepCost,
}

/// Llama-3.1-8B: 8.03e9 parameters, 32 layers, 32 query heads, 8 KV heads,
/// head dim 128, BF16.
mod llama_8b {
    pub const PARAMS: f64 = 8.03e9;
    pub const WEIGHT_BYTES: f64 = PARAMS * 2.0;
    /// K and V x 32 layers x 8 KV heads x 128 dims x 2 bytes.
    pub const KV_BYTES_PER_TOKEN: f64 = 2.0 * 32.0 * 8.0 * 128.0 * 2.0;
    /// 2 matmuls (QK^T, PV) x 2 FLOPs x 32 layers x 32 heads x 128 dims.
    pub const ATTENTION_FLOPS_PER_PAIR: f64 = 4.0 * 32.0 * 32.0 * 128.0;
}

/// Derives a profile's step cost from a GPU's achieved bandwidth and FLOPS.
const fn cost(bandwidth: f64, dense_flops: f64, attention_flops: f64) -> StepCost {
    StepCost {
        fixed_s: 0.0005,
        weights_s: llama_8b::WEIGHT_BYTES / bandwidth,
        per_token_s: 2.0 * llama_8b::PARAMS / dense_flops,
        per_seq_s: 5e-6,
        kv_read_per_token_s: llama_8b::KV_BYTES_PER_TOKEN / bandwidth,
        attention_pair_s: llama_8b::ATTENTION_FLOPS_PER_PAIR / attention_flops,
        lora_load_s: 0.01,
    }
}

/// KV blocks of 16 tokens left in `gpu_bytes` x 0.9 (vLLM's default
/// `gpu_memory_utilization`) after the weights and `overhead_bytes` of
/// activations and CUDA graphs.
const fn kv_blocks(gpu_bytes: f64, overhead_bytes: f64) -> usize {
    let free = gpu_bytes * 0.9 - llama_8b::WEIGHT_BYTES - overhead_bytes;
    (free / llama_8b::KV_BYTES_PER_TOKEN / 16.0) as usize
}

/// Every built-in profile.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "h100-8b",
        description: "H100 SXM 80GB, Llama-3.1-8B BF16 (3.35 TB/s, 989 TFLOPS)",
        num_gpu_blocks: kv_blocks(80e9, 3.5e9),
        block_size: 16,
        max_num_seqs: 1024,
        max_num_batched_tokens: 8192,
        max_model_len: 32768,
        cost: cost(3.35e12 * 0.85, 989e12 * 0.6, 989e12 * 0.4),
    },
    Profile {
        name: "a100-8b",
        description: "A100 SXM 80GB, Llama-3.1-8B BF16 (2.04 TB/s, 312 TFLOPS)",
        num_gpu_blocks: kv_blocks(80e9, 3.5e9),
        block_size: 16,
        max_num_seqs: 256,
        max_num_batched_tokens: 2048,
        max_model_len: 32768,
        cost: cost(2.039e12 * 0.85, 312e12 * 0.6, 312e12 * 0.45),
    },
    Profile {
        name: "l4-8b",
        description: "L4 24GB, Llama-3.1-8B BF16 (300 GB/s, 121 TFLOPS)",
        num_gpu_blocks: kv_blocks(24e9, 1.5e9),
        block_size: 16,
        max_num_seqs: 256,
        max_num_batched_tokens: 2048,
        max_model_len: 8192,
        cost: cost(300e9 * 0.85, 121e12 * 0.55, 121e12 * 0.4),
    },
];

/// Looks a profile up by name.
pub fn find(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The profile names, comma separated (for error messages).
pub fn names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> &'static Profile {
        find("h100-8b").unwrap()
    }

    #[test]
    fn h100_decode_is_memory_bound_near_published_itl() {
        let mut batch = BatchShape::default();
        batch.add(1000, 1);
        let itl = h100().cost.step_time(&batch);
        assert!((0.005..0.009).contains(&itl), "single-stream ITL {itl}");
    }

    #[test]
    fn prefill_grows_linearly_plus_attention() {
        let cost = h100().cost;
        let time = |n| {
            let mut batch = BatchShape::default();
            batch.add(0, n);
            cost.step_time(&batch)
        };
        assert!(time(4000) > 1.9 * time(2000));
        assert!(time(2000) < 0.1, "2k-token prefill {}", time(2000));
    }

    #[test]
    fn kv_capacity_matches_memory_arithmetic() {
        assert!((24_000..26_000).contains(&h100().num_gpu_blocks));
        assert!((1_800..2_000).contains(&find("l4-8b").unwrap().num_gpu_blocks));
    }
}
