//! The SGLang-native endpoints SGLang's router calls: `/model_info`,
//! `/server_info` (and their `get_` forms) when a worker is added, `/get_load`
//! for load-aware policies, and `/generate`.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    response::{IntoResponse, Response, Sse, sse::Event},
};
use futures::stream;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AppState, completions::collect, error::ApiError, openai::checked_ids, parse_json};
use crate::{
    engine::{FinishReason, GenerateRequest, TokenEvent, Usage},
    tokenizer,
};

/// `GET /model_info`.
pub(crate) async fn model_info(State(app): State<AppState>) -> Json<Value> {
    let model = &app.engine.config().model;
    Json(json!({
        "model_path": model,
        "tokenizer_path": model,
        "is_generation": true,
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
    }))
}

/// `GET /server_info`.
pub(crate) async fn server_info(State(app): State<AppState>) -> Json<Value> {
    let config = app.engine.config();
    Json(json!({
        "model_path": config.model,
        "served_model_name": config.model,
        "tp_size": 1,
        "dp_size": 1,
        "page_size": config.block_size,
        "max_total_num_tokens": config.kv_capacity_tokens(),
        "max_running_requests": config.max_num_seqs,
        "max_prefill_tokens": config.max_num_batched_tokens,
        "context_length": config.effective_max_model_len(),
        "version": concat!("kvlb-sim ", env!("CARGO_PKG_VERSION")),
        "profile": config.profile.name,
    }))
}

/// `GET /get_load`: one entry per data-parallel rank (always one), with the
/// load in tokens: KV held by running requests plus waiting prompts.
pub(crate) async fn load(State(app): State<AppState>) -> Json<Value> {
    let load = app.engine.load();
    Json(json!([{
        "dp_rank": 0,
        "num_reqs": load.running + load.waiting,
        "num_waiting_reqs": load.waiting,
        "num_tokens": load.computed_tokens + load.waiting_tokens,
    }]))
}

/// `/generate` body.
#[derive(Debug, Deserialize)]
pub(crate) struct GenerateBody {
    #[serde(default)]
    text: Option<Text>,
    #[serde(default)]
    input_ids: Option<Vec<u32>>,
    #[serde(default)]
    sampling_params: Option<SamplingParams>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    lora_path: Option<String>,
    #[serde(default)]
    rid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Text {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
struct SamplingParams {
    #[serde(default)]
    max_new_tokens: Option<i64>,
    #[serde(default)]
    ignore_eos: Option<bool>,
}

/// `POST /generate` (SGLang's native API; `max_new_tokens` defaults to 128).
pub(crate) async fn generate(
    State(app): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: GenerateBody = parse_json(&body?)?;
    let prompt = match (&body.text, &body.input_ids) {
        (Some(Text::One(text)), None) => tokenizer::tokenize(text),
        (Some(Text::Many(texts)), None) if texts.len() == 1 => tokenizer::tokenize(&texts[0]),
        (None, Some(ids)) => checked_ids(ids)?,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `text` (a single prompt) and `input_ids`",
                Some("text"),
            ));
        }
    };
    let params = body.sampling_params.unwrap_or_default();
    let max_tokens = match params.max_new_tokens {
        None => 128,
        Some(n) if n < 1 => {
            return Err(ApiError::bad_request(
                format!("max_new_tokens must be at least 1, got {n}"),
                Some("sampling_params.max_new_tokens"),
            ));
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let lora = match &body.lora_path {
        None => None,
        Some(name) => Some(
            app.resolve_model(name)?
                .ok_or_else(|| ApiError::unknown_model(name))?,
        ),
    };
    let stream = app.engine.submit(GenerateRequest {
        prompt,
        max_tokens: Some(max_tokens),
        ignore_eos: params.ignore_eos.unwrap_or(false),
        lora,
        seed: None,
    })?;
    let rid: Arc<str> = body
        .rid
        .unwrap_or_else(|| format!("{}-{}", app.replica_tag, stream.id))
        .into();
    let started = app.engine.now();
    if !body.stream.unwrap_or(false) {
        let (text, reason, usage) = collect(stream).await?;
        let meta = meta_info(&rid, Some((reason, usage)), app.engine.now() - started);
        return Ok(Json(json!({ "text": text, "meta_info": meta })).into_response());
    }
    let state = (stream.events, String::new(), false);
    let engine = app.engine.clone();
    let events = stream::unfold(state, move |(mut events, mut text, done)| {
        let (rid, engine) = (rid.clone(), engine.clone());
        async move {
            if done {
                return None;
            }
            let Some(event) = events.recv().await else {
                return Some((
                    Ok::<_, Infallible>(Event::default().data("[DONE]")),
                    (events, text, true),
                ));
            };
            let finish = match event {
                TokenEvent::Token(piece) => {
                    text.push_str(piece);
                    None
                }
                TokenEvent::Finished {
                    text: piece,
                    reason,
                    usage,
                } => {
                    text.push_str(piece);
                    Some((reason, usage))
                }
            };
            let meta = meta_info(&rid, finish, engine.now() - started);
            let data = json!({ "text": text, "meta_info": meta }).to_string();
            Some((Ok(Event::default().data(data)), (events, text, false)))
        }
    });
    Ok(Sse::new(events).into_response())
}

fn meta_info(rid: &str, finish: Option<(FinishReason, Usage)>, e2e_latency: f64) -> Value {
    let Some((reason, usage)) = finish else {
        return json!({ "id": rid, "finish_reason": null });
    };
    let finish_reason = match reason {
        FinishReason::Length => json!({ "type": "length", "length": usage.completion_tokens }),
        FinishReason::Stop => json!({ "type": "stop", "matched": null }),
    };
    json!({
        "id": rid,
        "finish_reason": finish_reason,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "e2e_latency": e2e_latency,
    })
}
