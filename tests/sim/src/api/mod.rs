//! The HTTP API of one replica: OpenAI, SGLang-native, `/metrics` and the
//! ground-truth `/debug` endpoints.

mod completions;
mod debug;
mod error;
mod info;
mod openai;
mod responses;
mod sglang;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::Uri,
    routing::{get, post},
};
use serde::de::DeserializeOwned;

pub use error::ApiError;

use crate::engine::Engine;

/// Default request-body limit (as llm-d-inference-sim's 4 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Shared by every handler of one replica.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    engine: Engine,
    /// Short tag that makes response ids unique across a fleet.
    replica_tag: Arc<str>,
}

impl AppState {
    /// The LoRA adapter a `model` field asks for (`None` = base model).
    fn resolve_model(&self, model: &str) -> Result<Option<Arc<str>>, ApiError> {
        let config = self.engine.config();
        if model == config.model {
            return Ok(None);
        }
        config
            .lora_adapters
            .iter()
            .find(|a| &***a == model)
            .map(|a| Some(a.clone()))
            .ok_or_else(|| ApiError::unknown_model(model))
    }
}

/// The router of one replica. `replica_tag` goes into response ids.
pub fn router(engine: Engine, replica_tag: &str, max_body_bytes: usize) -> Router {
    let state = AppState {
        engine,
        replica_tag: replica_tag.into(),
    };
    Router::new()
        .route("/v1/chat/completions", post(completions::chat))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/models", get(info::models))
        .route("/health", get(info::health))
        .route("/health_generate", get(info::health))
        .route("/ping", get(info::health))
        .route("/version", get(info::version))
        .route("/metrics", get(info::metrics))
        .route("/reset_prefix_cache", post(info::flush_cache))
        .route(
            "/flush_cache",
            post(info::flush_cache).get(info::flush_cache),
        )
        .route("/generate", post(sglang::generate))
        .route("/get_model_info", get(sglang::model_info))
        .route("/model_info", get(sglang::model_info))
        .route("/get_server_info", get(sglang::server_info))
        .route("/server_info", get(sglang::server_info))
        .route("/get_load", get(sglang::load))
        .route("/debug/state", get(debug::state))
        .route("/debug/kv_events", get(debug::kv_events))
        .route("/debug/prefix_match", post(debug::prefix_match))
        .fallback(|uri: Uri| async move { ApiError::not_found(uri.path()) })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Parses a JSON body, naming the offending field on error.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value =
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| ApiError::bad_json(&e))?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}"), None))?;
    Ok(value)
}

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
