//! Streaming a provider's SSE reply to the client: events parsed with
//! `eventsource-stream`, turned into the client's frames by a [`Translate`],
//! sent through a bounded channel. Whatever happens — the provider closes
//! early, sends something unreadable, goes quiet for longer than the
//! provider's timeout — the client gets a well-formed end: an OpenAI error
//! frame and `data: [DONE]`. A client that goes away drops the provider's
//! stream with it.

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, Eventsource};
use futures::StreamExt;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::usage::TokenUsage;
use crate::body::{BoxError, ProxyBody};

/// The frame that ends every stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// Why a stream ended before the provider finished it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    /// OpenAI's error `type`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl Interruption {
    /// An interruption of `kind`.
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        Self { kind: kind.to_owned(), message: message.into() }
    }

    /// The error frame (the OpenAI SDK raises it as an `APIError`).
    pub fn frame(&self) -> Bytes {
        data(&json!({ "error": { "message": self.message, "type": self.kind, "param": null, "code": "provider_stream_interrupted" } }))
    }
}

/// One `data:` frame.
pub fn data(value: &impl Serialize) -> Bytes {
    let mut out = b"data: ".to_vec();
    serde_json::to_writer(&mut out, value).expect("serialising to memory cannot fail");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// Turns a provider's events into the client's frames.
pub trait Translate: Send + 'static {
    /// Frames for one event; an interruption ends the stream.
    fn event(&mut self, event: &Event) -> Result<Vec<Bytes>, Interruption>;
    /// The closing frames; `interrupted` when the stream did not end by
    /// itself (`None`: the provider closed it, which may itself be early).
    fn finish(&mut self, interrupted: Option<Interruption>) -> Vec<Bytes>;
    /// The tokens reported so far.
    fn usage(&self) -> TokenUsage;
}

/// The client's body for a provider's SSE `response`; `on_end` gets the
/// usage once the stream ends, however it ends.
pub fn body<T: Translate>(response: reqwest::Response, translator: T, idle: Duration, on_end: impl FnOnce(TokenUsage) + Send + 'static) -> ProxyBody {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, BoxError>>(16);
    tokio::spawn(async move {
        let translator = drive(response, translator, idle, &tx).await;
        on_end(translator.usage());
    });
    BodyExt::boxed(StreamBody::new(ReceiverStream::new(rx)))
}

async fn drive<T: Translate>(response: reqwest::Response, mut t: T, idle: Duration, tx: &mpsc::Sender<Result<Frame<Bytes>, BoxError>>) -> T {
    let mut events = response.bytes_stream().eventsource();
    let interrupted = loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, events.next()) => next,
            () = tx.closed() => return t,
        };
        let frames = match next {
            Err(_) => break Some(Interruption::new("api_error", format!("the provider sent nothing for {idle:?}"))),
            Ok(None) => break None,
            Ok(Some(Err(e))) => break Some(Interruption::new("api_error", format!("the provider's stream broke: {e}"))),
            Ok(Some(Ok(event))) => match t.event(&event) {
                Ok(frames) => frames,
                Err(interruption) => break Some(interruption),
            },
        };
        for frame in frames {
            if tx.send(Ok(Frame::data(frame))).await.is_err() {
                return t;
            }
        }
    };
    if let Some(i) = &interrupted {
        tracing::warn!("provider stream interrupted: {}", i.message);
    }
    for frame in t.finish(interrupted) {
        if tx.send(Ok(Frame::data(frame))).await.is_err() {
            break;
        }
    }
    t
}
