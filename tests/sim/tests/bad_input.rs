//! Bad requests get the matching OpenAI-style error, and the replica keeps
//! serving afterwards.

mod common;

use common::*;
use kvlb_sim::api::DEFAULT_MAX_BODY_BYTES;
use serde_json::{Value, json};

/// Sends a raw body and checks the status and error shape; returns the error.
async fn expect_error(client: &reqwest::Client, url: &str, body: Vec<u8>, status: u16) -> Value {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("errors are JSON");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error.clone()
}

fn bytes(body: Value) -> Vec<u8> {
    body.to_string().into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_errors_and_the_server_keeps_serving() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    let chat = format!("{base}/v1/chat/completions");
    let completions = format!("{base}/v1/completions");
    let user = json!([{"role": "user", "content": "hi"}]);

    let error = expect_error(
        &client,
        &chat,
        b"{\"model\": \"sim-model\", \"messages\": [".to_vec(),
        400,
    )
    .await;
    assert_eq!(error["type"], "invalid_request_error");
    expect_error(&client, &chat, b"not json at all".to_vec(), 400).await;
    expect_error(&client, &chat, b"{} trailing".to_vec(), 400).await;
    expect_error(&client, &chat, b"[1, 2, 3]".to_vec(), 400).await;

    let error = expect_error(
        &client,
        &chat,
        bytes(json!({"model": MODEL, "messages": "hi"})),
        400,
    )
    .await;
    assert_eq!(error["param"], "messages");
    let wrong_max = json!({"model": MODEL, "messages": user, "max_tokens": "ten"});
    assert_eq!(
        expect_error(&client, &chat, bytes(wrong_max), 400).await["param"],
        "max_tokens"
    );
    let wrong_content = json!({"model": MODEL, "messages": [{"role": "user", "content": 5}]});
    expect_error(&client, &chat, bytes(wrong_content), 400).await;
    expect_error(&client, &chat, bytes(json!({"messages": user})), 400).await;

    for max_tokens in [json!(-1), json!(0)] {
        let body = json!({"model": MODEL, "messages": user, "max_tokens": max_tokens});
        assert_eq!(
            expect_error(&client, &chat, bytes(body), 400).await["param"],
            "max_tokens"
        );
    }
    for huge in [
        json!(1_000_000_000_000u64),
        json!(1e30),
        json!(18_446_744_073_709_551_616.0),
    ] {
        let body = json!({"model": MODEL, "messages": user, "max_tokens": huge});
        let error = expect_error(&client, &chat, bytes(body), 400).await;
        assert_eq!(error["param"], "max_tokens", "{error}");
    }
    let error = expect_error(
        &client,
        &chat,
        bytes(json!({"model": MODEL, "messages": []})),
        400,
    )
    .await;
    assert_eq!(error["param"], "messages");
    let too_long = json!({"model": MODEL, "prompt": text(40_000, 1), "max_tokens": 10});
    let error = expect_error(&client, &completions, bytes(too_long), 400).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("maximum context length"),
        "{error}"
    );
    let bad_ids = json!({"model": MODEL, "prompt": [1, 4_000_000_000u64]});
    expect_error(&client, &completions, bytes(bad_ids), 400).await;
    let error = expect_error(
        &client,
        &chat,
        bytes(json!({"model": MODEL, "messages": user, "n": 3})),
        400,
    )
    .await;
    assert_eq!(error["param"], "n");
    let options =
        json!({"model": MODEL, "messages": user, "stream_options": {"include_usage": true}});
    assert_eq!(
        expect_error(&client, &chat, bytes(options), 400).await["param"],
        "stream_options"
    );

    let error = expect_error(
        &client,
        &chat,
        bytes(json!({"model": "gpt-unknown", "messages": user})),
        404,
    )
    .await;
    assert_eq!(error["code"], "model_not_found");

    let oversized = vec![b' '; DEFAULT_MAX_BODY_BYTES + 1];
    let error = expect_error(&client, &chat, oversized, 413).await;
    assert_eq!(error["code"], "request_too_large");

    let response = client
        .get(format!("{base}/no/such/path"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let ok = post(&client, &chat, &chat_body("still serving?", 3, false)).await;
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.unwrap();
    assert_eq!(ok["usage"]["completion_tokens"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sglang_and_debug_requests_get_errors() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    let generate = format!("{base}/generate");
    expect_error(
        &client,
        &generate,
        bytes(json!({"sampling_params": {"max_new_tokens": 2}})),
        400,
    )
    .await;
    let both = json!({"text": "a", "input_ids": [1, 2]});
    expect_error(&client, &generate, bytes(both), 400).await;
    let negative = json!({"text": "a", "sampling_params": {"max_new_tokens": -4}});
    expect_error(&client, &generate, bytes(negative), 400).await;
    let unknown_lora = json!({"text": "a", "lora_path": "nope"});
    expect_error(&client, &generate, bytes(unknown_lora), 404).await;
    let prefix = format!("{base}/debug/prefix_match");
    expect_error(&client, &prefix, bytes(json!({})), 400).await;
    expect_error(&client, &prefix, b"{".to_vec(), 400).await;
    let ok = post(
        &client,
        &generate,
        &json!({"text": "fine", "sampling_params": {"max_new_tokens": 1}}),
    )
    .await;
    assert_eq!(ok.status(), 200);
}
