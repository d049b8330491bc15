//! What routing needs from a request body, and no more: the model, whether it
//! streams, and the bytes prefix affinity hashes (the chat `messages`, the
//! completion `prompt` or the embedding `input`, as sent). Other fields are
//! skipped unparsed; the bytes forwarded upstream are the bytes received.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

/// The OpenAI API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Completions,
    /// `/v1/embeddings`.
    Embeddings,
}

impl Api {
    /// The API served at `path`, if any.
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            "/v1/chat/completions" => Some(Self::Chat),
            "/v1/completions" => Some(Self::Completions),
            "/v1/embeddings" => Some(Self::Embeddings),
            _ => None,
        }
    }

    /// The field that carries the prompt.
    fn prompt_field(self) -> &'static str {
        match self {
            Api::Chat => "messages",
            Api::Completions => "prompt",
            Api::Embeddings => "input",
        }
    }
}

/// The routing view of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingFields<'a> {
    /// The `model` field.
    pub model: Cow<'a, str>,
    /// The `stream` field.
    pub stream: bool,
    /// The prompt's JSON text, as sent.
    pub prompt: &'a str,
}

#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    stream: Option<bool>,
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
    #[serde(borrow)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

/// Reads the routing fields of a JSON body; errors are OpenAI-style 400s
/// naming the field.
pub fn parse(api: Api, body: &[u8]) -> Result<RoutingFields<'_>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let fields: Fields = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let param = ["model", "stream", "messages", "prompt", "input"].into_iter().find(|f| *f == field);
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(None, format!("the request body is not valid JSON: {inner}"))
        } else {
            ApiError::bad_request(param, format!("invalid `{field}`: {inner}"))
        }
    })?;
    let model = fields.model.ok_or_else(|| ApiError::bad_request(Some("model"), "you must provide a model parameter"))?;
    let prompt = match api {
        Api::Chat => fields.messages,
        Api::Completions => fields.prompt,
        Api::Embeddings => fields.input,
    };
    let prompt = prompt.ok_or_else(|| {
        let field = api.prompt_field();
        ApiError::bad_request(Some(field), format!("you must provide `{field}`"))
    })?;
    if api == Api::Chat && prompt.get().trim_start().starts_with("[]") {
        return Err(ApiError::bad_request(Some("messages"), "`messages` must not be empty"));
    }
    Ok(RoutingFields { model, stream: fields.stream.unwrap_or(false), prompt: prompt.get() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_stream_and_prompt_bytes_without_the_rest() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"tools":[{"x":1}]}"#;
        let f = parse(Api::Chat, body).unwrap();
        assert_eq!((f.model.as_ref(), f.stream, f.prompt), ("m", true, r#"[{"role":"user","content":"hi"}]"#));
        let f = parse(Api::Completions, br#"{"prompt":"once upon","model":"m"}"#).unwrap();
        assert_eq!((f.stream, f.prompt), (false, r#""once upon""#));
    }

    #[test]
    fn bad_bodies_are_400s_naming_the_field() {
        let cases: [(&[u8], Option<&str>, &str); 6] = [
            (b"{not json", None, "not valid JSON"),
            (b"", None, "not valid JSON"),
            (br#"{"messages":[{"role":"user","content":"x"}]}"#, Some("model"), "must provide a model"),
            (br#"{"model":7,"messages":[]}"#, Some("model"), "invalid `model`"),
            (br#"{"model":"m","messages":[]}"#, Some("messages"), "must not be empty"),
            (br#"{"model":"m"}"#, Some("messages"), "must provide `messages`"),
        ];
        for (body, param, text) in cases {
            let e = parse(Api::Chat, body).unwrap_err();
            assert_eq!(e.status, 400);
            assert_eq!(e.param, param, "{e:?}");
            assert!(e.message.contains(text), "{e:?}");
        }
    }
}
