//! OpenAI response bodies and stream chunks for both completion endpoints.

use serde::Serialize;

use crate::engine::{FinishReason, Usage};

/// Which endpoint a response belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
}

/// `usage` with `prompt_tokens_details.cached_tokens`.
#[derive(Debug, Serialize)]
pub(crate) struct UsageJson {
    prompt_tokens: usize,
    completion_tokens: usize,
    total_tokens: usize,
    prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Serialize)]
struct PromptTokensDetails {
    cached_tokens: usize,
}

impl From<Usage> for UsageJson {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.prompt_tokens + u.completion_tokens,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: u.cached_tokens,
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    content: &'a str,
}

/// One choice; exactly one of `message`, `delta`, `text` is set.
#[derive(Debug, Serialize)]
struct Choice<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<Delta<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

/// A whole response or one stream chunk.
#[derive(Debug, Serialize)]
struct Body<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    /// Absent, `null` (chunks of a stream with `include_usage`) or the counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<UsageJson>>,
}

/// What every body of one request shares.
#[derive(Debug, Clone)]
pub(crate) struct ResponseMeta {
    pub(crate) endpoint: Endpoint,
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
}

impl ResponseMeta {
    fn body<'a>(
        &'a self,
        streaming: bool,
        choices: Vec<Choice<'a>>,
        usage: Option<Option<UsageJson>>,
    ) -> Body<'a> {
        let object = match (self.endpoint, streaming) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Completions, _) => "text_completion",
        };
        Body {
            id: &self.id,
            object,
            created: self.created,
            model: &self.model,
            choices,
            usage,
        }
    }

    fn choice<'a>(
        &self,
        streaming: bool,
        text: &'a str,
        first: bool,
        reason: Option<FinishReason>,
    ) -> Choice<'a> {
        let mut choice = Choice {
            index: 0,
            message: None,
            delta: None,
            text: None,
            logprobs: None,
            finish_reason: reason.map(FinishReason::as_str),
        };
        match (self.endpoint, streaming) {
            (Endpoint::Chat, false) => {
                choice.message = Some(Message {
                    role: "assistant",
                    content: text,
                })
            }
            (Endpoint::Chat, true) => {
                choice.delta = Some(Delta {
                    role: first.then_some("assistant"),
                    content: text,
                })
            }
            (Endpoint::Completions, _) => choice.text = Some(text),
        }
        choice
    }

    /// The JSON of a non-streaming response.
    pub(crate) fn complete(&self, text: &str, reason: FinishReason, usage: Usage) -> String {
        let choice = self.choice(false, text, true, Some(reason));
        json(&self.body(false, vec![choice], Some(Some(usage.into()))))
    }

    /// The JSON of a stream chunk carrying one token (the role rides on the
    /// first, so the first chunk arrives with the first token).
    pub(crate) fn token_chunk(
        &self,
        text: &str,
        first: bool,
        reason: Option<FinishReason>,
        include_usage: bool,
    ) -> String {
        let choice = self.choice(true, text, first, reason);
        json(&self.body(true, vec![choice], include_usage.then_some(None)))
    }

    /// The JSON of the final usage chunk (empty `choices`).
    pub(crate) fn usage_chunk(&self, usage: Usage) -> String {
        json(&self.body(true, Vec::new(), Some(Some(usage.into()))))
    }
}

fn json(body: &impl Serialize) -> String {
    serde_json::to_string(body).expect("response bodies always serialize")
}
