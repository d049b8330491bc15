//! Streamed responses are valid SSE: one chunk per token, the finish reason on
//! the last, a usage chunk with empty choices when asked for, then `[DONE]`.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_ends_with_a_usage_chunk_and_done() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let client = client();
    let response = post(
        &client,
        &format!("{}/v1/chat/completions", url(&sim)),
        &chat_body("Hello there", 7, true),
    )
    .await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let data = sse_data(response).await;
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("every chunk is JSON"))
        .collect();
    let (tokens, usage) = chunks.split_at(chunks.len() - 1);
    assert_eq!(tokens.len(), 7, "one chunk per token");
    for (i, chunk) in tokens.iter().enumerate() {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], MODEL);
        assert_eq!(chunk["id"], tokens[0]["id"]);
        assert!(
            chunk["usage"].is_null(),
            "usage is null until the last chunk"
        );
        let choice = &chunk["choices"][0];
        assert!(
            choice["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
        assert_eq!(
            choice["delta"]["role"] == "assistant",
            i == 0,
            "role rides on the first chunk"
        );
        let last = i == tokens.len() - 1;
        assert_eq!(
            choice["finish_reason"],
            if last { json!("length") } else { Value::Null }
        );
    }
    let usage = &usage[0];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 7);
    assert_eq!(
        usage["usage"]["total_tokens"],
        usage["usage"]["prompt_tokens"].as_u64().unwrap() + 7
    );
    assert!(usage["usage"]["prompt_tokens_details"]["cached_tokens"].is_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_stream_without_usage_has_no_usage_chunk() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let body =
        json!({"model": MODEL, "prompt": "Once upon a time", "max_tokens": 4, "stream": true});
    let data =
        sse_data(post(&client(), &format!("{}/v1/completions", url(&sim)), &body).await).await;
    assert_eq!(data.len(), 5, "{data:?}");
    assert_eq!(data[4], "[DONE]");
    for chunk in &data[..4] {
        let chunk: Value = serde_json::from_str(chunk).unwrap();
        assert_eq!(chunk["object"], "text_completion");
        assert!(chunk["choices"][0]["text"].is_string());
        assert!(chunk.get("usage").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sglang_generate_streams_cumulative_text() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let body = json!({"text": "The capital of France is", "sampling_params": {"max_new_tokens": 3, "ignore_eos": true}, "stream": true});
    let data = sse_data(post(&client(), &format!("{}/generate", url(&sim)), &body).await).await;
    assert_eq!(data.len(), 4, "{data:?}");
    assert_eq!(data[3], "[DONE]");
    let chunks: Vec<Value> = data[..3]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let texts: Vec<&str> = chunks.iter().map(|c| c["text"].as_str().unwrap()).collect();
    assert!(texts[1].starts_with(texts[0]) && texts[2].starts_with(texts[1]));
    assert_eq!(chunks[2]["meta_info"]["finish_reason"]["type"], "length");
    assert_eq!(chunks[2]["meta_info"]["completion_tokens"], 3);
}
