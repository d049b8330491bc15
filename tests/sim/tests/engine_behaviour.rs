//! The failure modes of LLM load balancing emerge from the engine model:
//! queueing delay, prefix-cache savings, KV occupancy, preemption, admission.

mod common;

use std::time::Duration;

use common::*;
use kvlb_sim::profile::BatchShape;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_grows_with_queue_depth() {
    // Slow enough that HTTP overhead on a busy machine stays small in model time.
    let scale = 5.0;
    let mut ttfts = Vec::new();
    for depth in [0u64, 8, 16] {
        let mut config = config("h100-8b", scale);
        config.max_num_seqs = 4;
        let sim = replica(config).await;
        let chat = format!("{}/v1/chat/completions", url(&sim));
        let fillers: Vec<_> = (0..depth)
            .map(|i| {
                let (client, chat) = (client(), chat.clone());
                tokio::spawn(async move {
                    post(&client, &chat, &chat_body(&text(20, i), 50, false))
                        .await
                        .status()
                })
            })
            .collect();
        wait_until(Duration::from_secs(5), "the fillers are queued", || {
            let load = sim.engine.load();
            (load.running + load.waiting) as u64 == depth
        })
        .await;
        let (ttft, _) =
            time_to_first_event(&client(), &chat, &chat_body(&text(20, 99), 1, true)).await;
        ttfts.push(ttft.as_secs_f64() * scale);
        for filler in fillers {
            assert_eq!(filler.await.unwrap(), 200);
        }
    }
    // Four requests run at a time and each takes ~50 decode steps (~0.3 s),
    // so 8 queued ahead cost ~2 rounds and 16 cost ~4.
    assert!(ttfts[0] < 0.15, "idle TTFT {ttfts:?}");
    assert!(ttfts[1] > 0.4 && ttfts[1] > 3.0 * ttfts[0], "{ttfts:?}");
    assert!(ttfts[2] > 1.5 * ttfts[1], "{ttfts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_prefix_cuts_ttft_by_the_prefill_it_skips() {
    let sim = replica(config("h100-8b", 2.0)).await;
    let (base, client) = (url(&sim), client());
    let chat = format!("{base}/v1/chat/completions");
    let shared = text(2500, 7);
    let mut model_ttfts = Vec::new();
    let mut usages = Vec::new();
    for question in [
        "What is the first question?",
        "And a second, different one?",
    ] {
        let (before, _) = histogram(
            &scrape(&client, &base).await,
            "vllm:time_to_first_token_seconds",
        );
        let body = chat_body(&format!("{shared}\n{question}"), 1, false);
        let response: Value = post(&client, &chat, &body).await.json().await.unwrap();
        let (after, _) = histogram(
            &scrape(&client, &base).await,
            "vllm:time_to_first_token_seconds",
        );
        model_ttfts.push(after - before);
        usages.push(response["usage"].clone());
    }
    let prompt = usages[1]["prompt_tokens"].as_u64().unwrap() as usize;
    let cached = usages[1]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(usages[0]["prompt_tokens_details"]["cached_tokens"], 0);
    assert!(prompt > 4000 && cached > prompt - 40, "{usages:?}");

    // The step-time model predicts both TTFTs from the tokens each computes.
    let cost = sim.engine.config().profile.cost;
    let step = |computed, n| {
        let mut batch = BatchShape::default();
        batch.add(computed, n);
        cost.step_time(&batch)
    };
    let cold_prompt = usages[0]["prompt_tokens"].as_u64().unwrap() as usize;
    let (cold, warm) = (step(0, cold_prompt), step(cached, prompt - cached));
    let close =
        |measured: f64, expected: f64| (measured - expected).abs() < 0.05 * expected + 0.002;
    assert!(
        close(model_ttfts[0], cold),
        "cold {} vs {cold}",
        model_ttfts[0]
    );
    assert!(
        close(model_ttfts[1], warm),
        "warm {} vs {warm}",
        model_ttfts[1]
    );
    let saved = model_ttfts[0] - model_ttfts[1];
    assert!(
        close(saved, cold - warm),
        "saved {saved} vs {}",
        cold - warm
    );
    assert!(model_ttfts[0] > 10.0 * model_ttfts[1], "{model_ttfts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_cache_usage_tracks_the_blocks_requests_hold() {
    let mut config = config("h100-8b", 5.0);
    config.num_gpu_blocks = 1000;
    let sim = replica(config).await;
    let (base, client) = (url(&sim), client());
    let mut open_streams = Vec::new();
    for n in 1..=3 {
        let body = chat_body(&text(150, n), 5000, true);
        open_streams.push(post(&client, &format!("{base}/v1/chat/completions"), &body).await);
        wait_until(Duration::from_secs(5), "all requests are decoding", || {
            let state = sim.engine.snapshot(false);
            state.running.len() == n as usize && state.running.iter().all(|r| r.output_tokens > 0)
        })
        .await;
        // Fetch the metrics and the state back to back, parse afterwards.
        let exposition = scrape_text(&client, &base).await;
        let state: Value = client
            .get(format!("{base}/debug/state?hashes=false"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let metric = value(
            &parse_metrics(&exposition).await,
            "vllm:kv_cache_usage_perc",
        );
        let used = state["used_blocks"].as_f64().unwrap();
        let held: u64 = state["running"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["blocks"].as_u64().unwrap())
            .sum();
        assert_eq!(
            used as u64, held,
            "used blocks are exactly those the running requests hold"
        );
        assert!(
            (metric - used / 1000.0).abs() <= 0.005,
            "metric {metric} vs {used} blocks held"
        );
        assert!(
            used >= 20.0 * n as f64,
            "each ~310-token request holds 20+ blocks: {used}"
        );
    }
    // Closing the streams aborts the requests: their blocks are freed but
    // stay cached, and cached free blocks do not count as used.
    drop(open_streams);
    wait_until(
        Duration::from_secs(5),
        "aborted requests release their blocks",
        || sim.engine.load().used_blocks == 0,
    )
    .await;
    assert_eq!(
        value(&scrape(&client, &base).await, "vllm:kv_cache_usage_perc"),
        0.0
    );
    assert!(sim.engine.snapshot(false).cached_free_blocks >= 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausting_the_kv_cache_preempts_and_counts_it() {
    // 64 blocks = 1024 tokens; four requests grow to ~230 + 300 tokens each.
    let mut config = config("h100-8b", 20.0);
    config.num_gpu_blocks = 64;
    let sim = replica(config).await;
    let (base, client) = (url(&sim), client());
    let requests: Vec<_> = (0..4)
        .map(|i| {
            let (client, chat) = (client.clone(), format!("{base}/v1/chat/completions"));
            tokio::spawn(async move {
                let body = chat_body(&text(100, 100 + i), 300, false);
                post(&client, &chat, &body)
                    .await
                    .json::<Value>()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut preempted_seen = false;
    for request in requests {
        while !request.is_finished() {
            let state = sim.engine.snapshot(false);
            preempted_seen |= state
                .waiting
                .iter()
                .any(|r| r.preemptions > 0 && r.blocks == 0);
            assert!(state.used_blocks <= 64);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let response = request.await.unwrap();
        assert_eq!(
            response["usage"]["completion_tokens"], 300,
            "preempted requests still finish"
        );
    }
    let metrics = scrape(&client, &base).await;
    let preemptions = value(&metrics, "vllm:num_preemptions");
    assert!(preemptions >= 1.0, "preemptions counted: {preemptions}");
    assert!(
        preempted_seen,
        "a preempted request was seen back in the waiting queue without blocks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_waiting_queue_answers_429_and_recovers() {
    let mut config = config("h100-8b", 10.0);
    config.max_num_seqs = 1;
    config.max_waiting = 2;
    let sim = replica(config).await;
    let (client, chat) = (client(), format!("{}/v1/chat/completions", url(&sim)));
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(post(&client, &chat, &chat_body(&text(10, i), 5000, true)).await);
    }
    wait_until(Duration::from_secs(5), "one runs and two wait", || {
        let load = sim.engine.load();
        (load.running, load.waiting) == (1, 2)
    })
    .await;
    let response = post(&client, &chat, &chat_body("one too many", 5, false)).await;
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("waiting queue is full")
    );
    // Clients that go away are aborted, waiting or running, and free the queue.
    drop(held);
    wait_until(
        Duration::from_secs(5),
        "the abandoned requests are aborted",
        || {
            let load = sim.engine.load();
            (load.running, load.waiting) == (0, 0)
        },
    )
    .await;
    let response = post(
        &client,
        &chat,
        &chat_body("after the queue drained", 5, false),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(sim.engine.load().stats.rejected, 1);
}
