//! OpenAI's chat completions API as typed structs: the request a client
//! sends (what the Anthropic translation reads), and the completion and
//! stream chunks the translation writes back.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::anthropic::types::CacheControl;

/// `POST /v1/chat/completions`, the fields translation reads; the rest
/// (`flatten`ed into `other`) has no Anthropic counterpart and is dropped.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// The client's model name.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Stream the answer as SSE.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Most tokens to generate (legacy name).
    pub max_tokens: Option<u32>,
    /// Most tokens to generate.
    pub max_completion_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling (an extension several servers accept).
    pub top_k: Option<u32>,
    /// Stop sequences.
    pub stop: Option<Stop>,
    /// Tools the model may call.
    pub tools: Option<Vec<ToolDef>>,
    /// Which tool to call.
    pub tool_choice: Option<ToolChoice>,
    /// Whether several tool calls may come at once.
    pub parallel_tool_calls: Option<bool>,
    /// The end user, for abuse tracking.
    pub user: Option<String>,
    /// Number of choices; only 1 can be translated.
    pub n: Option<u32>,
    /// Log probabilities; cannot be translated.
    pub logprobs: Option<bool>,
    /// Output format; only `text` can be translated.
    pub response_format: Option<ResponseFormat>,
    /// Every other field (dropped).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `response_format`.
#[derive(Debug, Deserialize)]
pub struct ResponseFormat {
    /// `text`, `json_object` or `json_schema`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One message, by role.
#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub enum Message {
    /// Instructions.
    System(Instructions),
    /// Instructions (the newer name).
    Developer(Instructions),
    /// The user's turn.
    User(UserMessage),
    /// The model's earlier turn.
    Assistant(AssistantMessage),
    /// A tool's result.
    Tool(ToolMessage),
}

/// A system or developer message.
#[derive(Debug, Deserialize)]
pub struct Instructions {
    /// Text or text parts.
    pub content: Content,
    /// A prompt-cache breakpoint at the end of this message.
    pub cache_control: Option<CacheControl>,
}

/// A user message.
#[derive(Debug, Deserialize)]
pub struct UserMessage {
    /// Text or parts.
    pub content: Content,
    /// A prompt-cache breakpoint at the end of this message.
    pub cache_control: Option<CacheControl>,
}

/// An assistant message.
#[derive(Debug, Deserialize)]
pub struct AssistantMessage {
    /// Text, parts, or none with tool calls.
    pub content: Option<Content>,
    /// Tools it called.
    pub tool_calls: Option<Vec<ToolCall>>,
    /// A prompt-cache breakpoint at the end of this message.
    pub cache_control: Option<CacheControl>,
}

/// A tool result.
#[derive(Debug, Deserialize)]
pub struct ToolMessage {
    /// The result.
    pub content: Content,
    /// The call it answers.
    pub tool_call_id: String,
    /// A prompt-cache breakpoint at the end of this message.
    pub cache_control: Option<CacheControl>,
}

/// Message content: a string or parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts.
    Parts(Vec<Part>),
}

/// One content part.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text.
    Text {
        /// The text.
        text: String,
        /// A prompt-cache breakpoint after this part.
        cache_control: Option<CacheControl>,
    },
    /// An image by URL or `data:` URL.
    ImageUrl {
        /// Where the image is.
        image_url: ImageUrl,
        /// A prompt-cache breakpoint after this part.
        cache_control: Option<CacheControl>,
    },
    /// An earlier refusal (assistant).
    Refusal {
        /// Its text.
        refusal: String,
    },
    /// Audio, files and anything newer: not translatable.
    #[serde(other)]
    Unsupported,
}

/// `image_url`.
#[derive(Debug, Deserialize)]
pub struct ImageUrl {
    /// `https://…` or `data:<type>;base64,<data>`.
    pub url: String,
}

/// A call the assistant made.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub struct ToolCall {
    /// Its id, which the tool message answers.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    /// The function and its arguments.
    pub function: FunctionCall,
}

fn function() -> String {
    "function".into()
}

/// The function called.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
pub struct FunctionCall {
    /// Its name.
    pub name: String,
    /// Its arguments, as JSON text.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Deserialize)]
pub struct ToolDef {
    /// The function.
    pub function: FunctionDef,
    /// A prompt-cache breakpoint after the tool definitions up to this one.
    pub cache_control: Option<CacheControl>,
}

/// A function's definition.
#[derive(Debug, Deserialize)]
pub struct FunctionDef {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// Its parameters' JSON Schema.
    pub parameters: Option<Value>,
}

/// `tool_choice`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `none`, `auto` or `required`.
    Mode(String),
    /// `{"type": "function", "function": {"name"}}`.
    Named {
        /// The function.
        function: NamedFunction,
    },
}

/// The function `tool_choice` names.
#[derive(Debug, Deserialize)]
pub struct NamedFunction {
    /// Its name.
    pub name: String,
}

/// A non-streamed reply.
#[derive(Debug, Serialize)]
pub struct ChatCompletion {
    /// Reply id.
    pub id: String,
    /// `chat.completion`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model that answered.
    pub model: String,
    /// One choice.
    pub choices: Vec<Choice>,
    /// Tokens.
    pub usage: UsageOut,
}

/// A choice of a non-streamed reply.
#[derive(Debug, Serialize)]
pub struct Choice {
    /// Always 0.
    pub index: u32,
    /// The answer.
    pub message: ReplyMessage,
    /// Why generation stopped.
    pub finish_reason: Option<&'static str>,
    /// Not available.
    pub logprobs: Option<()>,
}

/// The assistant's answer.
#[derive(Debug, Serialize)]
pub struct ReplyMessage {
    /// `assistant`.
    pub role: &'static str,
    /// Its text, `null` when it only called tools.
    pub content: Option<String>,
    /// Extended thinking, as DeepSeek and vLLM name it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Never set.
    pub refusal: Option<()>,
}

/// A stream chunk.
#[derive(Debug, Serialize)]
pub struct Chunk<'a> {
    /// Reply id (the same on every chunk).
    pub id: &'a str,
    /// `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix seconds.
    pub created: u64,
    /// The model that answers.
    pub model: &'a str,
    /// One choice, or none on the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// Tokens, on the last chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageOut>,
}

/// A chunk's choice.
#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Why generation stopped, on its last chunk.
    pub finish_reason: Option<&'static str>,
    /// Not available.
    pub logprobs: Option<()>,
}

/// What a chunk adds.
#[derive(Debug, Default, Serialize)]
pub struct Delta {
    /// `assistant`, on the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// Text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Thinking text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Tool call pieces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of a streamed tool call.
#[derive(Debug, Serialize)]
pub struct ToolCallDelta {
    /// Which call (0, 1, … in order).
    pub index: usize,
    /// Its id, on its first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function`, on its first piece.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// Name (first piece) and argument text.
    pub function: FunctionDelta,
}

/// A piece of a function call.
#[derive(Debug, Serialize)]
pub struct FunctionDelta {
    /// Its name, on the first piece.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// More argument text.
    pub arguments: String,
}

/// `usage` as OpenAI reports it, with the cache counts LiteLLM reads.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct UsageOut {
    /// Every prompt token, cached included.
    pub prompt_tokens: u64,
    /// Generated tokens.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
    /// Cached prompt tokens.
    pub prompt_tokens_details: PromptDetailsOut,
    /// Prompt tokens read from the provider's cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_input_tokens: u64,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
pub struct PromptDetailsOut {
    /// Prompt tokens read from the cache.
    pub cached_tokens: u64,
}

impl From<super::usage::TokenUsage> for UsageOut {
    fn from(u: super::usage::TokenUsage) -> Self {
        Self {
            prompt_tokens: u.prompt,
            completion_tokens: u.completion,
            total_tokens: u.prompt.saturating_add(u.completion),
            prompt_tokens_details: PromptDetailsOut { cached_tokens: u.cache_read },
            cache_read_input_tokens: u.cache_read,
            cache_creation_input_tokens: u.cache_creation,
        }
    }
}
