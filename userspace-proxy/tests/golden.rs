//! Golden translation tests over the committed fixtures in `tests/golden/`:
//! OpenAI chat requests → Anthropic Messages requests (`request/*.json`,
//! `openai` → `anthropic`), Anthropic replies → chat completions
//! (`response/*.json`, `anthropic` → `openai`), and Anthropic SSE streams →
//! chunk streams (`stream/NAME.anthropic.sse` → `NAME.openai.sse`, whose
//! last line, an SSE comment, is the usage metered). Streams are fed whole,
//! in 7-byte pieces and byte by byte. After reviewing a deliberate change,
//! `UPDATE_GOLDEN=1 cargo test -p kvlb-proxy --test golden` rewrites the
//! expected halves.

use std::{
    convert::Infallible,
    fs,
    path::{Path, PathBuf},
};

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use kvlb_proxy::egress::{
    anthropic::{request, response, stream::StreamTranslator},
    chat::ChatRequest,
    sse::Translate,
};
use serde_json::{Map, Value, json};

const CREATED: u64 = 1_700_000_000;

fn cases(kind: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(kind);
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no {suffix} cases in {}", dir.display());
    paths
}

fn update() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some()
}

fn check_json(path: &Path, from: &str, to: &str, translate: impl Fn(Value) -> Value) {
    let mut case: Map<String, Value> = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let got = translate(case[from].clone());
    if update() {
        case.insert(to.into(), got);
        fs::write(path, serde_json::to_string_pretty(&case).unwrap() + "\n").unwrap();
    } else {
        let want = case.get(to).unwrap_or_else(|| panic!("{}: no `{to}`; run with UPDATE_GOLDEN=1", path.display()));
        assert_eq!(&got, want, "{}: got\n{}", path.display(), serde_json::to_string_pretty(&got).unwrap());
    }
}

#[test]
fn chat_requests_translate_to_anthropic_messages() {
    for path in cases("request", ".json") {
        check_json(&path, "openai", "anthropic", |v| {
            let req: ChatRequest = serde_json::from_value(v).unwrap();
            serde_json::to_value(request::translate(req, "claude-test", 4096).unwrap()).unwrap()
        });
    }
}

#[test]
fn anthropic_replies_translate_to_chat_completions() {
    for path in cases("response", ".json") {
        check_json(&path, "anthropic", "openai", |v| {
            let (completion, _) = response::translate(serde_json::from_value(v).unwrap(), CREATED);
            serde_json::to_value(completion).unwrap()
        });
    }
}

fn translate_stream(input: &str, piece: usize) -> String {
    let pieces: Vec<Result<Bytes, Infallible>> = input.as_bytes().chunks(piece).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let events = futures::executor::block_on(futures::stream::iter(pieces).eventsource().collect::<Vec<_>>());
    let mut t = StreamTranslator::new(CREATED, "claude-test");
    let mut out = Vec::new();
    let mut interrupted = None;
    for event in events {
        match t.event(&event.unwrap()) {
            Ok(frames) => out.extend(frames),
            Err(i) => {
                interrupted = Some(i);
                break;
            }
        }
    }
    out.extend(t.finish(interrupted));
    let mut text: String = out.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let u = t.usage();
    text.push_str(&format!(": usage prompt={} completion={} cache_read={} cache_creation={}\n", u.prompt, u.completion, u.cache_read, u.cache_creation));
    text
}

#[test]
fn anthropic_streams_translate_to_chunk_streams_however_they_are_cut() {
    for path in cases("stream", ".anthropic.sse") {
        let input = fs::read_to_string(&path).unwrap();
        let expected = PathBuf::from(path.to_string_lossy().replace(".anthropic.sse", ".openai.sse"));
        let whole = translate_stream(&input, input.len());
        if update() {
            fs::write(&expected, &whole).unwrap();
        }
        let want = fs::read_to_string(&expected).unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1", expected.display()));
        for piece in [input.len(), 7, 1] {
            assert_eq!(translate_stream(&input, piece), want, "{} in {piece}-byte pieces", path.display());
        }
        let frames: Vec<&str> = want.split("\n\n").filter(|f| f.starts_with("data: ")).collect();
        assert_eq!(frames.last(), Some(&"data: [DONE]"), "{}: every stream ends with [DONE]", path.display());
        for frame in &frames[..frames.len() - 1] {
            let v: Value = serde_json::from_str(&frame["data: ".len()..]).unwrap_or_else(|e| panic!("{}: {frame}: {e}", path.display()));
            assert!(v.get("error").is_some() || v["object"] == "chat.completion.chunk", "{}: {frame}", path.display());
        }
    }
}

#[test]
fn untranslatable_requests_are_refused_and_name_the_problem() {
    let base = |extra: Value| {
        let mut v = json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] });
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    let cases = [
        (base(json!({ "n": 2 })), "`n` above 1"),
        (base(json!({ "logprobs": true })), "`logprobs`"),
        (base(json!({ "response_format": { "type": "json_schema" } })), "`response_format` json_schema"),
        (base(json!({ "messages": [{ "role": "system", "content": "only instructions" }] })), "needs a user or assistant message"),
        (base(json!({ "messages": [{ "role": "user", "content": [{ "type": "input_audio", "input_audio": {} }] }] })), "messages[0].content[0]: only text and image_url"),
        (base(json!({ "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": "file:///etc/passwd" } }] }] })), "must be an http(s) URL or a base64 data: URL"),
        (
            base(json!({ "messages": [{ "role": "assistant", "tool_calls": [{ "id": "c", "type": "function", "function": { "name": "f", "arguments": "[1" } }] }] })),
            "messages[0].tool_calls[0].function.arguments must be a JSON object",
        ),
        (base(json!({ "tools": [{ "type": "function", "function": { "name": "f" } }], "tool_choice": "sometimes" })), "`tool_choice` \"sometimes\""),
    ];
    for (body, want) in cases {
        let req: ChatRequest = serde_json::from_value(body.clone()).unwrap();
        let failure = request::translate(req, "claude-test", 4096).unwrap_err();
        assert_eq!(failure.error.status, 400, "{body}");
        assert!(failure.error.message.contains(want), "{body}: {}", failure.error.message);
    }
}
