//! OpenAI-compatible providers: the request passes through with the model
//! name mapped and, when streaming, `stream_options.include_usage` set so
//! every stream reports its tokens; the reply passes through, its usage
//! metered. The key goes in `Authorization: Bearer`, replacing whatever the
//! client sent.

use bytes::Bytes;
use eventsource_stream::Event;
use http::{HeaderMap, HeaderValue, header};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{
    error::Failure,
    secret::Secret,
    sse::{self, Interruption, Translate},
    usage::{TokenUsage, openai_usage},
};
use crate::request::Api;

/// The request as sent on.
pub struct Prepared {
    /// Appended to the base URL: a fixed path per API.
    pub path: &'static str,
    /// The body.
    pub body: Bytes,
    /// Whether the answer streams.
    pub stream: bool,
}

#[derive(Deserialize, Serialize)]
struct Passthrough {
    model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream_options: Option<Map<String, Value>>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// The body for `model` (the provider's name) and its path.
pub fn prepare(api: Api, body: &[u8], model: &str) -> Result<Prepared, Failure> {
    let mut request: Passthrough =
        serde_json::from_slice(body).map_err(|e| Failure::invalid(crate::error::ApiError::bad_request(None, format!("the request body is not a JSON object: {e}"))))?;
    request.model = model.to_owned();
    let stream = request.stream == Some(true) && api != Api::Embeddings;
    if stream {
        request.stream_options.get_or_insert_default().insert("include_usage".into(), Value::Bool(true));
    }
    let path = match api {
        Api::Chat => "/chat/completions",
        Api::Completions => "/completions",
        Api::Embeddings => "/embeddings",
    };
    let body = serde_json::to_vec(&request).expect("serialising to memory cannot fail");
    Ok(Prepared { path, body: Bytes::from(body), stream })
}

/// The request headers: the key as a sensitive bearer token, if any.
pub fn headers(key: Option<&Secret>) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(key) = key {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose()))?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// A non-streamed reply's usage; `None` if it is not a JSON object.
pub fn reply_usage(body: &[u8]) -> Option<TokenUsage> {
    serde_json::from_slice::<Map<String, Value>>(body).ok()?;
    Some(openai_usage(body).unwrap_or_default())
}

/// Passes a stream through, noting its usage.
#[derive(Default)]
pub struct PassthroughStream {
    done: bool,
    usage: TokenUsage,
}

impl Translate for PassthroughStream {
    fn event(&mut self, event: &Event) -> Result<Vec<Bytes>, Interruption> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(vec![]);
        }
        if serde_json::from_str::<Map<String, Value>>(&event.data).is_err() {
            return Err(Interruption::new("api_error", "the provider sent an unreadable stream chunk"));
        }
        if let Some(usage) = openai_usage(event.data.as_bytes()) {
            self.usage = usage;
        }
        let mut frame = String::with_capacity(event.data.len() + 8);
        for line in event.data.split('\n') {
            frame.push_str("data: ");
            frame.push_str(line);
            frame.push('\n');
        }
        frame.push('\n');
        Ok(vec![Bytes::from(frame)])
    }

    fn finish(&mut self, interrupted: Option<Interruption>) -> Vec<Bytes> {
        let interrupted = interrupted.or_else(|| (!self.done).then(|| Interruption::new("api_error", "the provider's stream ended before [DONE]")));
        let mut frames: Vec<Bytes> = interrupted.iter().map(Interruption::frame).collect();
        frames.push(Bytes::from_static(sse::DONE));
        frames
    }

    fn usage(&self) -> TokenUsage {
        self.usage
    }
}
