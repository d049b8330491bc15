use super::*;

const VLLM: &str = "# HELP vllm:num_requests_running Running.\n# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{model_name=\"m\"} 3.0\n\
vllm:num_requests_waiting{model_name=\"m\"} 2.0\n\
vllm:num_requests_waiting{model_name=\"lora\"} 1.0\n\
vllm:kv_cache_usage_perc{model_name=\"m\"} 0.42\n\
# TYPE vllm:time_to_first_token_seconds histogram\n\
vllm:time_to_first_token_seconds_bucket{le=\"+Inf\",model_name=\"m\"} 5.0\n\
vllm:time_to_first_token_seconds_sum{model_name=\"m\"} 1.5\n\
vllm:time_to_first_token_seconds_count{model_name=\"m\"} 5.0\n";

#[test]
fn reads_vllm_summing_series() {
    let m = parse(Engine::Vllm, VLLM).unwrap();
    assert_eq!(m, EngineMetrics { waiting: 3.0, running: 3.0, kv_usage: 0.42 });
}

#[test]
fn reads_openmetrics_counter_families_and_non_adjacent_series() {
    let text = "# TYPE vllm:prefix_cache_queries counter\nvllm:prefix_cache_queries_total{model_name=\"m\"} 10\n\
vllm:num_requests_running{model_name=\"m\"} 1\nvllm:num_requests_waiting{model_name=\"m\"} 2\n\
vllm:kv_cache_usage_perc{model_name=\"m\"} 0.1\nvllm:num_requests_waiting{model_name=\"lora\"} 5\n# EOF\n";
    assert_eq!(parse(Engine::Vllm, text).unwrap(), EngineMetrics { waiting: 7.0, running: 1.0, kv_usage: 0.1 });
}

#[test]
fn reads_the_older_vllm_kv_name() {
    let text = "vllm:num_requests_running 1\nvllm:num_requests_waiting 0\nvllm:gpu_cache_usage_perc 0.9\n";
    assert_eq!(parse(Engine::Vllm, text).unwrap().kv_usage, 0.9);
}

#[test]
fn reads_sglang_and_both_tensorrt_llm_dialects() {
    let sglang = "sglang:num_queue_reqs{model_name=\"m\"} 4\nsglang:num_running_reqs{model_name=\"m\"} 8\nsglang:token_usage{model_name=\"m\"} 0.5\n";
    assert_eq!(parse(Engine::Sglang, sglang).unwrap(), EngineMetrics { waiting: 4.0, running: 8.0, kv_usage: 0.5 });
    let triton = "nv_trt_llm_request_metrics{model=\"x\",request_type=\"waiting\",version=\"1\"} 2\n\
nv_trt_llm_request_metrics{model=\"x\",request_type=\"scheduled\",version=\"1\"} 6\n\
nv_trt_llm_request_metrics{model=\"x\",request_type=\"max\",version=\"1\"} 64\n\
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"x\",version=\"1\"} 0.25\n\
nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"max\",model=\"x\",version=\"1\"} 1000\n";
    assert_eq!(parse(Engine::Trtllm, triton).unwrap(), EngineMetrics { waiting: 2.0, running: 6.0, kv_usage: 0.25 });
    let serve = "trtllm_num_requests_waiting 1\ntrtllm_num_requests_running 2\ntrtllm_kv_cache_utilization 0.75\n";
    assert_eq!(parse(Engine::Trtllm, serve).unwrap(), EngineMetrics { waiting: 1.0, running: 2.0, kv_usage: 0.75 });
}

#[test]
fn bad_pages_are_errors_with_a_reason() {
    assert_eq!(parse(Engine::Vllm, "").unwrap_err().reason(), "missing");
    assert_eq!(parse(Engine::Vllm, "{{{ garbage\n").unwrap_err().reason(), "missing");
    assert_eq!(parse(Engine::Vllm, "vllm:num_requests_waiting{{{ garbage\n").unwrap_err().reason(), "syntax");
    assert_eq!(parse(Engine::Sglang, VLLM).unwrap_err(), ScrapeError::Missing("sglang:num_queue_reqs"));
    let negative = "vllm:num_requests_running -1\nvllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0.1\n";
    assert_eq!(parse(Engine::Vllm, negative).unwrap_err().reason(), "invalid");
    let nan = "vllm:num_requests_running 1\nvllm:num_requests_waiting NaN\nvllm:kv_cache_usage_perc 0.1\n";
    assert_eq!(parse(Engine::Vllm, nan).unwrap_err().reason(), "invalid");
}

#[test]
fn engine_labels_follow_the_inference_extension() {
    assert_eq!(Engine::from_label("triton-tensorrt-llm"), Some(Engine::Trtllm));
    assert_eq!(Engine::from_label("sglang"), Some(Engine::Sglang));
    assert_eq!(Engine::from_label("tgi"), None);
}

#[test]
fn a_long_syntax_error_with_multibyte_text_is_cut_on_a_character_boundary() {
    // The fuzzer's find: the parser's message quotes the page, and a cut at
    // byte 200 fell inside a multi-byte character.
    let text = format!("vllm:num_requests_waiting{{x=\"{}\"}} nope\n", "é".repeat(300));
    let err = parse(Engine::Vllm, &text).unwrap_err();
    assert_eq!(err.reason(), "syntax");
}
