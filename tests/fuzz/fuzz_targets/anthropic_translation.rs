//! Provider translation both ways, as the egress runs it: any bytes as an
//! OpenAI chat request (→ Anthropic Messages request), as an Anthropic reply
//! (→ chat completion) and as an Anthropic SSE stream parsed by
//! `eventsource-stream` (→ chunk stream). A translation is JSON that keeps
//! the documented invariants, or a 400; a stream always ends with
//! `[DONE]`, and valid UTF-8 translates the same whole and cut into pieces
//! of 1 to 8 bytes (the first byte picks the size).
#![no_main]

use std::convert::Infallible;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use kvlb_proxy::egress::{
    anthropic::{request, response, stream::StreamTranslator},
    chat::ChatRequest,
    sse::{self, Interruption, Translate},
};
use serde_json::Value;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    openai_request(data);
    anthropic_reply(data);
    let whole = anthropic_stream(data, data.len().max(1));
    if std::str::from_utf8(data).is_ok() {
        let piece = usize::from(data.first().map_or(0, |b| b % 8)) + 1;
        assert_eq!(anthropic_stream(data, piece), whole, "a stream translates the same in {piece}-byte pieces");
    }
});

fn openai_request(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<ChatRequest>(data) else { return };
    match request::translate(req, "claude-fuzz", 1024) {
        Ok(translated) => {
            let v = serde_json::to_value(&translated).expect("a request serialises");
            assert_eq!(v["model"], "claude-fuzz");
            let roles: Vec<&Value> = v["messages"].as_array().expect("messages").iter().map(|m| &m["role"]).collect();
            assert!(!roles.is_empty() && roles.windows(2).all(|w| w[0] != w[1]), "turns alternate: {roles:?}");
            assert!(translated.temperature.is_none_or(|t| (0.0..=1.0).contains(&t)), "{:?}", translated.temperature);
        }
        Err(failure) => assert_eq!(failure.error.status, 400),
    }
}

fn anthropic_reply(data: &[u8]) {
    let Ok(reply) = serde_json::from_slice(data) else { return };
    let (completion, usage) = response::translate(reply, 0);
    let v = serde_json::to_value(&completion).expect("a completion serialises");
    assert_eq!(v["choices"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["usage"]["prompt_tokens"], usage.prompt);
}

fn anthropic_stream(data: &[u8], piece: usize) -> Vec<Bytes> {
    let pieces: Vec<Result<Bytes, Infallible>> = data.chunks(piece).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let events = futures::executor::block_on(futures::stream::iter(pieces).eventsource().collect::<Vec<_>>());
    let mut translator = StreamTranslator::new(0, "claude-fuzz");
    let mut frames = Vec::new();
    let mut interrupted = None;
    for event in events {
        let translated = event.map_err(|e| Interruption::new("api_error", e.to_string())).and_then(|e| translator.event(&e));
        match translated {
            Ok(more) => frames.extend(more),
            Err(interruption) => {
                interrupted = Some(interruption);
                break;
            }
        }
    }
    frames.extend(translator.finish(interrupted));
    let (done, chunks) = frames.split_last().expect("frames");
    assert_eq!(&done[..], sse::DONE);
    for frame in chunks {
        let json = std::str::from_utf8(frame).ok().and_then(|f| f.strip_prefix("data: ")?.strip_suffix("\n\n")).expect("one data frame");
        let v: Value = serde_json::from_str(json).expect("a frame is JSON");
        assert!(v.get("error").is_some() || v["object"] == "chat.completion.chunk", "{v}");
    }
    frames
}
