//! The oracle: a client-side picker that reads every simulator replica's
//! exact state for each request (`/debug/state` for the queue and batch,
//! `/debug/prefix_match` for the request's cached prefix), adds what it sent
//! itself that the replica cannot show yet ([`inflight`]), and sends the
//! request where the least prefill work stands between it and its first
//! token. No real router sees this much; it bounds what routing can achieve.

mod inflight;

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde::Deserialize;
use serde_json::json;

use crate::trace::TraceRequest;
use inflight::{InFlight, block_hashes};

/// Prefill-token equivalent of one running sequence: it lengthens every
/// step by about what prefilling 4-8 tokens costs (per-sequence work plus
/// reading its KV), and a first token takes a step or two.
const RUNNING_COST_TOKENS: f64 = 8.0;
/// Picks remembered per replica (more than any waiting queue here).
const HISTORY: usize = 4096;

/// The oracle over a fleet of simulator replicas.
pub struct Oracle {
    urls: Vec<String>,
    client: reqwest::Client,
    books: Mutex<Books>,
}

/// What the oracle sent: per replica, the uncached tokens it expected for
/// each pick (newest last) and the in-flight prefixes.
struct Books {
    picks: Vec<VecDeque<f64>>,
    inflight: Vec<InFlight>,
}

#[derive(Deserialize)]
struct State {
    waiting: Vec<Sequence>,
    running: Vec<Sequence>,
}

#[derive(Deserialize)]
struct Sequence {
    prompt_tokens: usize,
    output_tokens: usize,
    computed_tokens: usize,
}

#[derive(Deserialize)]
struct PrefixMatch {
    prompt_tokens: usize,
    cached_tokens: usize,
}

/// One replica's view of a request.
struct View {
    /// Prompt tokens left to prefill in the running batch.
    prefilling: f64,
    /// Tokens to compute of each waiting request, newest first.
    waiting: Vec<f64>,
    /// Running sequences.
    running: usize,
    /// The request's prompt tokens, and how many are cached.
    prompt_tokens: usize,
    cached_tokens: usize,
}

impl Oracle {
    /// An oracle over replicas at `urls` (at least one).
    pub fn new(urls: Vec<String>) -> anyhow::Result<Self> {
        anyhow::ensure!(!urls.is_empty(), "--oracle: give at least one replica URL");
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()?;
        let inflight = urls.iter().map(|_| InFlight::default()).collect();
        let picks = urls.iter().map(|_| VecDeque::new()).collect();
        Ok(Self {
            urls,
            client,
            books: Mutex::new(Books { picks, inflight }),
        })
    }

    /// The replica for `request`; falls back to the first replica if none
    /// answers.
    pub async fn pick(&self, request: &TraceRequest) -> &str {
        let views = join_all(self.urls.iter().map(|url| self.view(url, request))).await;
        let text = prompt_text(request);
        let hashes = block_hashes(&text);
        let now = Instant::now();
        let mut books = self.books.lock().unwrap_or_else(|e| e.into_inner());
        let best = views
            .iter()
            .enumerate()
            .filter_map(|(i, view)| {
                let view = view.as_ref()?;
                // In-flight bytes to tokens at this prompt's own ratio.
                let inflight = books.inflight[i].matched_bytes(&hashes, now) * view.prompt_tokens
                    / text.len().max(1);
                let own = view
                    .prompt_tokens
                    .saturating_sub(view.cached_tokens.max(inflight))
                    as f64;
                // The queue is FIFO and the oracle sent it: the newest picks
                // are the waiting requests, with the cache hits expected then.
                let history = &books.picks[i];
                let waiting: f64 = view
                    .waiting
                    .iter()
                    .enumerate()
                    .map(|(k, &tokens)| {
                        history
                            .iter()
                            .rev()
                            .nth(k)
                            .map_or(tokens, |&own| own.min(tokens))
                    })
                    .sum();
                Some((
                    i,
                    view.prefilling + waiting + own + RUNNING_COST_TOKENS * view.running as f64,
                    own,
                ))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let Some((i, _, own)) = best else {
            return &self.urls[0];
        };
        let history = &mut books.picks[i];
        history.push_back(own);
        if history.len() > HISTORY {
            history.pop_front();
        }
        books.inflight[i].insert(&hashes, now);
        &self.urls[i]
    }

    /// One replica's state for `request`, or `None` if it does not answer.
    async fn view(&self, url: &str, request: &TraceRequest) -> Option<View> {
        let mut query = json!({"model": request.model});
        match (&request.messages, &request.prompt) {
            (Some(messages), _) => query["messages"] = json!(messages),
            (None, prompt) => query["prompt"] = json!(prompt),
        }
        let state = self
            .client
            .get(format!("{url}/debug/state?hashes=false"))
            .send();
        let matched = self
            .client
            .post(format!("{url}/debug/prefix_match"))
            .json(&query)
            .send();
        let (state, matched) = futures::join!(state, matched);
        let state: State = state.ok()?.json().await.ok()?;
        let matched: PrefixMatch = matched.ok()?.json().await.ok()?;
        let prefilling: usize = state
            .running
            .iter()
            .map(|s| s.prompt_tokens.saturating_sub(s.computed_tokens))
            .sum();
        Some(View {
            prefilling: prefilling as f64,
            waiting: state
                .waiting
                .iter()
                .rev()
                .map(|s| {
                    (s.prompt_tokens + s.output_tokens).saturating_sub(s.computed_tokens) as f64
                })
                .collect(),
            running: state.running.len(),
            prompt_tokens: matched.prompt_tokens,
            cached_tokens: matched.cached_tokens,
        })
    }
}

/// The request's prompt as one string (model first: adapters cache apart).
fn prompt_text(request: &TraceRequest) -> String {
    let mut text = format!("{}\n", request.model);
    match (&request.messages, &request.prompt) {
        (Some(messages), _) => {
            for m in messages {
                text.push_str(&m.role);
                text.push('\n');
                text.push_str(&m.content);
                text.push('\n');
            }
        }
        (None, prompt) => text.push_str(prompt.as_deref().unwrap_or_default()),
    }
    text
}
