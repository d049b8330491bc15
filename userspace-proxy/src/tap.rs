//! The response body on its way from an endpoint to the client: passed
//! through frame by frame, never buffered, while it notes the time to first
//! byte, the token usage the endpoint reports (SSE or JSON), and holds the
//! request's in-flight slot until the body ends or the client goes away.

use std::{
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use serde::Deserialize;

use crate::{body::BoxError, inflight::InflightGuard, metrics::RequestRecord};

/// How much of a non-streamed reply is kept to read its usage from.
const MAX_USAGE_SCAN: usize = 1 << 20;

/// Token counts an OpenAI-style reply reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Prompt tokens served from the prefix cache.
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PromptDetails {
    /// Cached prompt tokens.
    #[serde(default)]
    pub cached_tokens: u64,
}

#[derive(Deserialize)]
struct WithUsage {
    usage: Option<Usage>,
}

/// A streamed-through upstream body.
pub struct Tap {
    inner: Incoming,
    started: Instant,
    first_byte: bool,
    streaming: bool,
    /// SSE: the unfinished last line; JSON: the reply so far (bounded).
    pending: Vec<u8>,
    usage: Option<Usage>,
    record: Option<RequestRecord>,
    _slot: InflightGuard,
}

impl Tap {
    /// Wraps an upstream body; `record` is completed when the body ends.
    pub fn new(inner: Incoming, streaming: bool, started: Instant, record: RequestRecord, slot: InflightGuard) -> Self {
        Self { inner, started, first_byte: false, streaming, pending: Vec::new(), usage: None, record: Some(record), _slot: slot }
    }

    fn observe(&mut self, data: &Bytes) {
        if !self.first_byte {
            self.first_byte = true;
            if let Some(record) = &self.record {
                record.first_byte(self.started.elapsed());
            }
        }
        if self.streaming {
            self.pending.extend_from_slice(data.chunk());
            while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                if let Some(usage) = usage_in_sse_line(&line) {
                    self.usage = Some(usage);
                }
            }
            if self.pending.len() > MAX_USAGE_SCAN {
                self.pending.clear();
            }
        } else if self.pending.len() + data.len() <= MAX_USAGE_SCAN {
            self.pending.extend_from_slice(data.chunk());
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Some(record) = self.record.take() {
            if !self.streaming {
                // A cut reply does not parse, so it reports no usage.
                self.usage = serde_json::from_slice::<WithUsage>(&self.pending).ok().and_then(|w| w.usage);
            }
            record.finish(self.started.elapsed(), self.usage, complete);
        }
    }
}

/// The usage in one SSE line (`data: {...,"usage":{...}}`), if any.
pub fn usage_in_sse_line(line: &[u8]) -> Option<Usage> {
    let json = line.strip_prefix(b"data:")?;
    if !json.windows(7).any(|w| w == b"\"usage\"") {
        return None;
    }
    serde_json::from_slice::<WithUsage>(json.trim_ascii()).ok()?.usage
}

impl Body for Tap {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.observe(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(false);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // Either the server stopped polling at the end of a sized body, or the
        // client went away mid-body; then dropping `inner` closes the upstream
        // connection, which cancels the request on the endpoint.
        let complete = self.inner.is_end_stream();
        self.finish(complete);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_usage_in_sse_lines() {
        let line = br#"data: {"id":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"prompt_tokens_details":{"cached_tokens":4}}}
"#;
        let usage = usage_in_sse_line(line).unwrap();
        assert_eq!((usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.unwrap().cached_tokens), (5, 7, 4));
        assert_eq!(usage_in_sse_line(b"data: [DONE]\n"), None);
        assert_eq!(usage_in_sse_line(br#"data: {"choices":[{"delta":{"content":"x"}}]}"#), None);
    }
}
