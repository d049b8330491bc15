//! What callers hand the engine and what they get back.

use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::mpsc;

/// A generation request, already tokenized.
#[derive(Debug, Clone, Default)]
pub struct GenerateRequest {
    /// Prompt token ids.
    pub prompt: Vec<u32>,
    /// Most output tokens; `None` means up to the context limit.
    pub max_tokens: Option<usize>,
    /// Generate exactly `max_tokens` instead of sampling a length.
    pub ignore_eos: bool,
    /// LoRA adapter to run with.
    pub lora: Option<Arc<str>>,
    /// Seed for the output length and text.
    pub seed: Option<u64>,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The sampled output length was reached (an end-of-sequence token).
    Stop,
    /// `max_tokens` was reached.
    Length,
}

impl FinishReason {
    /// The OpenAI `finish_reason` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// Token counts of a finished request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Prompt tokens served from the prefix cache when first scheduled.
    pub cached_tokens: usize,
}

/// One step's output for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    /// A generated token's text.
    Token(&'static str),
    /// The last token's text, and the request is done.
    Finished {
        /// Text of the last token.
        text: &'static str,
        /// Why generation stopped.
        reason: FinishReason,
        /// Token counts.
        usage: Usage,
    },
}

/// The receiving end of a submitted request. Dropping it aborts the request
/// (as a client disconnect aborts it in vLLM) and frees its KV blocks.
#[derive(Debug)]
pub struct RequestStream {
    /// Engine-wide request id.
    pub id: u64,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Token events, ending with [`TokenEvent::Finished`].
    pub events: mpsc::UnboundedReceiver<TokenEvent>,
}

/// Why the engine refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    /// The prompt has no tokens.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// `max_tokens` was zero.
    #[error("max_tokens must be at least 1")]
    ZeroMaxTokens,
    /// Prompt plus output exceed the context window.
    #[error(
        "This model's maximum context length is {max_model_len} tokens. However, you requested \
         {total} tokens ({prompt_tokens} in the messages, {max_tokens} in the completion). \
         Please reduce the length of the messages or completion."
    )]
    ContextTooLong {
        /// Context window.
        max_model_len: usize,
        /// Prompt plus requested output.
        total: usize,
        /// Prompt tokens.
        prompt_tokens: usize,
        /// Requested output tokens.
        max_tokens: usize,
    },
    /// The adapter is not served by this replica.
    #[error("LoRA adapter `{0}` is not served by this replica")]
    UnknownAdapter(String),
    /// The waiting queue is at its cap.
    #[error("The waiting queue is full ({0} requests); retry later")]
    QueueFull(usize),
}
