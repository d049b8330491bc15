//! OpenAI chat request → Anthropic Messages request.
//!
//! System and developer messages become `system`; tool messages become
//! `tool_result` blocks in a user turn and assistant `tool_calls` become
//! `tool_use` blocks; consecutive turns of one role merge (so the results of
//! parallel calls share one user turn). `cache_control` on a part, a message
//! (its last block) or a tool is kept. `max_tokens` defaults to the
//! provider's setting; temperature is clamped to Anthropic's 0..=1. Fields
//! without a counterpart are dropped, except those whose loss would change
//! the answer's shape (`n` > 1, `logprobs`, a JSON `response_format`),
//! which are refused.

use serde_json::{Value, json};

use super::types::{Block, CacheControl, Content, ImageSource, Message, MessagesRequest, Metadata, Role, Tool, ToolChoice};
use crate::egress::{
    chat::{self, ChatRequest, Part, Stop},
    error::Failure,
};

/// Translates `req` for `model` (the provider's name for it).
pub fn translate(req: ChatRequest, model: &str, default_max_tokens: u32) -> Result<MessagesRequest, Failure> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(Failure::unsupported("`n` above 1 cannot be sent to an anthropic provider"));
    }
    if req.logprobs == Some(true) {
        return Err(Failure::unsupported("`logprobs` cannot be sent to an anthropic provider"));
    }
    if let Some(format) = req.response_format.as_ref().filter(|f| f.kind != "text") {
        return Err(Failure::unsupported(format!("`response_format` {} cannot be sent to an anthropic provider", format.kind)));
    }
    if !req.other.is_empty() {
        tracing::debug!(fields = ?req.other.keys().collect::<Vec<_>>(), "fields without an Anthropic counterpart dropped");
    }
    let mut system = Vec::new();
    let mut turns: Vec<(Role, Vec<Block>)> = Vec::new();
    for (i, message) in req.messages.into_iter().enumerate() {
        let (role, mut blocks, cache) = match message {
            chat::Message::System(m) | chat::Message::Developer(m) => {
                let mut blocks = blocks(m.content, i)?;
                if blocks.iter().any(|b| !matches!(b, Block::Text { .. })) {
                    return Err(Failure::unsupported(format!("messages[{i}]: instructions can only be text")));
                }
                mark_last(&mut blocks, m.cache_control);
                system.extend(blocks);
                continue;
            }
            chat::Message::User(m) => (Role::User, blocks(m.content, i)?, m.cache_control),
            chat::Message::Assistant(m) => {
                let mut out = match m.content {
                    Some(content) => blocks(content, i)?,
                    None => Vec::new(),
                };
                for (j, call) in m.tool_calls.into_iter().flatten().enumerate() {
                    out.push(Block::ToolUse { input: arguments(&call.function.arguments, i, j)?, id: call.id, name: call.function.name, cache_control: None });
                }
                (Role::Assistant, out, m.cache_control)
            }
            chat::Message::Tool(m) => {
                let content = match m.content {
                    chat::Content::Text(text) => Content::Text(text),
                    parts @ chat::Content::Parts(_) => Content::Blocks(blocks(parts, i)?),
                };
                (Role::User, vec![Block::ToolResult { tool_use_id: m.tool_call_id, content, cache_control: None }], m.cache_control)
            }
        };
        if blocks.is_empty() {
            continue;
        }
        mark_last(&mut blocks, cache);
        match turns.last_mut() {
            Some((last, earlier)) if *last == role => earlier.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(Failure::unsupported("`messages` needs a user or assistant message besides instructions"));
    }
    let has_tools = req.tools.as_ref().is_some_and(|t| !t.is_empty());
    let tool_choice = if has_tools { tool_choice(req.tool_choice, req.parallel_tool_calls)? } else { None };
    Ok(MessagesRequest {
        model: model.to_owned(),
        max_tokens: req.max_completion_tokens.or(req.max_tokens).unwrap_or(default_max_tokens),
        system: system_content(system),
        messages: turns.into_iter().map(|(role, blocks)| Message { role, content: compact(blocks) }).collect(),
        stop_sequences: match req.stop {
            Some(Stop::One(s)) => Some(vec![s]),
            Some(Stop::Many(v)) if !v.is_empty() => Some(v),
            _ => None,
        },
        stream: req.stream.filter(|&s| s),
        temperature: req.temperature.map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: req.top_k,
        tools: req.tools.filter(|t| !t.is_empty()).map(|tools| {
            tools
                .into_iter()
                .map(|t| Tool {
                    name: t.function.name,
                    description: t.function.description,
                    input_schema: t.function.parameters.unwrap_or_else(|| json!({ "type": "object", "properties": {} })),
                    cache_control: t.cache_control,
                })
                .collect()
        }),
        tool_choice,
        metadata: req.user.map(|user_id| Metadata { user_id }),
    })
}

fn blocks(content: chat::Content, message: usize) -> Result<Vec<Block>, Failure> {
    let parts = match content {
        chat::Content::Text(text) => return Ok(text_block(text, None).into_iter().collect()),
        chat::Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (p, part) in parts.into_iter().enumerate() {
        match part {
            Part::Text { text, cache_control } => out.extend(text_block(text, cache_control)),
            Part::Refusal { refusal } => out.extend(text_block(refusal, None)),
            Part::ImageUrl { image_url, cache_control } => out.push(Block::Image { source: image(&image_url.url, message, p)?, cache_control }),
            Part::Unsupported => {
                return Err(Failure::unsupported(format!("messages[{message}].content[{p}]: only text and image_url parts can be sent to an anthropic provider")));
            }
        }
    }
    Ok(out)
}

/// A text block, or none for empty text (which the API refuses).
fn text_block(text: String, cache_control: Option<CacheControl>) -> Option<Block> {
    (!text.is_empty()).then_some(Block::Text { text, cache_control })
}

fn image(url: &str, message: usize, part: usize) -> Result<ImageSource, Failure> {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media_type, data)) = rest.split_once(";base64,") {
            return Ok(ImageSource::Base64 { media_type: media_type.to_owned(), data: data.to_owned() });
        }
    } else if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(ImageSource::Url { url: url.to_owned() });
    }
    Err(Failure::unsupported(format!("messages[{message}].content[{part}].image_url.url must be an http(s) URL or a base64 data: URL")))
}

fn arguments(text: &str, message: usize, call: usize) -> Result<Value, Failure> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Failure::unsupported(format!("messages[{message}].tool_calls[{call}].function.arguments must be a JSON object"))),
    }
}

fn mark_last(blocks: &mut [Block], cache_control: Option<CacheControl>) {
    if let (Some(cc), Some(last)) = (cache_control, blocks.last_mut()) {
        last.set_cache_control(cc);
    }
}

/// A lone plain text block as a string, else the blocks.
fn compact(mut blocks: Vec<Block>) -> Content {
    if let [Block::Text { cache_control: None, .. }] = blocks.as_slice()
        && let Some(Block::Text { text, .. }) = blocks.pop()
    {
        return Content::Text(text);
    }
    Content::Blocks(blocks)
}

/// Instructions as one string, or as blocks when one carries a cache
/// breakpoint.
fn system_content(blocks: Vec<Block>) -> Option<Content> {
    if blocks.is_empty() {
        return None;
    }
    if blocks.iter().any(|b| matches!(b, Block::Text { cache_control: Some(_), .. })) {
        return Some(Content::Blocks(blocks));
    }
    let texts: Vec<String> = blocks.into_iter().filter_map(|b| if let Block::Text { text, .. } = b { Some(text) } else { None }).collect();
    Some(Content::Text(texts.join("\n\n")))
}

fn tool_choice(choice: Option<chat::ToolChoice>, parallel: Option<bool>) -> Result<Option<ToolChoice>, Failure> {
    let disable = (parallel == Some(false)).then_some(true);
    Ok(match choice {
        None if disable.is_some() => Some(ToolChoice::Auto { disable_parallel_tool_use: disable }),
        None => None,
        Some(chat::ToolChoice::Mode(mode)) => Some(match mode.as_str() {
            "auto" => ToolChoice::Auto { disable_parallel_tool_use: disable },
            "required" => ToolChoice::Any { disable_parallel_tool_use: disable },
            "none" => ToolChoice::None,
            other => return Err(Failure::unsupported(format!("`tool_choice` {other:?} is not none, auto, required or a function"))),
        }),
        Some(chat::ToolChoice::Named { function }) => Some(ToolChoice::Tool { name: function.name, disable_parallel_tool_use: disable }),
    })
}
