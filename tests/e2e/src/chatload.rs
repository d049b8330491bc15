//! Closed-loop chat load for benchmarks: each client thread sends one chat
//! completion at a time for a fixed duration. Requests belong to prompt
//! groups that share a long system prompt (the shape that rewards prefix
//! affinity: agents, RAG templates, few-shot prompts); each question is
//! unique.

use std::{
    io::Read,
    net::SocketAddr,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::sim::MODEL;

/// What the clients send.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Prompt groups (distinct system prompts).
    pub groups: usize,
    /// Words in each system prompt (about 1.3 tokens each).
    pub prefix_words: usize,
    /// Tokens generated per request (`ignore_eos`, so exactly this many).
    pub max_tokens: u32,
}

/// What the clients saw.
pub struct Outcome {
    /// Requests answered 200.
    pub ok: u64,
    /// Requests that failed or got another status.
    pub errors: u64,
    /// Latency of successful requests, microseconds.
    pub latency_us: Histogram<u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Outcome {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// A latency quantile, in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }
}

fn system_prompt(group: usize, words: usize) -> String {
    let vocabulary = ["inventory", "customer", "refund", "policy", "shipment", "warranty", "invoice", "loyalty", "discount", "catalog"];
    let words: Vec<&str> = (0..words).map(|i| vocabulary[(i * 7 + i / 10) % vocabulary.len()]).collect();
    format!("You are the assistant of team {group}. {}", words.join(" "))
}

/// Runs `clients` closed-loop clients against `target` for `duration`.
pub fn run(target: SocketAddr, clients: usize, duration: Duration, workload: Workload) -> Outcome {
    let systems: Vec<String> = (0..workload.groups).map(|g| system_prompt(g, workload.prefix_words)).collect();
    let started = Instant::now();
    let deadline = started + duration;
    let results: Vec<(u64, u64, Histogram<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let systems = &systems;
                scope.spawn(move || {
                    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
                    let mut latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
                    let (mut ok, mut errors) = (0, 0);
                    let mut i = 0usize;
                    while Instant::now() < deadline {
                        let group = (c * 7919 + i * 104_729) % systems.len();
                        let body = serde_json::json!({ "model": MODEL, "max_tokens": workload.max_tokens, "ignore_eos": true, "messages": [
                            { "role": "system", "content": systems[group] },
                            { "role": "user", "content": format!("client {c} question {i}") } ] });
                        let t = Instant::now();
                        let response = agent.post(&format!("http://{target}/v1/chat/completions")).header("content-type", "application/json").send(body.to_string());
                        let answered = response.is_ok_and(|r| r.status() == 200 && r.into_body().into_reader().read_to_end(&mut Vec::new()).is_ok());
                        if answered {
                            ok += 1;
                            latency.saturating_record(t.elapsed().as_micros() as u64);
                        } else {
                            errors += 1;
                        }
                        i += 1;
                    }
                    (ok, errors, latency)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let elapsed = started.elapsed();
    let mut latency_us = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
    let (mut ok, mut errors) = (0, 0);
    for (o, e, h) in results {
        ok += o;
        errors += e;
        latency_us.add(h).expect("same bounds");
    }
    Outcome { ok, errors, latency_us, elapsed }
}
