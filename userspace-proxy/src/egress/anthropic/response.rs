//! Anthropic Messages reply → OpenAI chat completion: text blocks joined
//! into `content`, `tool_use` blocks into `tool_calls` (input as JSON text),
//! thinking into `reasoning_content`, `stop_reason` into `finish_reason`,
//! and usage with the cache counts.

use super::types::{MessagesResponse, ReplyBlock, finish_reason};
use crate::egress::{
    chat::{ChatCompletion, Choice, FunctionCall, ReplyMessage, ToolCall},
    usage::TokenUsage,
};

/// Translates a reply; `created` is the Unix time to report.
pub fn translate(reply: MessagesResponse, created: u64) -> (ChatCompletion, TokenUsage) {
    let mut text = String::new();
    let mut thinking = String::new();
    let mut calls = Vec::new();
    for block in reply.content {
        match block {
            ReplyBlock::Text { text: t } => text.push_str(&t),
            ReplyBlock::Thinking { thinking: t } => thinking.push_str(&t),
            ReplyBlock::ToolUse { id, name, input } => {
                calls.push(ToolCall { id, kind: "function".into(), function: FunctionCall { name, arguments: input.to_string() } });
            }
            ReplyBlock::Unknown => {}
        }
    }
    let usage = reply.usage.tokens();
    let completion = ChatCompletion {
        id: format!("chatcmpl-{}", reply.id),
        object: "chat.completion",
        created,
        model: reply.model,
        choices: vec![Choice {
            index: 0,
            message: ReplyMessage {
                role: "assistant",
                content: (!text.is_empty() || calls.is_empty()).then_some(text),
                reasoning_content: (!thinking.is_empty()).then_some(thinking),
                tool_calls: (!calls.is_empty()).then_some(calls),
                refusal: None,
            },
            finish_reason: Some(reply.stop_reason.as_deref().map_or("stop", finish_reason)),
            logprobs: None,
        }],
        usage: usage.into(),
    };
    (completion, usage)
}
