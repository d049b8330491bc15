//! vLLM V1's metric names, labels and meanings (vllm/v1/metrics/loggers.py).

use super::{Encoder, Scrape, unix_now};

pub(super) fn encode(s: &Scrape, m: &mut Encoder) -> std::fmt::Result {
    let load = &s.load;
    let stats = &load.stats;
    let labels = [("model_name", s.model.as_str()), ("engine", "0")];
    let labels = labels.as_slice();
    m.gauge(
        "vllm:num_requests_running",
        "Number of requests in model execution batches.",
        labels,
        load.running as f64,
    )?;
    m.gauge(
        "vllm:num_requests_waiting",
        "Number of requests waiting to be processed.",
        labels,
        load.waiting as f64,
    )?;
    m.gauge(
        "vllm:kv_cache_usage_perc",
        "KV-cache usage. 1 means 100 percent usage.",
        labels,
        load.kv_cache_usage,
    )?;
    m.counter(
        "vllm:prefix_cache_queries",
        "Prefix cache queries, in terms of number of queried tokens.",
        labels,
        stats.prefix_cache_queries,
    )?;
    m.counter(
        "vllm:prefix_cache_hits",
        "Prefix cache hits, in terms of number of cached tokens.",
        labels,
        stats.prefix_cache_hits,
    )?;
    m.counter(
        "vllm:num_preemptions",
        "Cumulative number of preemption from the engine.",
        labels,
        stats.preemptions,
    )?;
    m.counter(
        "vllm:prompt_tokens",
        "Number of prefill tokens processed.",
        labels,
        stats.prompt_tokens,
    )?;
    m.counter(
        "vllm:generation_tokens",
        "Number of generation tokens processed.",
        labels,
        stats.generation_tokens,
    )?;
    let by_reason = |reason| {
        [
            ("model_name", s.model.as_str()),
            ("engine", "0"),
            ("finished_reason", reason),
        ]
    };
    m.counters(
        "vllm:request_success",
        "Count of successfully processed requests.",
        &[
            (by_reason("stop"), stats.finished_stop),
            (by_reason("length"), stats.finished_length),
            (by_reason("abort"), stats.aborted),
        ],
    )?;
    m.histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        labels,
        &stats.ttft,
    )?;
    m.histogram(
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        labels,
        &stats.itl,
    )?;
    m.histogram(
        "vllm:e2e_request_latency_seconds",
        "Histogram of e2e request latency in seconds.",
        labels,
        &stats.e2e,
    )?;
    m.histogram(
        "vllm:request_queue_time_seconds",
        "Histogram of time spent in WAITING phase for request.",
        labels,
        &stats.queue_time,
    )?;
    if s.lora_enabled {
        let max_lora = s.max_loras.to_string();
        let running = load.running_loras.join(",");
        let waiting = load.waiting_loras.join(",");
        let labels = [
            ("max_lora", max_lora.as_str()),
            ("running_lora_adapters", running.as_str()),
            ("waiting_lora_adapters", waiting.as_str()),
        ];
        m.gauge(
            "vllm:lora_requests_info",
            "Running stats on lora requests.",
            &labels,
            unix_now(),
        )?;
    }
    let block_size = load.block_size.to_string();
    let num_gpu_blocks = load.num_gpu_blocks.to_string();
    let labels = [
        ("block_size", block_size.as_str()),
        ("cache_dtype", "auto"),
        (
            "enable_prefix_caching",
            if s.prefix_caching { "True" } else { "False" },
        ),
        ("engine", "0"),
        ("num_gpu_blocks", num_gpu_blocks.as_str()),
    ];
    m.gauge(
        "vllm:cache_config_info",
        "Information of the LLMEngine CacheConfig",
        &labels,
        1.0,
    )
}
