//! Triton TensorRT-LLM backend metrics (`nv_trt_llm_*` gauges with a type
//! label, `model` and `version` labels).

use super::{Encoder, Scrape};

pub(super) fn encode(s: &Scrape, m: &mut Encoder) -> std::fmt::Result {
    let load = &s.load;
    let model = s.model.as_str();
    let series = |key, kind| [("model", model), (key, kind), ("version", "1")];
    let request = |kind| series("request_type", kind);
    m.gauges(
        "nv_trt_llm_request_metrics",
        "TRT LLM request metrics",
        &[
            (request("active"), (load.running + load.waiting) as f64),
            (request("context"), load.prefilling as f64),
            (request("max"), s.max_num_seqs as f64),
            (request("scheduled"), load.running as f64),
            (request("waiting"), load.waiting as f64),
        ],
    )?;
    let block = |kind| series("kv_cache_block_type", kind);
    let free = load.num_gpu_blocks - load.used_blocks;
    m.gauges(
        "nv_trt_llm_kv_cache_block_metrics",
        "TRT LLM KV cache block metrics",
        &[
            (block("fraction"), load.kv_cache_usage),
            (block("free"), free as f64),
            (block("max"), load.num_gpu_blocks as f64),
            (block("tokens_per"), load.block_size as f64),
            (block("used"), load.used_blocks as f64),
        ],
    )?;
    let batcher = |kind| series("inflight_batcher_specific_metric", kind);
    m.gauges(
        "nv_trt_llm_inflight_batcher_metrics",
        "TRT LLM inflight_batcher-specific metrics",
        &[
            (batcher("generation_requests"), load.running as f64),
            (batcher("micro_batch_id"), 0.0),
            (batcher("paused_requests"), 0.0),
            (batcher("total_context_tokens"), load.computed_tokens as f64),
        ],
    )
}
