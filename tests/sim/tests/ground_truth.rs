//! The ground truth a precise router or an oracle builds on: KV-cache events,
//! the state snapshot and prefix matching all name the same block hashes.

mod common;

use std::{collections::HashSet, time::Duration};

use common::*;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use kvlb_sim::{kv_cache::block_hashes, tokenizer::tokenize};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_events_state_and_prefix_match_agree_on_block_hashes() {
    let sim = replica(config("h100-8b", 20.0)).await;
    let (base, client) = (url(&sim), client());
    let events = client
        .get(format!("{base}/debug/kv_events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut events = events.bytes_stream().eventsource();

    let prompt = text(120, 11);
    let body = json!({"model": MODEL, "prompt": prompt, "max_tokens": 2, "ignore_eos": true});
    let response: Value = post(&client, &format!("{base}/v1/completions"), &body)
        .await
        .json()
        .await
        .unwrap();
    let tokens = tokenize(&prompt);
    assert_eq!(response["usage"]["prompt_tokens"], tokens.len());
    let expected = block_hashes(&tokens, 16, None);

    let mut stored = Vec::new();
    while stored.len() < expected.len() {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("events arrive")
            .unwrap()
            .unwrap();
        let batch: Value = serde_json::from_str(&event.data).unwrap();
        assert!(batch["ts"].as_f64().unwrap() > 0.0);
        for event in batch["events"].as_array().unwrap() {
            assert_eq!(event["type"], "BlockStored", "{event}");
            stored.push(event.clone());
        }
    }
    for (i, event) in stored.iter().enumerate() {
        assert_eq!(event["block_hash"], expected[i]);
        let parent = if i == 0 {
            Value::Null
        } else {
            json!(expected[i - 1])
        };
        assert_eq!(event["parent_block_hash"], parent);
        assert_eq!(event["token_ids"], json!(&tokens[i * 16..(i + 1) * 16]));
    }

    let state = sim.engine.snapshot(true);
    let cached: HashSet<u64> = state.cached_block_hashes.unwrap().into_iter().collect();
    assert!(expected.iter().all(|h| cached.contains(h)));
    assert!(state.cached_free_blocks >= expected.len());

    let matched: Value = post(
        &client,
        &format!("{base}/debug/prefix_match"),
        &json!({"prompt": format!("{prompt} and more")}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(matched["cached_tokens"], expected.len() * 16);

    client
        .post(format!("{base}/reset_prefix_cache"))
        .send()
        .await
        .unwrap();
    let mut removed = HashSet::new();
    while !expected.iter().all(|h| removed.contains(h)) {
        let event = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let batch: Value = serde_json::from_str(&event.data).unwrap();
        for event in batch["events"].as_array().unwrap() {
            if event["type"] == "BlockRemoved" {
                removed.insert(event["block_hash"].as_u64().unwrap());
            }
        }
    }
    assert_eq!(sim.engine.snapshot(false).cached_free_blocks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_state_reports_per_request_progress() {
    let mut config = config("h100-8b", 10.0);
    config.max_num_seqs = 1;
    let sim = replica(config).await;
    let (base, client) = (url(&sim), client());
    let chat = format!("{base}/v1/chat/completions");
    let _running = post(&client, &chat, &chat_body(&text(50, 1), 4000, true)).await;
    let _waiting = post(&client, &chat, &chat_body(&text(50, 2), 10, true)).await;
    wait_until(
        Duration::from_secs(5),
        "the first request decodes and the second waits",
        || {
            let state = sim.engine.snapshot(false);
            state.waiting.len() == 1 && state.running.first().is_some_and(|r| r.output_tokens > 0)
        },
    )
    .await;
    let state: Value = client
        .get(format!("{base}/debug/state?hashes=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(state["cached_block_hashes"].is_null());
    let running = &state["running"][0];
    assert_eq!(running["target_output_tokens"], 4000);
    assert!(
        running["computed_tokens"].as_u64().unwrap() >= running["prompt_tokens"].as_u64().unwrap()
    );
    assert!(running["blocks"].as_u64().unwrap() > 0);
    let waiting = &state["waiting"][0];
    assert_eq!(
        (
            waiting["blocks"].as_u64(),
            waiting["output_tokens"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(state["model"], MODEL);
    assert_eq!(state["profile"], "h100-8b");
}
