//! Response shapes of the OpenAI and SGLang-native endpoints.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};

async fn get_json(client: &reqwest::Client, url: String) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_and_completions_return_openai_bodies_with_usage() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    let chat: Value = post(
        &client,
        &format!("{base}/v1/chat/completions"),
        &chat_body("Hi", 5, false),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(chat["object"], "chat.completion");
    assert_eq!(chat["choices"][0]["message"]["role"], "assistant");
    assert_eq!(chat["choices"][0]["finish_reason"], "length");
    assert_eq!(chat["usage"]["completion_tokens"], 5);
    assert!(
        chat["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .len()
            >= 5
    );

    let body = json!({"model": MODEL, "prompt": [1, 2, 3, 4], "max_tokens": 2});
    let completion: Value = post(&client, &format!("{base}/v1/completions"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(completion["object"], "text_completion");
    assert_eq!(completion["usage"]["prompt_tokens"], 4);
    assert!(completion["usage"]["completion_tokens"].as_u64().unwrap() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_output_lengths_are_seeded_and_capped() {
    let sim = replica(config("h100-8b", 50.0)).await;
    let (base, client) = (url(&sim), client());
    let body = json!({"model": MODEL, "prompt": "Tell me a story.", "max_tokens": 400, "seed": 42});
    let mut lengths = Vec::new();
    for _ in 0..2 {
        let completion: Value = post(&client, &format!("{base}/v1/completions"), &body)
            .await
            .json()
            .await
            .unwrap();
        lengths.push(completion["usage"]["completion_tokens"].as_u64().unwrap());
        let reason = completion["choices"][0]["finish_reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(reason == "length", lengths.last() == Some(&400));
    }
    assert_eq!(lengths[0], lengths[1], "same seed, same length");
    assert!((1..=400).contains(&lengths[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_lists_the_model_and_its_lora_adapters() {
    let mut config = config("l4-8b", 20.0);
    config.lora_adapters = vec![Arc::from("sql-lora"), Arc::from("chat-lora")];
    let sim = replica(config).await;
    let (base, client) = (url(&sim), client());
    let models = get_json(&client, format!("{base}/v1/models")).await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [MODEL, "sql-lora", "chat-lora"]);
    assert_eq!(models["data"][1]["parent"], MODEL);
    let mut body = chat_body("use the adapter", 3, false);
    body["model"] = json!("sql-lora");
    let response = post(&client, &format!("{base}/v1/chat/completions"), &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sim.engine.snapshot(false).loaded_loras, ["sql-lora"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sglang_discovery_load_and_generate_endpoints() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    for path in ["model_info", "get_model_info"] {
        let info = get_json(&client, format!("{base}/{path}")).await;
        assert_eq!(info["model_path"], MODEL);
        assert_eq!(info["is_generation"], true);
    }
    for path in ["server_info", "get_server_info"] {
        let info = get_json(&client, format!("{base}/{path}")).await;
        assert_eq!(info["served_model_name"], MODEL);
        assert_eq!(info["dp_size"], 1);
        assert_eq!(
            info["max_total_num_tokens"],
            sim.engine.config().kv_capacity_tokens()
        );
    }
    let load = get_json(&client, format!("{base}/get_load")).await;
    assert_eq!(
        load,
        json!([{"dp_rank": 0, "num_reqs": 0, "num_waiting_reqs": 0, "num_tokens": 0}])
    );
    for path in ["health", "health_generate"] {
        assert_eq!(
            client
                .get(format!("{base}/{path}"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    let body =
        json!({"text": "Hello", "sampling_params": {"max_new_tokens": 4, "ignore_eos": true}});
    let generated: Value = post(&client, &format!("{base}/generate"), &body)
        .await
        .json()
        .await
        .unwrap();
    assert!(generated["text"].as_str().unwrap().len() >= 4);
    assert_eq!(generated["meta_info"]["completion_tokens"], 4);
    assert_eq!(generated["meta_info"]["finish_reason"]["type"], "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_cache_evicts_every_free_cached_block() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    post(
        &client,
        &format!("{base}/v1/chat/completions"),
        &chat_body(&text(200, 3), 2, false),
    )
    .await;
    assert!(sim.engine.snapshot(false).cached_free_blocks > 10);
    let flushed: Value = client
        .post(format!("{base}/flush_cache"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(flushed["flushed_blocks"].as_u64().unwrap() > 10);
    assert_eq!(sim.engine.snapshot(false).cached_free_blocks, 0);
}
