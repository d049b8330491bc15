//! Small endpoints: models, health, version, metrics, cache flush.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::AppState;
use crate::metrics;

/// `GET /v1/models`: the served model and its LoRA adapters.
pub(crate) async fn models(State(app): State<AppState>) -> Json<Value> {
    let config = app.engine.config();
    let max_model_len = config.effective_max_model_len();
    let base = json!({
        "id": config.model,
        "object": "model",
        "created": 0,
        "owned_by": "kvlb-sim",
        "root": config.model,
        "parent": null,
        "max_model_len": max_model_len,
    });
    let adapters = config.lora_adapters.iter().map(|name| {
        json!({
            "id": &**name,
            "object": "model",
            "created": 0,
            "owned_by": "kvlb-sim",
            "root": &**name,
            "parent": config.model,
            "max_model_len": max_model_len,
        })
    });
    let data: Vec<Value> = std::iter::once(base).chain(adapters).collect();
    Json(json!({ "object": "list", "data": data }))
}

/// `GET /health` (and SGLang's `/health_generate`): 200 while serving.
pub(crate) async fn health() {}

/// `GET /version`.
pub(crate) async fn version() -> Json<Value> {
    Json(json!({ "version": concat!("kvlb-sim ", env!("CARGO_PKG_VERSION")) }))
}

/// `GET /metrics` in the replica's metrics flavor.
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    let text = metrics::render(&app.engine);
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

/// `POST /reset_prefix_cache` (vLLM) and `/flush_cache` (SGLang): evict every
/// cached block no request holds.
pub(crate) async fn flush_cache(State(app): State<AppState>) -> Json<Value> {
    let flushed = app.engine.flush_prefix_cache();
    Json(json!({ "flushed_blocks": flushed }))
}
