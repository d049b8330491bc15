//! SGLang's metric names (python/sglang/srt/metrics/collector.py).

use super::{Encoder, Scrape};

pub(super) fn encode(s: &Scrape, m: &mut Encoder) -> std::fmt::Result {
    let load = &s.load;
    let stats = &load.stats;
    let labels = [("model_name", s.model.as_str()), ("engine_type", "unified")];
    let labels = labels.as_slice();
    m.gauge(
        "sglang:num_running_reqs",
        "The number of running requests.",
        labels,
        load.running as f64,
    )?;
    m.gauge(
        "sglang:num_queue_reqs",
        "The number of requests in the waiting queue.",
        labels,
        load.waiting as f64,
    )?;
    m.gauge(
        "sglang:num_used_tokens",
        "The number of used tokens.",
        labels,
        (load.used_blocks * load.block_size) as f64,
    )?;
    m.gauge(
        "sglang:max_total_num_tokens",
        "Maximum total number of tokens in the KV cache pool.",
        labels,
        (load.num_gpu_blocks * load.block_size) as f64,
    )?;
    m.gauge(
        "sglang:token_usage",
        "The token usage.",
        labels,
        load.kv_cache_usage,
    )?;
    m.gauge(
        "sglang:cache_hit_rate",
        "The prefix cache hit rate.",
        labels,
        stats.prefix_hit_rate(),
    )?;
    m.gauge(
        "sglang:gen_throughput",
        "The generation throughput (token/s).",
        labels,
        stats.gen_throughput,
    )?;
    let page_size = load.block_size.to_string();
    let num_pages = load.num_gpu_blocks.to_string();
    let info = [
        ("model_name", s.model.as_str()),
        ("page_size", page_size.as_str()),
        ("num_pages", num_pages.as_str()),
    ];
    m.gauge(
        "sglang:cache_config_info",
        "Cache configuration.",
        &info,
        1.0,
    )?;
    m.counter(
        "sglang:num_retracted_requests",
        "Total number of retracted requests.",
        labels,
        stats.preemptions,
    )?;
    m.counter(
        "sglang:prompt_tokens",
        "Number of prefill tokens processed.",
        labels,
        stats.prompt_tokens,
    )?;
    m.counter(
        "sglang:generation_tokens",
        "Number of generation tokens processed.",
        labels,
        stats.generation_tokens,
    )?;
    m.counter(
        "sglang:cached_tokens",
        "Number of cached prompt tokens.",
        labels,
        stats.prefix_cache_hits,
    )?;
    m.counter(
        "sglang:num_requests",
        "Number of requests processed.",
        labels,
        stats.finished_stop + stats.finished_length + stats.aborted,
    )?;
    m.histogram(
        "sglang:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        labels,
        &stats.ttft,
    )?;
    m.histogram(
        "sglang:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        labels,
        &stats.itl,
    )?;
    m.histogram(
        "sglang:e2e_request_latency_seconds",
        "Histogram of End-to-end request latency in seconds",
        labels,
        &stats.e2e,
    )?;
    m.histogram(
        "sglang:queue_time_seconds",
        "Histogram of queueing time in seconds.",
        labels,
        &stats.queue_time,
    )
}
