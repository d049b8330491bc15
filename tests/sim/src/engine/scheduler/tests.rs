//! Scheduler behaviour on a synthetic clock (no runtime, no sleeping).

use std::sync::Arc;

use super::super::{
    config::EngineConfig,
    core::EngineCore,
    request::{FinishReason, GenerateRequest, RequestStream, TokenEvent, Usage},
};
use crate::profile;

fn config(blocks: usize) -> EngineConfig {
    let mut config = EngineConfig::new(profile::find("h100-8b").unwrap(), "m");
    config.num_gpu_blocks = blocks;
    config.block_size = 16;
    config
}

fn request(prompt: Vec<u32>, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        prompt,
        max_tokens: Some(max_tokens),
        ignore_eos: true,
        ..GenerateRequest::default()
    }
}

/// Runs steps until idle; returns the model time it took.
fn run(core: &mut EngineCore) -> f64 {
    let mut t = core.time;
    while let Some(batch) = core.schedule(t) {
        t += core.config.profile.cost.step_time(&batch);
        core.finish_step(t);
    }
    t
}

/// Drains a finished request's events: (tokens, finish reason, usage).
fn drain(stream: &mut RequestStream) -> (usize, FinishReason, Usage) {
    let mut tokens = 0;
    loop {
        match stream.events.try_recv().expect("request finished") {
            TokenEvent::Token(_) => tokens += 1,
            TokenEvent::Finished { reason, usage, .. } => return (tokens + 1, reason, usage),
        }
    }
}

#[test]
fn long_prompts_prefill_in_budget_sized_chunks() {
    let mut core = EngineCore::new(config(4096));
    let mut stream = core.submit(request(vec![7; 20_000], 2), 0.0).unwrap();
    let mut steps_before_first_token = 0;
    while stream.events.is_empty() {
        let batch = core.schedule(core.time).unwrap();
        assert!(batch.tokens <= 8192);
        let end = core.time + core.config.profile.cost.step_time(&batch);
        core.finish_step(end);
        steps_before_first_token += 1;
    }
    assert_eq!(steps_before_first_token, 3);
    run(&mut core);
    assert_eq!(
        drain(&mut stream),
        (
            2,
            FinishReason::Length,
            Usage {
                prompt_tokens: 20_000,
                completion_tokens: 2,
                cached_tokens: 0,
            }
        )
    );
}

#[test]
fn a_repeated_prompt_skips_its_cached_blocks() {
    let mut core = EngineCore::new(config(1024));
    let prompt: Vec<u32> = (0..1000).collect();
    let mut first = core.submit(request(prompt.clone(), 1), 0.0).unwrap();
    let cold = run(&mut core);
    let mut second = core.submit(request(prompt, 1), cold).unwrap();
    let warm = run(&mut core) - cold;
    assert_eq!(drain(&mut first).2.cached_tokens, 0);
    // 1000 tokens = 62 full blocks + 8; all full blocks hit.
    assert_eq!(drain(&mut second).2.cached_tokens, 992);
    assert!(warm < cold / 2.0, "warm {warm} vs cold {cold}");
    assert_eq!(core.stats.prefix_cache_hits, 992);
    assert_eq!(core.stats.prefix_cache_queries, 2000);
}

#[test]
fn exhausting_blocks_preempts_the_newest_request_by_recompute() {
    // 20 blocks = 320 tokens; each request grows to 100 + 150 = 250 tokens.
    let mut core = EngineCore::new(config(20));
    let mut streams: Vec<_> = (0..3)
        .map(|i| core.submit(request(vec![i; 100], 150), 0.0).unwrap())
        .collect();
    let mut saw_preemption = false;
    let mut t = 0.0;
    while let Some(batch) = core.schedule(t) {
        if core.stats.preemptions > 0 && !saw_preemption {
            saw_preemption = true;
            let front = core.waiting.front().unwrap();
            assert_eq!(front.preemptions, 1);
            assert!(front.blocks.is_empty());
            assert_eq!(front.computed, 0);
        }
        assert!(core.pool.num_free() <= core.pool.num_blocks());
        t += core.config.profile.cost.step_time(&batch);
        core.finish_step(t);
    }
    assert!(saw_preemption);
    for stream in &mut streams {
        assert_eq!(drain(stream).0, 150, "every request still completes");
    }
    assert_eq!(core.pool.usage(), 0.0);
}

#[test]
fn max_num_seqs_caps_the_running_batch() {
    let mut config = config(1024);
    config.max_num_seqs = 2;
    let mut core = EngineCore::new(config);
    let _streams: Vec<_> = (0..5)
        .map(|i| core.submit(request(vec![i; 10], 5), 0.0).unwrap())
        .collect();
    core.schedule(0.0).unwrap();
    assert_eq!((core.running.len(), core.waiting.len()), (2, 3));
}

#[test]
fn a_full_waiting_queue_rejects() {
    let mut config = config(64);
    config.max_waiting = 2;
    let mut core = EngineCore::new(config);
    let _kept: Vec<_> = (0..2)
        .map(|_| core.submit(request(vec![1; 10], 5), 0.0).unwrap())
        .collect();
    let error = core.submit(request(vec![1; 10], 5), 0.0).unwrap_err();
    assert_eq!(error, super::super::request::SubmitError::QueueFull(2));
    assert_eq!(core.stats.rejected, 1);
}

#[test]
fn a_request_for_a_busy_adapter_slot_waits_while_others_pass() {
    let mut config = config(1024);
    config.lora_adapters = vec![Arc::from("a"), Arc::from("b")];
    config.max_loras = 1;
    let mut core = EngineCore::new(config);
    let with = |lora: Option<&str>| GenerateRequest {
        lora: lora.map(Arc::from),
        ..request(vec![3; 10], 20)
    };
    let _streams: Vec<_> = [Some("a"), Some("b"), None]
        .into_iter()
        .map(|lora| core.submit(with(lora), 0.0).unwrap())
        .collect();
    let batch = core.schedule(0.0).unwrap();
    assert_eq!(batch.lora_loads, 1);
    let running: Vec<_> = core.running.iter().map(|s| s.lora_name()).collect();
    assert_eq!(running, [Some("a"), None]);
    assert_eq!(core.waiting[0].lora_name(), Some("b"));
    run(&mut core);
    assert!(core.waiting.is_empty() && core.running.is_empty());
}

#[test]
fn a_dropped_stream_aborts_and_frees_blocks() {
    let mut core = EngineCore::new(config(64));
    let stream = core.submit(request(vec![1; 100], 500), 0.0).unwrap();
    let batch = core.schedule(0.0).unwrap();
    core.finish_step(core.config.profile.cost.step_time(&batch));
    assert!(core.pool.usage() > 0.0);
    drop(stream);
    assert!(core.schedule(core.time).is_none());
    assert_eq!((core.pool.usage(), core.stats.aborted), (0.0, 1));
}
