//! `/metrics` parses as OpenMetrics and carries each engine's metric names,
//! types and labels exactly (colons included).

mod common;

use std::sync::Arc;

use common::*;
use kvlb_sim::metrics::MetricsFlavor;
use openmetrics_parser::{MetricsExposition, OpenMetricsType, OpenMetricsValue};

type Exposition = MetricsExposition<OpenMetricsType, OpenMetricsValue>;

/// Scrapes a replica of `flavor` after it served two requests.
async fn scrape_after_traffic(flavor: MetricsFlavor, lora: bool) -> (Exposition, String) {
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
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (scrape(&client, &base).await, text)
}

fn label(metrics: &Exposition, family: &str, name: &str) -> String {
    let sample = metrics.families[family]
        .iter_samples()
        .next()
        .expect("a sample");
    sample
        .get_labelset()
        .unwrap()
        .get_label_value(name)
        .unwrap_or_else(|| panic!("{family} has no label {name}"))
        .to_string()
}

fn assert_type(metrics: &Exposition, family: &str, expected: OpenMetricsType) {
    let found = &metrics
        .families
        .get(family)
        .unwrap_or_else(|| panic!("missing {family}"))
        .family_type;
    assert_eq!(format!("{found:?}"), format!("{expected:?}"), "{family}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_metrics_keep_vllm_names_types_and_labels() {
    let (metrics, text) = scrape_after_traffic(MetricsFlavor::Vllm, true).await;
    for gauge in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
    ] {
        assert_type(&metrics, gauge, OpenMetricsType::Gauge);
        assert_eq!(label(&metrics, gauge, "model_name"), MODEL);
    }
    for counter in [
        "vllm:prefix_cache_queries",
        "vllm:prefix_cache_hits",
        "vllm:num_preemptions",
    ] {
        assert_type(&metrics, counter, OpenMetricsType::Counter);
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
        assert_type(&metrics, histogram, OpenMetricsType::Histogram);
    }
    assert_eq!(histogram(&metrics, "vllm:time_to_first_token_seconds").1, 2);
    assert_eq!(histogram(&metrics, "vllm:inter_token_latency_seconds").1, 6);
    assert_eq!(histogram(&metrics, "vllm:e2e_request_latency_seconds").1, 2);
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
        assert_type(&metrics, gauge, OpenMetricsType::Gauge);
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
    assert_type(
        &metrics,
        "sglang:time_to_first_token_seconds",
        OpenMetricsType::Histogram,
    );
    assert!(!metrics.families.keys().any(|k| k.starts_with("vllm:")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trtllm_metrics_use_typed_labels() {
    let (metrics, _) = scrape_after_traffic(MetricsFlavor::Trtllm, false).await;
    let series = |family: &str, key: &str| -> Vec<(String, f64)> {
        metrics.families[family]
            .iter_samples()
            .map(|s| {
                let labels = s.get_labelset().unwrap();
                assert_eq!(labels.get_label_value("model"), Some(MODEL));
                let value = match &s.value {
                    OpenMetricsValue::Gauge(n) => n.as_f64(),
                    other => panic!("{other:?}"),
                };
                (labels.get_label_value(key).unwrap().to_string(), value)
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
