//! Anthropic's SSE events → OpenAI `chat.completion.chunk`s.
//!
//! | Anthropic event | chunks |
//! |---|---|
//! | `message_start` | role `assistant`, empty content (id and model from it) |
//! | `content_block_start` `tool_use` | a tool call's id, type and name |
//! | `content_block_delta` `text_delta` / `input_json_delta` / `thinking_delta` | content / tool-call arguments / `reasoning_content` |
//! | `message_delta` | `finish_reason` (from `stop_reason`); usage noted |
//! | `message_stop` | the usage chunk (`choices: []`), then `data: [DONE]` |
//! | `ping`, `content_block_stop`, unknown types | nothing |
//! | `error`, unreadable data, an early end | an error frame, then `data: [DONE]` |

use std::collections::HashMap;

use bytes::Bytes;
use eventsource_stream::Event;

use super::types::{BlockDelta, ReplyBlock, StreamEvent, Usage, finish_reason};
use crate::egress::{
    chat::{Chunk, ChunkChoice, Delta, FunctionDelta, ToolCallDelta},
    sse::{self, Interruption, Translate},
    usage::TokenUsage,
};

/// One stream's translation state.
pub struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    /// Content block index → tool call index.
    tools: HashMap<usize, usize>,
    usage: Usage,
    finish: Option<&'static str>,
    stopped: bool,
}

impl StreamTranslator {
    /// A translator reporting `created` (Unix seconds) and `model` until the
    /// provider names its own.
    pub fn new(created: u64, model: &str) -> Self {
        Self { id: "chatcmpl-kvlb".into(), model: model.to_owned(), created, tools: HashMap::new(), usage: Usage::default(), finish: None, stopped: false }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<&'static str>) -> Bytes {
        sse::data(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![ChunkChoice { index: 0, delta, finish_reason, logprobs: None }],
            usage: None,
        })
    }

    fn tool_delta(&self, index: usize, id: Option<String>, name: Option<String>, arguments: String) -> Bytes {
        let kind = id.as_ref().map(|_| "function");
        self.chunk(Delta { tool_calls: Some(vec![ToolCallDelta { index, id, kind, function: FunctionDelta { name, arguments } }]), ..Delta::default() }, None)
    }
}

impl Translate for StreamTranslator {
    fn event(&mut self, event: &Event) -> Result<Vec<Bytes>, Interruption> {
        let parsed: StreamEvent = serde_json::from_str(&event.data)
            .map_err(|e| Interruption::new("api_error", format!("the provider sent an unreadable {:?} event: {e}", event.event)))?;
        let text = |s: String| Delta { content: Some(s), ..Delta::default() };
        let thinking = |s: String| Delta { reasoning_content: Some(s), ..Delta::default() };
        Ok(match parsed {
            StreamEvent::MessageStart { message } => {
                self.id = format!("chatcmpl-{}", message.id);
                self.model = message.model;
                self.usage.merge(message.usage);
                vec![self.chunk(Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() }, None)]
            }
            StreamEvent::ContentBlockStart { index, content_block } => match content_block {
                ReplyBlock::ToolUse { id, name, .. } => {
                    let call = self.tools.len();
                    self.tools.insert(index, call);
                    vec![self.tool_delta(call, Some(id), Some(name), String::new())]
                }
                ReplyBlock::Text { text: t } if !t.is_empty() => vec![self.chunk(text(t), None)],
                ReplyBlock::Thinking { thinking: t } if !t.is_empty() => vec![self.chunk(thinking(t), None)],
                _ => vec![],
            },
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text: t } => vec![self.chunk(text(t), None)],
                BlockDelta::ThinkingDelta { thinking: t } => vec![self.chunk(thinking(t), None)],
                BlockDelta::InputJsonDelta { partial_json } => match self.tools.get(&index) {
                    Some(&call) if !partial_json.is_empty() => vec![self.tool_delta(call, None, None, partial_json)],
                    _ => vec![],
                },
                BlockDelta::Unknown => vec![],
            },
            StreamEvent::MessageDelta { delta, usage } => {
                self.usage.merge(usage);
                match delta.stop_reason {
                    Some(reason) => {
                        let finish = finish_reason(&reason);
                        self.finish = Some(finish);
                        vec![self.chunk(Delta::default(), Some(finish))]
                    }
                    None => vec![],
                }
            }
            StreamEvent::MessageStop => {
                self.stopped = true;
                vec![]
            }
            StreamEvent::Error { error } => return Err(Interruption::new(&error.kind, format!("the provider reported: {}", error.message))),
            StreamEvent::ContentBlockStop | StreamEvent::Ping => vec![],
            StreamEvent::Unknown => {
                tracing::debug!(event = %event.event, "unknown Anthropic stream event ignored");
                vec![]
            }
        })
    }

    fn finish(&mut self, interrupted: Option<Interruption>) -> Vec<Bytes> {
        let interrupted = interrupted.or_else(|| (!self.stopped).then(|| Interruption::new("api_error", "the provider's stream ended before message_stop")));
        if let Some(i) = interrupted {
            return vec![i.frame(), Bytes::from_static(sse::DONE)];
        }
        let mut frames = Vec::new();
        if self.finish.is_none() {
            frames.push(self.chunk(Delta::default(), Some("stop")));
        }
        frames.push(sse::data(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: vec![],
            usage: Some(self.usage.tokens().into()),
        }));
        frames.push(Bytes::from_static(sse::DONE));
        frames
    }

    fn usage(&self) -> TokenUsage {
        self.usage.tokens()
    }
}
