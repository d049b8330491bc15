//! Anthropic's Messages API as typed structs: the request the translation
//! writes, and the reply and stream events it reads. Reply types ignore
//! fields they do not use, and unknown block, delta and event types map to
//! an `Unknown` variant (the API documents that new ones appear).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `cache_control`: a prompt-cache breakpoint, in both APIs' JSON (OpenAI
/// clients send Anthropic's shape, as LiteLLM defined it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheControl {
    /// Always `ephemeral`.
    #[serde(rename = "type")]
    pub kind: CacheKind,
    /// `5m` or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// The cache type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// The only type.
    Ephemeral,
}

/// `POST /v1/messages`.
#[derive(Debug, Serialize)]
pub struct MessagesRequest {
    /// The provider's model name.
    pub model: String,
    /// Required by the API.
    pub max_tokens: u32,
    /// Instructions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<Content>,
    /// Alternating user and assistant turns.
    pub messages: Vec<Message>,
    /// Stop sequences.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    /// SSE answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// 0..=1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Which tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// The end user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// `metadata`.
#[derive(Debug, Serialize)]
pub struct Metadata {
    /// An opaque end-user id.
    pub user_id: String,
}

/// A turn's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The user (tool results too).
    User,
    /// The model.
    Assistant,
}

/// One turn.
#[derive(Debug, Serialize)]
pub struct Message {
    /// Who.
    pub role: Role,
    /// What.
    pub content: Content,
}

/// Text, or blocks.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Blocks.
    Blocks(Vec<Block>),
}

/// A request content block.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// A cache breakpoint.
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// An image.
    Image {
        /// Where it is.
        source: ImageSource,
        /// A cache breakpoint.
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// An earlier tool call (assistant).
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments, a JSON object.
        input: Value,
        /// A cache breakpoint.
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
    /// A tool's result (user).
    ToolResult {
        /// The call it answers.
        tool_use_id: String,
        /// The result.
        content: Content,
        /// A cache breakpoint.
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<CacheControl>,
    },
}

impl Block {
    /// Sets the block's cache breakpoint.
    pub fn set_cache_control(&mut self, cc: CacheControl) {
        let (Block::Text { cache_control, .. } | Block::Image { cache_control, .. } | Block::ToolUse { cache_control, .. } | Block::ToolResult { cache_control, .. }) = self;
        *cache_control = Some(cc);
    }
}

/// An image's source.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    /// Inline.
    Base64 {
        /// `image/png`, …
        media_type: String,
        /// The bytes, base64.
        data: String,
    },
    /// Fetched by the provider.
    Url {
        /// Where.
        url: String,
    },
}

/// A tool definition.
#[derive(Debug, Serialize)]
pub struct Tool {
    /// Name.
    pub name: String,
    /// What it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its input's JSON Schema (an object).
    pub input_schema: Value,
    /// A cache breakpoint after the tools up to this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides.
    Auto {
        /// One call at most.
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// Some tool must be called.
    Any {
        /// One call at most.
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// This tool must be called.
    Tool {
        /// Its name.
        name: String,
        /// One call at most.
        #[serde(skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    /// No tool may be called.
    None,
}

/// A non-streamed reply.
#[derive(Debug, Deserialize)]
pub struct MessagesResponse {
    /// `msg_…`.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// The answer.
    pub content: Vec<ReplyBlock>,
    /// Why it stopped.
    pub stop_reason: Option<String>,
    /// Tokens.
    pub usage: Usage,
}

/// A reply content block.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyBlock {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments.
        input: Value,
    },
    /// Extended thinking.
    Thinking {
        /// The thinking text.
        thinking: String,
    },
    /// Anything else (redacted thinking, server tools, newer types).
    #[serde(other)]
    Unknown,
}

/// Token counts; in a stream, `message_delta` repeats them cumulatively.
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct Usage {
    /// Uncached prompt tokens.
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    pub output_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    pub cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: Option<u64>,
}

/// One SSE event's data.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    /// The reply starts (id, model, prompt usage).
    MessageStart {
        /// The reply so far.
        message: StartedMessage,
    },
    /// A content block starts.
    ContentBlockStart {
        /// Its index.
        index: usize,
        /// Its start.
        content_block: ReplyBlock,
    },
    /// More of a block.
    ContentBlockDelta {
        /// Its index.
        index: usize,
        /// What is new.
        delta: BlockDelta,
    },
    /// A block ends.
    ContentBlockStop,
    /// Stop reason and usage.
    MessageDelta {
        /// Stop reason.
        delta: MessageDeltaBody,
        /// Cumulative usage.
        #[serde(default)]
        usage: Usage,
    },
    /// The reply ends.
    MessageStop,
    /// Keep-alive.
    Ping,
    /// An error mid-stream.
    Error {
        /// What.
        error: ErrorBody,
    },
    /// A newer event type.
    #[serde(other)]
    Unknown,
}

/// `message_start.message`.
#[derive(Debug, Deserialize)]
pub struct StartedMessage {
    /// `msg_…`.
    pub id: String,
    /// The model.
    pub model: String,
    /// Prompt usage.
    #[serde(default)]
    pub usage: Usage,
}

/// `content_block_delta.delta`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BlockDelta {
    /// Text.
    TextDelta {
        /// More text.
        text: String,
    },
    /// Tool arguments.
    InputJsonDelta {
        /// More JSON text.
        partial_json: String,
    },
    /// Thinking.
    ThinkingDelta {
        /// More thinking.
        thinking: String,
    },
    /// Signatures, citations and newer types.
    #[serde(other)]
    Unknown,
}

/// `message_delta.delta`.
#[derive(Debug, Deserialize)]
pub struct MessageDeltaBody {
    /// Why it stopped.
    pub stop_reason: Option<String>,
}

/// An error's body.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    /// `overloaded_error`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl Usage {
    /// Later counts replace earlier ones (`message_delta` is cumulative).
    pub fn merge(&mut self, later: Usage) {
        self.input_tokens = later.input_tokens.or(self.input_tokens);
        self.output_tokens = later.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = later.cache_creation_input_tokens.or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = later.cache_read_input_tokens.or(self.cache_read_input_tokens);
    }

    /// As OpenAI counts: the prompt includes cache reads and writes. The
    /// counts come from the provider, so sums saturate rather than overflow.
    pub fn tokens(&self) -> super::super::usage::TokenUsage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let creation = self.cache_creation_input_tokens.unwrap_or(0);
        super::super::usage::TokenUsage {
            prompt: self.input_tokens.unwrap_or(0).saturating_add(read).saturating_add(creation),
            completion: self.output_tokens.unwrap_or(0),
            cache_read: read,
            cache_creation: creation,
        }
    }
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found with the `anthropic_translation` fuzz target's seed
    /// `regression-usage-overflow.json`: a reply claiming u64::MAX prompt
    /// tokens plus cache reads overflowed (a panic in debug builds, a wrapped
    /// count in release).
    #[test]
    fn huge_token_counts_from_a_provider_saturate() {
        let usage = Usage { input_tokens: Some(u64::MAX), output_tokens: Some(u64::MAX), cache_creation_input_tokens: Some(1), cache_read_input_tokens: Some(1) };
        let tokens = usage.tokens();
        assert_eq!((tokens.prompt, tokens.completion, tokens.cache_read), (u64::MAX, u64::MAX, 1));
        let out = crate::egress::chat::UsageOut::from(tokens);
        assert_eq!(out.total_tokens, u64::MAX);
    }
}
