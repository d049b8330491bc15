//! Ground-truth endpoints for oracles, tests and prefix-routing experiments.

use std::convert::Infallible;

use axum::{
    Json,
    body::Bytes,
    extract::{Query, State, rejection::BytesRejection},
    response::{Sse, sse::Event},
};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};

use super::{
    AppState,
    error::ApiError,
    openai::{ChatMessage, render_chat},
    parse_json,
};
use crate::{engine::EngineState, tokenizer};

/// Query of `/debug/state`.
#[derive(Debug, Deserialize)]
pub(crate) struct StateQuery {
    /// Include every cached block hash (default true).
    #[serde(default)]
    hashes: Option<bool>,
}

/// `GET /debug/state[?hashes=false]`: the exact state of the engine now.
pub(crate) async fn state(
    State(app): State<AppState>,
    Query(query): Query<StateQuery>,
) -> Json<EngineState> {
    Json(app.engine.snapshot(query.hashes.unwrap_or(true)))
}

/// `GET /debug/kv_events`: an SSE stream with one JSON batch of KV-cache
/// events per engine step, from the moment of subscribing. A subscriber that
/// falls behind gets `{"lagged": n}` for the `n` batches it lost.
pub(crate) async fn kv_events(
    State(app): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = BroadcastStream::new(app.engine.subscribe_kv_events()).map(|batch| {
        let data = match batch {
            Ok(batch) => serde_json::to_string(&*batch).expect("events always serialize"),
            Err(BroadcastStreamRecvError::Lagged(n)) => json!({ "lagged": n }).to_string(),
        };
        Ok(Event::default().data(data))
    });
    Sse::new(events)
}

/// Body of `/debug/prefix_match`: a chat or a completions prompt.
#[derive(Debug, Deserialize)]
pub(crate) struct PrefixMatchBody {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessage>>,
}

/// `POST /debug/prefix_match`: how many of the prompt's tokens this replica
/// has cached right now (the oracle's view of prefix affinity).
pub(crate) async fn prefix_match(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: PrefixMatchBody = parse_json(&body?)?;
    let lora = match &body.model {
        Some(model) => app.resolve_model(model)?,
        None => None,
    };
    let text = match (&body.prompt, &body.messages) {
        (Some(prompt), None) => prompt.clone(),
        (None, Some(messages)) => render_chat(messages)?,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `prompt` and `messages`",
                None,
            ));
        }
    };
    let tokens = tokenizer::tokenize(&text);
    let cached = app.engine.cached_prefix_tokens(&tokens, lora.as_deref());
    Ok(Json(json!({
        "prompt_tokens": tokens.len(),
        "cached_tokens": cached,
        "block_size": app.engine.config().block_size,
    })))
}
