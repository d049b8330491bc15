//! One streaming request: the body a trace line becomes, and what sending it
//! measured.

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    sse::{self, Chunk},
    trace::TraceRequest,
};

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A non-200 answer.
    Status(u16),
    /// The connection could not be made.
    Connect(String),
    /// The request did not finish within the per-request timeout.
    Timeout,
    /// The connection failed while sending or streaming.
    Transport(String),
    /// The stream was malformed, carried an error, or ended without `[DONE]`.
    Stream(String),
}

impl RequestError {
    /// The kind, for counting (`status 429`, `connect`, ...).
    pub fn kind(&self) -> String {
        match self {
            Self::Status(code) => format!("status {code}"),
            Self::Connect(_) => "connect".into(),
            Self::Timeout => "timeout".into(),
            Self::Transport(_) => "transport".into(),
            Self::Stream(_) => "stream".into(),
        }
    }
}

/// What one request measured (wall-clock milliseconds).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Why it failed, if it did.
    pub error: Option<RequestError>,
    /// From the scheduled arrival to the first chunk with text.
    pub ttft_ms: Option<f64>,
    /// Gaps between consecutive chunks with text.
    pub itl_ms: Vec<f32>,
    /// From the scheduled arrival to the end of the stream.
    pub e2e_ms: f64,
    /// Generated tokens (`usage.completion_tokens`, else chunks with text).
    pub output_tokens: u64,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: u64,
    /// `usage.prompt_tokens_details.cached_tokens`.
    pub cached_tokens: u64,
    /// SSE events received.
    pub chunks: u64,
    /// How late the request was sent after its scheduled arrival.
    pub send_lag_ms: f64,
}

/// How requests are sent.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Add `"ignore_eos": true` (vLLM/SGLang): exactly `max_tokens` tokens,
    /// so every contender generates the same work.
    pub ignore_eos: bool,
    /// Per-request limit, from the scheduled arrival.
    pub timeout: Duration,
}

/// The path and JSON body for a trace request (always streaming, with the
/// usage chunk).
pub fn body(request: &TraceRequest, ignore_eos: bool) -> (&'static str, Value) {
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let path = match (&request.messages, &request.prompt) {
        (Some(messages), _) => {
            body["messages"] = json!(messages);
            "/v1/chat/completions"
        }
        (None, prompt) => {
            body["prompt"] = json!(prompt.as_deref().unwrap_or_default());
            "/v1/completions"
        }
    };
    if ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    (path, body)
}

/// Sends `request` to `base_url` and streams the answer to its end.
pub async fn send(
    client: &reqwest::Client,
    base_url: &str,
    request: &TraceRequest,
    options: &SendOptions,
    scheduled: Instant,
) -> Outcome {
    let mut outcome = Outcome {
        send_lag_ms: ms(scheduled.elapsed()),
        ..Outcome::default()
    };
    let deadline = tokio::time::Instant::from_std(scheduled + options.timeout);
    let streamed = tokio::time::timeout_at(
        deadline,
        stream(client, base_url, request, options, scheduled, &mut outcome),
    )
    .await;
    outcome.error = match streamed {
        Ok(result) => result.err(),
        Err(_) => Some(RequestError::Timeout),
    };
    outcome.e2e_ms = ms(scheduled.elapsed());
    outcome
}

async fn stream(
    client: &reqwest::Client,
    base_url: &str,
    request: &TraceRequest,
    options: &SendOptions,
    scheduled: Instant,
    outcome: &mut Outcome,
) -> Result<(), RequestError> {
    let (path, body) = body(request, options.ignore_eos);
    let mut builder = client.post(format!("{base_url}{path}")).json(&body);
    if let Some(objective) = &request.objective {
        builder = builder.header("x-gateway-inference-objective", objective);
    }
    if let Some(session) = &request.session {
        builder = builder.header("x-session-id", session);
    }
    let response = builder.send().await.map_err(|e| {
        if e.is_connect() {
            RequestError::Connect(e.to_string())
        } else {
            RequestError::Transport(e.to_string())
        }
    })?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(RequestError::Status(response.status().as_u16()));
    }
    let mut events = response.bytes_stream().eventsource();
    let mut last_text: Option<Instant> = None;
    let mut text_chunks = 0;
    let mut usage: Option<sse::Usage> = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| RequestError::Transport(e.to_string()))?;
        outcome.chunks += 1;
        match sse::parse(&event.data).map_err(RequestError::Stream)? {
            Chunk::Done => {
                let usage = usage.unwrap_or_default();
                outcome.output_tokens = if usage.completion_tokens > 0 {
                    usage.completion_tokens
                } else {
                    text_chunks
                };
                outcome.prompt_tokens = usage.prompt_tokens;
                outcome.cached_tokens = usage
                    .prompt_tokens_details
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0);
                // Read the body to its end, off the clock: only a fully read
                // response gives its connection back to the keep-alive pool,
                // and a proxy may forward the end of the body a moment after
                // `[DONE]`.
                tokio::spawn(tokio::time::timeout(BODY_END_WAIT, async move { while events.next().await.is_some() {} }));
                return Ok(());
            }
            Chunk::Data {
                text,
                usage: chunk_usage,
            } => {
                usage = chunk_usage.or(usage);
                if text {
                    let now = Instant::now();
                    match last_text {
                        None => outcome.ttft_ms = Some(ms(now - scheduled)),
                        Some(previous) => outcome.itl_ms.push(ms(now - previous) as f32),
                    }
                    last_text = Some(now);
                    text_chunks += 1;
                }
            }
        }
    }
    Err(RequestError::Stream(
        "the stream ended without [DONE]".into(),
    ))
}

/// How long to wait for the end of a body after `[DONE]` before giving up
/// on reusing its connection.
const BODY_END_WAIT: Duration = Duration::from_secs(1);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Message;

    #[test]
    fn bodies_stream_with_usage_and_pick_the_endpoint() {
        let mut request = TraceRequest {
            t_ms: 0.0,
            model: "m".into(),
            messages: Some(vec![Message {
                role: "user".into(),
                content: "hi".into(),
            }]),
            prompt: None,
            max_tokens: 7,
            objective: None,
            session: None,
        };
        let (path, chat) = body(&request, true);
        assert_eq!(path, "/v1/chat/completions");
        assert_eq!(chat["messages"][0]["content"], "hi");
        assert_eq!(chat["stream_options"]["include_usage"], true);
        assert_eq!(
            (chat["max_tokens"].as_u64(), chat["ignore_eos"].as_bool()),
            (Some(7), Some(true))
        );
        request.messages = None;
        request.prompt = Some("p".into());
        let (path, completion) = body(&request, false);
        assert_eq!(
            (path, completion["prompt"].as_str()),
            ("/v1/completions", Some("p"))
        );
        assert!(completion.get("ignore_eos").is_none());
    }
}
