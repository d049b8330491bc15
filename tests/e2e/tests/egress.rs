//! Egress to external providers end to end: a real agent carries the
//! providers in its state file, a real proxy reads their keys and talks to
//! fake providers on loopback addresses that validate every request against
//! the provider's schema; the official OpenAI SDK is the client. Needs root
//! (the agent attaches BPF programs to a test cgroup).

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use kvlb_e2e::{
    agent::{self, AgentProcess},
    bins,
    cgroup::TestCgroup,
    provider::{FakeProvider, Kind},
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name,
};
use serde_json::{Value, json};

const ANTHROPIC_KEY: &str = "sk-ant-kvlbtest-7c1e5a90d3b2f4e6";
const OPENAI_KEY: &str = "sk-proj-kvlbtest-91b0c3d7e5f2a4c8";
const OPENAI_KEY_ENV: &str = "KVLB_TEST_OPENAI_KEY";

struct Setup {
    _cg: TestCgroup,
    agent: AgentProcess,
    proxy: ProxyProcess,
    claude: FakeProvider,
    gpt: FakeProvider,
    _sim: Option<Sim>,
    _keys: tempfile::TempDir,
}

/// Fake Anthropic and OpenAI providers on `net.0.1` and `net.0.2`, an agent
/// with `providers` (YAML, `{claude}`, `{gpt}` and `{key_file}` replaced)
/// and, with `pool`, a simulator serving [`MODEL`] in an l7 pool `llm`; a
/// proxy on `net.0.100:15000` with `RUST_LOG=log`.
fn setup(tag: &str, net: &str, pool: bool, providers: &str, log: &str) -> Setup {
    let cg = TestCgroup::new(&unique_name(tag));
    let claude = FakeProvider::start(Kind::Anthropic, &format!("{net}.0.1"), ANTHROPIC_KEY);
    let gpt = FakeProvider::start(Kind::Openai, &format!("{net}.0.2"), OPENAI_KEY);
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("anthropic-key");
    std::fs::write(&key_file, format!("{ANTHROPIC_KEY}\n")).unwrap();
    let sim = pool.then(|| Sim::serve(&format!("{net}.0.3"), &["--time-scale", "100"]));
    let pools = match &sim {
        Some(sim) => format!("pools:\n  - name: llm\n    vip: \"{net}.1.1:8000\"\n    mode: l7\n    models: [{MODEL}]\n    endpoints:\n      - address: \"{}\"\n", sim.addr),
        None => "pools: []\n".to_owned(),
    };
    let providers = providers.replace("{claude}", &claude.url).replace("{gpt}", &gpt.url).replace("{key_file}", &key_file.display().to_string());
    let proxy_addr: SocketAddr = format!("{net}.0.100:15000").parse().unwrap();
    let agent = AgentProcess::start_with(&cg, &format!("{pools}{providers}"), &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start_with_env(&agent, proxy_addr, &[], &[(OPENAI_KEY_ENV, OPENAI_KEY), ("RUST_LOG", log)]);
    Setup { _cg: cg, agent, proxy, claude, gpt, _sim: sim, _keys: keys }
}

/// The two providers, each serving one model of its own (mapped to the
/// provider's name for it).
fn two_providers(extra_claude: &str) -> String {
    format!(
        "providers:\n  - name: claude\n    kind: anthropic\n    base_url: \"{{claude}}\"\n    api_key_file: \"{{key_file}}\"\n    retry_budget_ms: 5000\n{extra_claude}    models:\n      - name: claude\n        upstream: claude-sonnet-4-5\n  - name: gpt\n    kind: openai\n    base_url: \"{{gpt}}/v1\"\n    api_key_env: {OPENAI_KEY_ENV}\n    models:\n      - name: gpt\n        upstream: gpt-4o-2024-08-06\n"
    )
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

fn post(proxy: &ProxyProcess, body: &Value) -> Answer {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build().new_agent();
    let response = agent
        .post(&format!("http://{}/v1/chat/completions", proxy.addr))
        .header("content-type", "application/json")
        .header("authorization", "Bearer client-key-not-for-providers")
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("POST: {e}"));
    let status = response.status().as_u16();
    let headers = response.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    Answer { status, headers, body: response.into_body().read_to_string().unwrap_or_default() }
}

fn chat(model: &str, stream: bool) -> Value {
    json!({ "model": model, "stream": stream, "messages": [{ "role": "user", "content": "hi" }] })
}

/// The provider-sent requests must all have passed the fake's validation.
fn assert_valid(fake: &FakeProvider) -> Vec<Value> {
    let requests = fake.requests();
    for r in &requests {
        assert_eq!(r["problems"], json!([]), "a request broke the provider's schema: {r}");
    }
    requests
}

#[test]
fn the_openai_sdk_gets_answers_tools_streams_and_usage_from_both_providers() {
    let s = setup("kvlb-egress-sdk", "127.140", false, &two_providers(""), "info");
    for (model, provider) in [("claude", "claude"), ("gpt", "gpt")] {
        let out = std::process::Command::new(bins::python())
            .arg(bins::python_script("egress_sdk.py"))
            .args([&format!("http://{}/v1", s.proxy.addr), model])
            .output()
            .expect("python");
        assert!(out.status.success(), "SDK failed for {model}: {}\n{}", String::from_utf8_lossy(&out.stderr), s.proxy.log());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["plain_text"], "Echo: hello", "{v}");
        assert_eq!(v["stream_text"], "Echo: stream please", "{v}");
        assert_eq!((v["stream_finish"].as_str(), v["stream_completion_tokens"].as_u64()), (Some("stop"), Some(7)), "{v}");
        assert_eq!((v["tool_finish"].as_str(), v["tool_name"].as_str()), (Some("tool_calls"), Some("get_weather")), "{v}");
        assert_eq!(v["tool_arguments"], json!({ "city": "Paris" }), "{v}");
        assert_eq!(v["after_tool_text"], "Echo: Weather in Paris?", "{v}");
        assert_eq!((v["streamed_tool_name"].as_str(), &v["streamed_tool_arguments"]), (Some("get_weather"), &json!({ "city": "Paris" })), "{v}");
        if provider == "claude" {
            assert_eq!((v["plain_prompt_tokens"].as_u64(), v["plain_cached_tokens"].as_u64()), (Some(131), Some(100)), "cache reads and writes count: {v}");
        }
    }
    let claude = assert_valid(&s.claude);
    assert_eq!(claude.len(), 5);
    for r in &claude {
        assert_eq!((r["path"].as_str(), r["body"]["model"].as_str()), (Some("/v1/messages"), Some("claude-sonnet-4-5")), "{r}");
        assert!(r["headers"].get("authorization").is_none(), "the client's credentials never reach a provider: {r}");
    }
    assert_eq!(claude[0]["body"]["max_tokens"], 4096, "the documented default");
    assert_eq!(claude[0]["body"]["system"][0]["cache_control"], json!({ "type": "ephemeral" }), "cache_control is kept");
    assert_eq!(claude[1]["body"]["max_tokens"], 64);
    let gpt = assert_valid(&s.gpt);
    assert_eq!(gpt.len(), 5);
    assert!(gpt.iter().all(|r| r["headers"]["authorization"] == format!("Bearer {OPENAI_KEY}") && r["body"]["model"] == "gpt-4o-2024-08-06"));
    let tokens = |model: &str, kind: &str| s.proxy.counter("kvlb_proxy_provider_tokens_total", &[&format!("model=\"{model}\""), &format!("kind=\"{kind}\"")]);
    // Anthropic: 5 replies of 11 input and 7 output tokens; the one request
    // with cache_control also read 100 and wrote 20.
    assert_eq!((tokens("claude", "prompt"), tokens("claude", "completion")), (5.0 * 11.0 + 120.0, 35.0), "{}", s.proxy.metrics());
    assert_eq!((tokens("claude", "cache_read"), tokens("claude", "cache_creation")), (100.0, 20.0));
    assert_eq!((tokens("gpt", "prompt"), tokens("gpt", "completion"), tokens("gpt", "cache_read")), (55.0, 35.0, 20.0), "{}", s.proxy.metrics());
    let models: Value = serde_json::from_str(&ureq::get(&format!("http://{}/v1/models", s.proxy.addr)).call().unwrap().into_body().read_to_string().unwrap()).unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["claude", "gpt"]);
}

#[test]
fn retries_honour_retry_after_then_the_chain_falls_back_to_another_provider_and_a_local_pool() {
    let providers = format!(
        "providers:\n  - name: claude\n    kind: anthropic\n    base_url: \"{{claude}}\"\n    api_key_file: \"{{key_file}}\"\n    retries: 2\n    retry_budget_ms: 5000\n    models:\n      - name: {MODEL}\n        upstream: claude-haiku-4-5\n  - name: gpt\n    kind: openai\n    base_url: \"{{gpt}}/v1\"\n    api_key_env: {OPENAI_KEY_ENV}\n    models: [{MODEL}]\nfallbacks:\n  {MODEL}: [claude, gpt, llm]\n"
    );
    let s = setup("kvlb-egress-chain", "127.141", true, &providers, "info");
    let rate_limited = json!({ "status": 429, "headers": { "retry-after": "1" }, "body": { "type": "error", "error": { "type": "rate_limit_error", "message": "slow down" } } });
    let overloaded = json!({ "status": 529, "body": { "type": "error", "error": { "type": "overloaded_error", "message": "Overloaded" } } });
    let unavailable = json!({ "status": 503, "body": { "error": { "message": "down", "type": "server_error" } } });

    s.claude.script(json!([rate_limited]));
    let t = Instant::now();
    let a = post(&s.proxy, &chat(MODEL, false));
    assert_eq!((a.status, a.header("x-kvlb-provider")), (200, Some("claude")), "{}", a.body);
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After was honoured: {:?}", t.elapsed());

    s.claude.script(json!([overloaded, overloaded, overloaded]));
    let a = post(&s.proxy, &chat(MODEL, true));
    assert_eq!((a.status, a.header("x-kvlb-provider")), (200, Some("gpt")), "{}", a.body);
    assert!(a.body.ends_with("data: [DONE]\n\n"), "{}", a.body);

    s.claude.script(json!([overloaded, overloaded, overloaded]));
    s.gpt.script(json!([unavailable, unavailable, unavailable]));
    let a = post(&s.proxy, &chat(MODEL, false));
    assert_eq!((a.status, a.header("x-kvlb-provider")), (200, None), "the local pool answered: {}", a.body);
    assert_eq!(a.json()["model"], MODEL, "{}", a.body);

    let attempts = |provider: &str, status: &str| s.proxy.counter("kvlb_proxy_provider_requests_total", &[&format!("provider=\"{provider}\""), &format!("status=\"{status}\"")]);
    assert_eq!((attempts("claude", "429"), attempts("claude", "529"), attempts("gpt", "503")), (1.0, 6.0, 3.0), "{}", s.proxy.metrics());
    assert_eq!(s.proxy.counter("kvlb_proxy_provider_fallbacks_total", &[]), 3.0, "{}", s.proxy.metrics());
    assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &["pool=\"llm\"", "status=\"200\""]), 1.0, "{}", s.proxy.metrics());
    assert_valid(&s.claude);
    assert_valid(&s.gpt);
    drop(s.agent);
}

#[test]
fn provider_failures_become_openai_errors_or_well_formed_stream_ends_never_hangs() {
    let slow = "  - name: slow\n    kind: anthropic\n    base_url: \"{claude}\"\n    api_key_file: \"{key_file}\"\n    timeout_ms: 1000\n    retries: 0\n    models: [slow]\n";
    let s = setup("kvlb-egress-errors", "127.142", false, &format!("{}{slow}", two_providers("    retries: 2\n")), "info");
    let trap = FakeProvider::start(Kind::Anthropic, "127.142.0.9", ANTHROPIC_KEY);
    let error = |status: u16, kind: &str, message: &str| json!({ "status": status, "body": { "type": "error", "error": { "type": kind, "message": message } } });
    let cases = [
        (json!([error(401, "authentication_error", &format!("invalid x-api-key {ANTHROPIC_KEY}"))]), 401, "authentication_error", None),
        (json!([{ "status": 429, "headers": { "retry-after": "30" }, "body": "" }]), 429, "rate_limit_error", Some("30")),
        (json!([error(529, "overloaded_error", "Overloaded"), error(529, "overloaded_error", "Overloaded"), error(529, "overloaded_error", "Overloaded")]), 503, "overloaded_error", None),
        (json!([error(500, "api_error", "boom"), error(502, "api_error", "boom"), error(500, "api_error", "boom")]), 502, "api_error", None),
        (json!([error(400, "invalid_request_error", "prompt is too long")]), 400, "invalid_request_error", None),
        (json!([{ "status": 200, "body": "{\"id\": \"msg_1\", \"content\": [" }]), 502, "api_error", None),
        (json!([{ "redirect": format!("{}/v1/messages", trap.url) }]), 502, "api_error", None),
    ];
    for (script, status, kind, retry_after) in cases {
        s.claude.script(script.clone());
        let t = Instant::now();
        let a = post(&s.proxy, &chat("claude", false));
        assert_eq!(a.status, status, "{script}: {}", a.body);
        assert_eq!(a.json()["error"]["type"], kind, "{script}: {}", a.body);
        assert!(a.json()["error"]["message"].as_str().is_some_and(|m| !m.is_empty()) && a.json()["error"].get("code").is_some());
        assert_eq!(a.header("retry-after"), retry_after, "{script}");
        assert!(!a.body.contains(ANTHROPIC_KEY), "the key echoed by the provider is redacted: {}", a.body);
        assert!(t.elapsed() < Duration::from_secs(5), "{script} took {:?}", t.elapsed());
    }
    assert!(trap.requests().is_empty(), "a redirect is never followed");

    let start = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n";
    let delta = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
    let end = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let streams = [
        ("claude", json!({ "stream_raw": format!("{start}{delta}event: content_block_delta\ndata: {{\"type\":\"content_bl") }), true),
        ("claude", json!({ "stream_raw": format!("{start}event: surprise\ndata: {{\"type\":\"surprise\"}}\n\n{delta}{end}") }), false),
        ("claude", json!({ "stream_raw": format!("{start}event: content_block_delta\ndata: not json\n\n{end}") }), true),
        ("claude", json!({ "stream_raw": format!("{start}event: error\ndata: {{\"type\":\"error\",\"error\":{{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}}}\n\n") }), true),
        ("slow", json!({ "stream_raw": format!("{start}{delta}"), "then_sleep": 4 }), true),
    ];
    for (model, script, broken) in streams {
        s.claude.script(json!([script]));
        let t = Instant::now();
        let a = post(&s.proxy, &chat(model, true));
        assert_eq!(a.status, 200, "{script}: {}", a.body);
        assert!(a.body.ends_with("data: [DONE]\n\n"), "a well-formed end: {}", a.body);
        let frames: Vec<Value> = a.body.split("\n\n").filter_map(|f| f.strip_prefix("data: ")).filter(|d| *d != "[DONE]").map(|d| serde_json::from_str(d).unwrap()).collect();
        assert_eq!(frames.last().unwrap().get("error").is_some(), broken, "{script}: {}", a.body);
        assert!(t.elapsed() < Duration::from_secs(4), "{script} took {:?}", t.elapsed());
    }
    let a = post(&s.proxy, &json!({ "model": "slow", "messages": [{ "role": "user", "content": "x" }] }));
    s.claude.script(json!([{ "delay": 2, "status": 200, "body": "{}" }]));
    let timed_out = post(&s.proxy, &json!({ "model": "slow", "messages": [{ "role": "user", "content": "x" }] }));
    assert_eq!((a.status, timed_out.status), (200, 504), "{}", timed_out.body);
    assert_valid(&s.claude);
}

#[test]
fn keys_never_appear_in_logs_metrics_state_or_replies() {
    let s = setup("kvlb-egress-keys", "127.143", false, &two_providers(""), "trace");
    let echo = json!({ "status": 401, "body": { "type": "error", "error": { "type": "authentication_error", "message": format!("invalid x-api-key: {ANTHROPIC_KEY}") } } });
    s.claude.script(json!([echo]));
    s.gpt.script(json!([{ "status": 401, "body": { "error": { "message": format!("Incorrect API key provided: {OPENAI_KEY}"), "type": "invalid_request_error" } } }]));
    let mut replies = String::new();
    for body in [chat("claude", false), chat("gpt", false), chat("claude", false), chat("claude", true), chat("gpt", true)] {
        replies.push_str(&post(&s.proxy, &body).body);
    }
    let state = std::fs::read_to_string(s.agent.state_file()).unwrap();
    assert!(state.contains("anthropic-key") && state.contains(OPENAI_KEY_ENV), "the state file says where keys are");
    let places = [("proxy log", s.proxy.log()), ("proxy metrics", s.proxy.metrics()), ("state file", state), ("agent log", s.agent.log()), ("replies", replies)];
    for (place, text) in places {
        for key in [ANTHROPIC_KEY, OPENAI_KEY] {
            assert!(!text.contains(key), "{place} contains a provider key");
        }
    }
    assert!(s.proxy.log().contains("TRACE") || s.proxy.log().contains("DEBUG"), "the scan covered verbose logs");
}

#[test]
fn a_model_name_cannot_steer_the_proxy_to_another_url() {
    let steer = "  - name: steer\n    kind: openai\n    base_url: \"{gpt}/v1\"\n    api_key_env: KVLB_TEST_OPENAI_KEY\n    models:\n      - name: steer\n        upstream: \"../../_script?x=1#y\"\n";
    let s = setup("kvlb-egress-ssrf", "127.144", false, &format!("{}{steer}", two_providers("")), "info");
    let trap = FakeProvider::start(Kind::Openai, "127.144.0.9", OPENAI_KEY);
    let names = [
        format!("{}/v1/chat/completions", trap.url),
        "../../v1/messages".to_owned(),
        "claude/../../_requests".to_owned(),
        "claude?x=1".to_owned(),
        "claude#frag".to_owned(),
        format!("claude@{}", trap.url.trim_start_matches("http://")),
        " claude".to_owned(),
    ];
    for model in &names {
        let a = post(&s.proxy, &chat(model, false));
        assert_eq!(a.status, 404, "{model}: {}", a.body);
        assert_eq!(a.json()["error"]["code"], "model_not_found", "{model}: {}", a.body);
    }
    let a = post(&s.proxy, &chat("steer", false));
    assert_eq!(a.status, 200, "{}", a.body);
    let seen = s.gpt.requests();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!((seen[0]["path"].as_str(), seen[0]["body"]["model"].as_str()), (Some("/v1/chat/completions"), Some("../../_script?x=1#y")), "a model name stays in the body");
    assert!(s.claude.requests().is_empty() && trap.requests().is_empty());
}

#[test]
fn a_pool_file_with_a_key_in_it_is_refused_without_repeating_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pools.yaml");
    std::fs::write(&file, format!("pools: []\nproviders:\n  - name: p\n    kind: openai\n    base_url: https://api.example.com/v1\n    api_key: {OPENAI_KEY}\n    models: [m]\n")).unwrap();
    let out = agent::run_to_exit(&["check", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("providers[0].api_key: a key never goes in the pool file"), "{stderr}");
    assert!(!stderr.contains(OPENAI_KEY), "{stderr}");
}

#[test]
fn the_fake_providers_refuse_what_the_real_apis_refuse() {
    let claude = FakeProvider::start(Kind::Anthropic, "127.145.0.1", ANTHROPIC_KEY);
    let gpt = FakeProvider::start(Kind::Openai, "127.145.0.2", OPENAI_KEY);
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let send = |url: String, headers: &[(&str, &str)], body: Value| -> u16 {
        let mut req = agent.post(&url).header("content-type", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send(body.to_string()).unwrap().status().as_u16()
    };
    let messages = |url: &str| format!("{url}/v1/messages");
    let good = json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "user", "content": "hi" }] });
    let auth = [("x-api-key", ANTHROPIC_KEY), ("anthropic-version", "2023-06-01")];
    assert_eq!(send(messages(&claude.url), &auth, good.clone()), 200);
    let mut bad = Vec::new();
    bad.push(json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] }));
    bad.push(json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "user", "content": "hi" }], "n": 1 }));
    bad.push(json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "system", "content": "hi" }] }));
    bad.push(json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": {} }] }] }));
    bad.push(json!({ "model": "m", "max_tokens": 5, "messages": [{ "role": "assistant", "content": [{ "type": "tool_result", "tool_use_id": "t", "content": "x" }] }] }));
    bad.push(json!({ "model": "m", "max_tokens": 5, "temperature": 1.5, "messages": [{ "role": "user", "content": "hi" }] }));
    for body in bad {
        assert_eq!(send(messages(&claude.url), &auth, body.clone()), 400, "{body}");
    }
    assert_eq!(send(messages(&claude.url), &[("x-api-key", "wrong"), ("anthropic-version", "2023-06-01")], good.clone()), 401);
    assert_eq!(send(messages(&claude.url), &[("x-api-key", ANTHROPIC_KEY)], good.clone()), 400, "anthropic-version is required");
    let chat_url = format!("{}/v1/chat/completions", gpt.url);
    let bearer = format!("Bearer {OPENAI_KEY}");
    let openai = json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] });
    assert_eq!(send(chat_url.clone(), &[("authorization", &bearer)], openai.clone()), 200);
    assert_eq!(send(chat_url.clone(), &[], openai.clone()), 401);
    assert_eq!(send(chat_url.clone(), &[("authorization", &bearer)], json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }], "ignore_eos": true })), 400);
    assert_eq!(send(chat_url, &[("authorization", &bearer)], json!({ "model": "m", "stream": true, "messages": [{ "role": "user", "content": "hi" }] })), 400, "streams must ask for usage");
}
