//! `/metrics` parses as OpenMetrics and carries each engine's metric names,
//! types and labels exactly (colons included).

mod common;

use std::sync::Arc;

use common::*;
use kvlb_sim::metrics::MetricsFlavor;
/// Scrapes a replica of `flavor` after it served two requests.
async fn scrape_after_traffic(flavor: MetricsFlavor, lora: bool) -> (Metrics, String) {
    let mut config = config("h100-8b", 20.0);
    config.metrics_flavor = flavor;
    if lora {
        config.lora_adapters = vec![Arc::from("adapter-a")];
    }
    let sim = replica(config).await;
    let (base, client) = (url(&sim), client());
    for _ in 0..2 {
        post(
            &client,
            &format!("{base}/v1/chat/completions"),
            &chat_body(&text(100, 5), 4, false),
        )
        .await;
    }
    let text = scrape_text(&client, &base).await;
    (parse_metrics(&text).await, text)
}

fn label(metrics: &Metrics, family: &str, name: &str) -> String {
    let sample = metrics.family(family).samples.first().expect("a sample");
    sample.label(name).to_string()
}

fn assert_type(metrics: &Metrics, family: &str, expected: &str) {
    assert_eq!(metrics.family(family).kind, expected, "{family}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_metrics_keep_vllm_names_types_and_labels() {
    let (metrics, text) = scrape_after_traffic(MetricsFlavor::Vllm, true).await;
    for gauge in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    ] {
        assert_type(&metrics, gauge, "gauge");
        assert_eq!(label(&metrics, gauge, "model_name"), MODEL);
    }
    for counter in [
        "vllm:prefix_cache_queries",
        "vllm:prefix_cache_hits",
        "vllm:num_preemptions",
    ] {
        assert_type(&metrics, counter, "counter");
        assert!(
            text.contains(&format!("{counter}_total{{")),
            "{counter} is exposed with _total"
        );
    }
    for histogram in [
        "vllm:time_to_first_token_seconds",
        "vllm:inter_token_latency_seconds",
        "vllm:e2e_request_latency_seconds",
    ] {
        assert_type(&metrics, histogram, "histogram");
    }
    assert_eq!(histogram(&metrics, "vllm:time_to_first_token_seconds").1, 2);
    assert_eq!(histogram(&metrics, "vllm:inter_token_latency_seconds").1, 6);
    assert_eq!(histogram(&metrics, "vllm:e2e_request_latency_seconds").1, 2);
    let inf_bucket = metrics
        .family("vllm:time_to_first_token_seconds")
        .samples
        .iter()
        .find(|s| s.name.ends_with("_bucket") && s.label("le") == "+Inf")
        .expect("a le=\"+Inf\" bucket");
    assert_eq!(inf_bucket.value(), 2.0, "buckets are cumulative once");
    // The second request found the first one's prompt blocks cached.
    let (queries, hits) = (
        value(&metrics, "vllm:prefix_cache_queries"),
        value(&metrics, "vllm:prefix_cache_hits"),
    );
    assert!(hits > 0.0 && hits < queries, "{hits} of {queries}");
    assert_eq!(value(&metrics, "vllm:kv_cache_usage_perc"), 0.0);
    assert_eq!(
        label(&metrics, "vllm:cache_config_info", "block_size"),
        "16"
    );
    assert_eq!(
        label(&metrics, "vllm:cache_config_info", "num_gpu_blocks"),
        "25005"
    );
    assert_eq!(label(&metrics, "vllm:lora_requests_info", "max_lora"), "1");
    assert_eq!(
        label(&metrics, "vllm:lora_requests_info", "running_lora_adapters"),
        ""
    );
    assert!(
        value(&metrics, "vllm:lora_requests_info") > 1.0e9,
        "value is a Unix timestamp"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sglang_metrics_use_sglang_names() {
    let (metrics, _) = scrape_after_traffic(MetricsFlavor::Sglang, false).await;
    for gauge in [
        "sglang:num_queue_reqs",
        "sglang:num_running_reqs",
        "sglang:token_usage",
        "sglang:cache_hit_rate",
    ] {
        assert_type(&metrics, gauge, "gauge");
        assert_eq!(label(&metrics, gauge, "model_name"), MODEL);
    }
    let hit_rate = value(&metrics, "sglang:cache_hit_rate");
    assert!(
        (0.0..1.0).contains(&hit_rate) && hit_rate > 0.0,
        "{hit_rate}"
    );
    assert_eq!(
        label(&metrics, "sglang:cache_config_info", "page_size"),
        "16"
    );
    assert_type(&metrics, "sglang:time_to_first_token_seconds", "histogram");
    assert!(!metrics.families.keys().any(|k| k.starts_with("vllm:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trtllm_metrics_use_typed_labels() {
    let (metrics, _) = scrape_after_traffic(MetricsFlavor::Trtllm, false).await;
    let series = |family: &str, key: &str| -> Vec<(String, f64)> {
        assert_type(&metrics, family, "gauge");
        metrics
            .family(family)
            .samples
            .iter()
            .map(|s| {
                assert_eq!(s.label("model"), MODEL);
                (s.label(key).to_string(), s.value())
            })
            .collect()
    };
    let requests = series("nv_trt_llm_request_metrics", "request_type");
    let kinds: Vec<&str> = requests.iter().map(|(k, _)| k.as_str()).collect();
    for kind in ["waiting", "scheduled", "active", "max"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    let blocks = series("nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type");
    let get = |kind: &str| blocks.iter().find(|(k, _)| k == kind).unwrap().1;
    assert_eq!(get("max"), 25005.0);
    assert_eq!(get("tokens_per"), 16.0);
    assert_eq!(get("fraction"), 0.0);
    assert_eq!(get("free") + get("used"), get("max"));
}
