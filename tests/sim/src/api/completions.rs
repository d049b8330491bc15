//! `/v1/chat/completions` and `/v1/completions`: submit to the engine, then
//! answer with one JSON body or an SSE stream of chunks.

use std::{convert::Infallible, sync::Arc};

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    response::{IntoResponse, Response, Sse, sse::Event},
};
use futures::{Stream, stream};
use tokio::sync::mpsc::UnboundedReceiver;

use super::{
    AppState,
    error::ApiError,
    openai::{ChatRequest, CommonOptions, CompletionRequest, Sampling},
    parse_json,
    responses::{Endpoint, ResponseMeta},
    unix_now,
};
use crate::engine::{GenerateRequest, RequestStream, TokenEvent, Usage};

/// `POST /v1/chat/completions`.
pub(crate) async fn chat(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let options: CommonOptions = parse_json(&body)?;
    let request: ChatRequest = parse_json(&body)?;
    let lora = app.resolve_model(&request.model)?;
    let (prompt, sampling) = request.prepare(&options)?;
    generate(&app, Endpoint::Chat, request.model, lora, prompt, sampling).await
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body?;
    let options: CommonOptions = parse_json(&body)?;
    let request: CompletionRequest = parse_json(&body)?;
    let lora = app.resolve_model(&request.model)?;
    let (prompt, sampling) = request.prepare(&options)?;
    generate(
        &app,
        Endpoint::Completions,
        request.model,
        lora,
        prompt,
        sampling,
    )
    .await
}

async fn generate(
    app: &AppState,
    endpoint: Endpoint,
    model: String,
    lora: Option<Arc<str>>,
    prompt: Vec<u32>,
    sampling: Sampling,
) -> Result<Response, ApiError> {
    let stream = app.engine.submit(GenerateRequest {
        prompt,
        max_tokens: sampling.max_tokens,
        ignore_eos: sampling.ignore_eos,
        lora,
        seed: sampling.seed,
    })?;
    let prefix = match endpoint {
        Endpoint::Chat => "chatcmpl",
        Endpoint::Completions => "cmpl",
    };
    let meta = ResponseMeta {
        endpoint,
        id: format!("{prefix}-{}-{}", app.replica_tag, stream.id),
        created: unix_now(),
        model,
    };
    if sampling.stream {
        let events = sse_events(meta, stream.events, sampling.include_usage);
        return Ok(Sse::new(events).into_response());
    }
    let (text, reason, usage) = collect(stream).await?;
    let body = meta.complete(&text, reason, usage);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

/// Waits for a request to finish and returns its text.
pub(crate) async fn collect(
    mut stream: RequestStream,
) -> Result<(String, crate::engine::FinishReason, Usage), ApiError> {
    let mut text = String::new();
    while let Some(event) = stream.events.recv().await {
        match event {
            TokenEvent::Token(piece) => text.push_str(piece),
            TokenEvent::Finished {
                text: piece,
                reason,
                usage,
            } => {
                text.push_str(piece);
                return Ok((text, reason, usage));
            }
        }
    }
    Err(engine_gone())
}

/// The error for a request the engine dropped without finishing it.
pub(crate) fn engine_gone() -> ApiError {
    ApiError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message: "the engine stopped before the request finished".into(),
        kind: "internal_error",
        param: None,
        code: None,
    }
}

/// Where a stream is between chunks.
enum Phase {
    Tokens { first: bool },
    Usage(Usage),
    Done,
    End,
}

/// SSE events of a streaming response: one chunk per token (the last with its
/// finish reason), the usage chunk if asked for, then `[DONE]`.
fn sse_events(
    meta: ResponseMeta,
    events: UnboundedReceiver<TokenEvent>,
    include_usage: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let state = (meta, events, Phase::Tokens { first: true });
    stream::unfold(state, move |(meta, mut events, phase)| async move {
        let (data, next) = match phase {
            Phase::Tokens { first } => match events.recv().await? {
                TokenEvent::Token(text) => (
                    meta.token_chunk(text, first, None, include_usage),
                    Phase::Tokens { first: false },
                ),
                TokenEvent::Finished {
                    text,
                    reason,
                    usage,
                } => (
                    meta.token_chunk(text, first, Some(reason), include_usage),
                    if include_usage {
                        Phase::Usage(usage)
                    } else {
                        Phase::Done
                    },
                ),
            },
            Phase::Usage(usage) => (meta.usage_chunk(usage), Phase::Done),
            Phase::Done => ("[DONE]".to_string(), Phase::End),
            Phase::End => return None,
        };
        Some((Ok(Event::default().data(data)), (meta, events, next)))
    })
}
