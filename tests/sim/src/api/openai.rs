//! OpenAI request bodies, their validation and the chat template.

use serde::Deserialize;

use super::error::ApiError;
use crate::tokenizer::{self, VOCAB_SIZE};

/// `stream_options` of a streaming request.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// `/v1/chat/completions` body without the [`CommonOptions`] (fields the
/// simulator does not model, such as `temperature`, are accepted and ignored).
#[derive(Debug, Deserialize)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
}

/// `/v1/completions` body without the [`CommonOptions`].
#[derive(Debug, Deserialize)]
pub(crate) struct CompletionRequest {
    pub(crate) model: String,
    prompt: Prompt,
}

/// Fields both endpoints share, parsed from the same body as the request
/// (serde's `flatten` would lose the path of a bad field).
#[derive(Debug, Deserialize)]
pub(crate) struct CommonOptions {
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    ignore_eos: Option<bool>,
    #[serde(default)]
    seed: Option<i64>,
    #[serde(default)]
    n: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<MessageContent>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

/// Validated generation parameters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sampling {
    pub(crate) max_tokens: Option<usize>,
    pub(crate) ignore_eos: bool,
    pub(crate) seed: Option<u64>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

impl CommonOptions {
    /// Checks the options; `max_tokens` overrides the endpoint's default.
    pub(crate) fn sampling(
        &self,
        max_tokens: Option<i64>,
        default_max_tokens: Option<usize>,
    ) -> Result<Sampling, ApiError> {
        if let Some(n) = self.n.filter(|&n| n != 1) {
            return Err(ApiError::bad_request(
                format!("n must be 1 (the simulator returns one choice), got {n}"),
                Some("n"),
            ));
        }
        let stream = self.stream.unwrap_or(false);
        if self.stream_options.is_some() && !stream {
            return Err(ApiError::bad_request(
                "stream_options is only allowed when stream is true",
                Some("stream_options"),
            ));
        }
        let max_tokens = match max_tokens.or(self.max_tokens) {
            None => default_max_tokens,
            Some(n) if n < 1 => {
                return Err(ApiError::bad_request(
                    format!("max_tokens must be at least 1, got {n}"),
                    Some("max_tokens"),
                ));
            }
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        Ok(Sampling {
            max_tokens,
            ignore_eos: self.ignore_eos.unwrap_or(false),
            seed: self.seed.map(|s| s as u64),
            stream,
            include_usage: self
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
        })
    }
}

impl ChatRequest {
    /// The prompt tokens (chat template applied) and sampling parameters.
    pub(crate) fn prepare(
        &self,
        options: &CommonOptions,
    ) -> Result<(Vec<u32>, Sampling), ApiError> {
        let sampling = options.sampling(self.max_completion_tokens, None)?;
        Ok((tokenizer::tokenize(&render_chat(&self.messages)?), sampling))
    }
}

impl CompletionRequest {
    /// The prompt tokens and sampling parameters (`max_tokens` defaults to 16
    /// as in OpenAI's and vLLM's completions API).
    pub(crate) fn prepare(
        &self,
        options: &CommonOptions,
    ) -> Result<(Vec<u32>, Sampling), ApiError> {
        let sampling = options.sampling(None, Some(16))?;
        let single = |n: usize| match n {
            1 => Ok(()),
            _ => Err(ApiError::bad_request(
                format!("prompt must hold exactly one prompt, got {n}"),
                Some("prompt"),
            )),
        };
        let tokens = match &self.prompt {
            Prompt::Text(text) => tokenizer::tokenize(text),
            Prompt::Texts(texts) => {
                single(texts.len())?;
                tokenizer::tokenize(&texts[0])
            }
            Prompt::Tokens(ids) => checked_ids(ids)?,
            Prompt::TokenBatches(batches) => {
                single(batches.len())?;
                checked_ids(&batches[0])?
            }
        };
        Ok((tokens, sampling))
    }
}

/// Token ids given directly, checked against the vocabulary.
pub(crate) fn checked_ids(ids: &[u32]) -> Result<Vec<u32>, ApiError> {
    match ids.iter().find(|&&id| id >= VOCAB_SIZE) {
        Some(id) => Err(ApiError::bad_request(
            format!("token id {id} is outside the vocabulary (0..{VOCAB_SIZE})"),
            Some("prompt"),
        )),
        None => Ok(ids.to_vec()),
    }
}

/// Renders messages with the simulator's chat template:
/// `<|role|>\n{content}<|end|>\n` per message, then `<|assistant|>\n`.
pub(crate) fn render_chat(messages: &[ChatMessage]) -> Result<String, ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad_request(
            "messages must contain at least one message",
            Some("messages"),
        ));
    }
    let mut text = String::new();
    for (i, message) in messages.iter().enumerate() {
        text.push_str("<|");
        text.push_str(&message.role);
        text.push_str("|>\n");
        match &message.content {
            None => {}
            Some(MessageContent::Text(content)) => text.push_str(content),
            Some(MessageContent::Parts(parts)) => {
                for part in parts {
                    match (part.kind.as_str(), &part.text) {
                        ("text", Some(content)) => text.push_str(content),
                        _ => {
                            return Err(ApiError::bad_request(
                                format!(
                                    "only text content parts are supported, got `{}`",
                                    part.kind
                                ),
                                Some(&format!("messages[{i}].content")),
                            ));
                        }
                    }
                }
            }
        }
        text.push_str("<|end|>\n");
    }
    text.push_str("<|assistant|>\n");
    Ok(text)
}
