//! The L7 proxy end to end: real agent (l7 pools send their VIP to the
//! proxy), real proxy, real simulators, real clients (the official OpenAI
//! SDK among them). Needs root.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use kvlb_e2e::{
    agent::AgentProcess,
    bins,
    cgroup::TestCgroup,
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name, wait_for,
};
use serde_json::{Value, json};

/// A pool in l7 mode; `extra` goes under the pool.
fn l7_pool(name: &str, vip: &str, models: &str, endpoints: &[SocketAddr], extra: &str) -> String {
    let mut s = format!("  - name: {name}\n    vip: \"{vip}\"\n    mode: l7\n    models: {models}\n{extra}    endpoints:\n");
    for e in endpoints {
        s.push_str(&format!("      - address: \"{e}\"\n"));
    }
    s
}

struct Setup {
    cg: TestCgroup,
    _sims: Vec<Sim>,
    addrs: Vec<SocketAddr>,
    agent: AgentProcess,
    proxy: ProxyProcess,
}

/// Starts `n` simulators on `net.0.i` with `sim_args`, an agent whose pool
/// file `pools` builds from their addresses, and a proxy on `net.0.100:15000`.
fn setup(tag: &str, net: &str, n: usize, sim_args: &[&str], proxy_args: &[&str], pools: impl Fn(&[SocketAddr]) -> String) -> Setup {
    let cg = TestCgroup::new(&unique_name(tag));
    let sims: Vec<Sim> = (1..=n).map(|i| Sim::serve(&format!("{net}.0.{i}"), sim_args)).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let proxy_addr: SocketAddr = format!("{net}.0.100:15000").parse().unwrap();
    let agent = AgentProcess::start_with(&cg, &pools(&addrs), &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start(&agent, proxy_addr, proxy_args);
    Setup { cg, _sims: sims, addrs, agent, proxy }
}

/// A response: status, body, Retry-After.
struct Answer {
    status: u16,
    body: String,
    retry_after: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn send(addr: SocketAddr, path: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Answer {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let mut req = agent.post(&format!("http://{addr}{path}")).header("content-type", content_type);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.send(body).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = response.into_body().read_to_string().unwrap_or_default();
    Answer { status, body, retry_after }
}

fn chat(addr: SocketAddr, model: &str, content: &str, max_tokens: u32, headers: &[(&str, &str)]) -> Answer {
    let body = json!({ "model": model, "messages": [{ "role": "user", "content": content }], "max_tokens": max_tokens, "ignore_eos": true });
    send(addr, "/v1/chat/completions", "application/json", body.to_string().as_bytes(), headers)
}

#[test]
fn the_openai_sdk_streams_and_not_through_the_vip_in_l7_mode() {
    let s = setup("kvlb-l7-sdk", "127.90", 2, &[], &[], |a| format!("pools:\n{}", l7_pool("llm", "127.90.1.1:8000", &format!("[{MODEL}]"), a, "")));
    let out = s
        .cg
        .command(&bins::python())
        .arg(bins::python_script("openai_l7.py"))
        .args(["http://127.90.1.1:8000/v1", MODEL])
        .output()
        .expect("python");
    assert!(out.status.success(), "SDK failed: {}\n{}", String::from_utf8_lossy(&out.stderr), s.proxy.log());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["plain_completion_tokens"], 8, "{v}");
    assert_eq!(v["stream_completion_tokens"], 8, "{v}");
    assert!(v["stream_chunks"].as_u64() > Some(2), "{v}");
    // The SDK keeps its connection alive: one connect through the VIP
    // carried both requests, each picked per request by the proxy.
    let redirected = s.agent.list()["counters"]["redirects"].as_u64().unwrap();
    assert!(redirected >= 1, "the SDK reached the proxy through the VIP: {redirected}");
    assert!(s.proxy.counter("kvlb_proxy_requests_total", &["status=\"200\""]) >= 2.0);
    assert_eq!(s.proxy.counter("kvlb_proxy_tokens_total", &["kind=\"completion\""]), 16.0, "{}", s.proxy.metrics());
    assert_eq!(s.proxy.counter("kvlb_proxy_request_duration_seconds_count", &["outcome=\"complete\""]), 2.0, "{}", s.proxy.metrics());
}

#[test]
fn models_route_adapters_go_to_their_base_pool_unknown_models_get_404_and_a_canary_split_holds() {
    let s = setup("kvlb-l7-models", "127.91", 2, &["--time-scale", "200", "--lora-modules", "sql-lora"], &[], |a| {
        format!(
            "pools:\n{}{}",
            l7_pool("stable", "127.91.1.1:8000", &format!("[{MODEL}]"), &a[..1], "    adapters: [sql-lora]\n    split_weight: 90\n"),
            l7_pool("canary", "127.91.1.2:8000", &format!("[{MODEL}]"), &a[1..], "    split_weight: 10\n"),
        )
    });
    let unknown = chat(s.proxy.addr, "no-such-model", "hi", 1, &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "model_not_found", "{}", unknown.body);
    assert_eq!(unknown.json()["error"]["param"], "model");

    let adapter = chat(s.proxy.addr, "sql-lora", "select", 1, &[]);
    assert_eq!(adapter.status, 200, "{}", adapter.body);
    assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &["model=\"sql-lora\"", "pool=\"stable\""]), 1.0);

    let models: Value = serde_json::from_str(&ureq::get(&format!("http://{}/v1/models", s.proxy.addr)).call().unwrap().into_body().read_to_string().unwrap()).unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![MODEL, "sql-lora"]);

    let n = 2000;
    for _ in 0..n {
        assert_eq!(chat(s.proxy.addr, MODEL, "x", 1, &[]).status, 200);
    }
    let stable = s.proxy.counter("kvlb_proxy_requests_total", &[&format!("model=\"{MODEL}\""), "pool=\"stable\""]);
    let share = stable / f64::from(n);
    assert!((share - 0.9).abs() <= 0.03, "stable pool got {share:.3} of {n}, want 0.90 ± 0.03");
    drop(s.addrs);
}

#[test]
fn requests_sharing_a_prefix_stick_to_one_endpoint_until_it_saturates() {
    // A generous staleness bound: on a busy test machine a late scrape must
    // not make an endpoint look stale (and so expensive) mid-test.
    let s = setup("kvlb-l7-prefix", "127.92", 3, &["--max-num-seqs", "2"], &[], |a| {
        format!("pools:\n{}", l7_pool("llm", "127.92.1.1:8000", &format!("[{MODEL}]"), a, "    scoring: {staleness_ms: 5000}\n"))
    });
    let system = "You are a meticulous assistant for a large retail company. ".repeat(40);
    let ask = |q: &str, max_tokens: u32| {
        let body = json!({ "model": MODEL, "max_tokens": max_tokens, "ignore_eos": true, "messages": [
            { "role": "system", "content": system }, { "role": "user", "content": q } ] });
        send(s.proxy.addr, "/v1/chat/completions", "application/json", body.to_string().as_bytes(), &[])
    };
    let per_endpoint = || -> Vec<f64> {
        s.addrs.iter().map(|a| s.proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{a}\"")])).collect()
    };
    for i in 0..12 {
        assert_eq!(ask(&format!("question {i}"), 1).status, 200);
    }
    let sticky = per_endpoint();
    assert_eq!(sticky.iter().filter(|&&n| n > 0.0).count(), 1, "one endpoint while unsaturated: {sticky:?}");

    // Long requests with the same prefix: the sticky endpoint fills up (two
    // run, the rest wait), its score passes the saturation cost, affinity
    // yields and the others take the overflow.
    std::thread::scope(|scope| {
        for i in 0..10 {
            let ask = &ask;
            scope.spawn(move || assert_eq!(ask(&format!("long {i}"), 300).status, 200));
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    let after = per_endpoint();
    let served: Vec<f64> = after.iter().zip(&sticky).map(|(a, b)| a - b).collect();
    assert!(served.iter().filter(|&&n| n > 0.0).count() >= 2, "a saturated endpoint must share: {served:?}");
}

#[test]
fn sheddable_requests_get_429_while_the_pool_is_saturated_and_others_are_admitted() {
    let s = setup("kvlb-l7-shed", "127.93", 1, &["--max-num-seqs", "1", "--time-scale", "10"], &[], |a| {
        format!("pools:\n{}objectives:\n  batch: -1\n  chat: 10\n", l7_pool("llm", "127.93.1.1:8000", &format!("[{MODEL}]"), a, ""))
    });
    // Until the agent has scraped the endpoint the pool counts as saturated
    // (unknown load is treated as full, as GIE does); wait for a scrape.
    let scraped = wait_for(Duration::from_secs(10), || s.agent.status()["pools"][0]["saturation"].as_f64().filter(|&x| x < 1.0));
    assert!(scraped.is_some(), "{}", s.agent.status());
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(chat(s.proxy.addr, MODEL, "x", 1, &[("x-gateway-inference-objective", "batch")]).status, 200, "not saturated yet");
    // One runs, six wait: waiting/5 = 1.2, saturated for a few seconds.
    let _load = kvlb_e2e::sim::load(s.addrs[0], 7, 1000);
    let saturated = wait_for(Duration::from_secs(10), || {
        let st = s.agent.status();
        (st["pools"][0]["saturation"].as_f64() >= Some(1.0)).then_some(())
    });
    assert!(saturated.is_some(), "{}", s.agent.status());
    std::thread::sleep(Duration::from_millis(100));
    let shed = chat(s.proxy.addr, MODEL, "x", 1, &[("x-gateway-inference-objective", "batch")]);
    assert_eq!(shed.status, 429, "{}", shed.body);
    assert_eq!(shed.retry_after.as_deref(), Some("1"));
    assert_eq!(shed.json()["error"]["type"], "rate_limit_error");
    let admitted: Vec<u16> = std::thread::scope(|scope| {
        let chat_req = scope.spawn(|| chat(s.proxy.addr, MODEL, "x", 1, &[("x-gateway-inference-objective", "chat")]).status);
        let plain = scope.spawn(|| chat(s.proxy.addr, MODEL, "x", 1, &[]).status);
        vec![chat_req.join().unwrap(), plain.join().unwrap()]
    });
    assert_eq!(admitted, vec![200, 200], "higher priorities are never shed");
    assert_eq!(s.proxy.counter("kvlb_proxy_sheds_total", &["objective=\"batch\""]), 1.0);
}

#[test]
fn a_dead_endpoint_is_retried_on_another_and_penalised() {
    let dead: SocketAddr = "127.94.0.9:9".parse().unwrap();
    let s = setup("kvlb-l7-retry", "127.94", 1, &[], &[], |a| {
        format!("pools:\n{}", l7_pool("llm", "127.94.1.1:8000", &format!("[{MODEL}]"), &[a[0], dead], "    scrape: false\n"))
    });
    for _ in 0..20 {
        let a = chat(s.proxy.addr, MODEL, "x", 1, &[]);
        assert_eq!(a.status, 200, "{}", a.body);
    }
    assert!(s.proxy.counter("kvlb_proxy_retries_total", &[]) >= 1.0, "{}", s.proxy.metrics());
    assert!(s.proxy.counter("kvlb_proxy_retries_total", &[]) <= 2.0, "the dead endpoint is penalised after failing");
}

#[test]
fn a_client_that_disconnects_frees_the_upstream_slot() {
    let s = setup("kvlb-l7-cancel", "127.95", 1, &["--max-num-seqs", "1"], &[], |a| format!("pools:\n{}", l7_pool("llm", "127.95.1.1:8000", &format!("[{MODEL}]"), a, "")));
    let running = || -> f64 {
        let m = ureq::get(&format!("http://{}/metrics", s.addrs[0])).call().unwrap().into_body().read_to_string().unwrap();
        m.lines().find(|l| l.starts_with("vllm:num_requests_running")).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(-1.0)
    };
    let body = json!({ "model": MODEL, "stream": true, "max_tokens": 5000, "ignore_eos": true, "messages": [{ "role": "user", "content": "long" }] }).to_string();
    let mut conn = TcpStream::connect(s.proxy.addr).unwrap();
    write!(conn, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut first = [0u8; 256];
    assert!(conn.read(&mut first).unwrap() > 0, "the stream started");
    assert!(wait_for(Duration::from_secs(5), || (running() == 1.0).then_some(())).is_some(), "the request never ran");
    drop(conn);
    let freed = wait_for(Duration::from_secs(5), || (running() == 0.0).then_some(()));
    assert!(freed.is_some(), "the endpoint kept running the abandoned request");
}

#[test]
fn bad_requests_get_openai_errors() {
    let s = setup("kvlb-l7-bad", "127.96", 1, &[], &["--max-body-bytes", "2048"], |a| format!("pools:\n{}", l7_pool("llm", "127.96.1.1:8000", &format!("[{MODEL}]"), a, "")));
    let p = s.proxy.addr;
    let cases: [(Answer, u16, &str); 6] = [
        (send(p, "/v1/chat/completions", "application/json", b"{not json", &[]), 400, "invalid_request"),
        (send(p, "/v1/chat/completions", "application/json", br#"{"messages":[{"role":"user","content":"x"}]}"#, &[]), 400, "invalid_request"),
        (send(p, "/v1/chat/completions", "application/json", br#"{"model":"m","messages":"x"}"#.repeat(200).as_slice(), &[]), 413, "request_too_large"),
        (send(p, "/v1/chat/completions", "text/plain", br#"{"model":"m"}"#, &[]), 415, "unsupported_media_type"),
        (send(p, "/v1/nope", "application/json", b"{}", &[]), 404, "not_found"),
        (send(p, "/health", "application/json", b"{}", &[]), 404, "not_found"),
    ];
    for (answer, status, code) in cases {
        assert_eq!(answer.status, status, "{}", answer.body);
        let err = &answer.json()["error"];
        assert_eq!(err["code"], code, "{}", answer.body);
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()) && err.get("type").is_some() && err.get("param").is_some(), "{}", answer.body);
    }
    assert_eq!(chat(p, MODEL, "still serving", 1, &[]).status, 200);
}

#[test]
fn a_slow_loris_client_does_not_delay_others_and_is_cut_off() {
    let s = setup("kvlb-l7-loris", "127.97", 1, &["--time-scale", "100"], &["--header-read-timeout", "1s"], |a| {
        format!("pools:\n{}", l7_pool("llm", "127.97.1.1:8000", &format!("[{MODEL}]"), a, ""))
    });
    let mut loris = TcpStream::connect(s.proxy.addr).unwrap();
    loris.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n").unwrap();
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(chat(s.proxy.addr, MODEL, "x", 1, &[]).status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(5), "others were delayed: {:?}", t.elapsed());
    loris.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let cut = match loris.read(&mut buf) {
        Ok(_) => true,
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    };
    assert!(cut, "the slow client was never cut off");
}

#[test]
fn http2_cleartext_clients_are_served() {
    let s = setup("kvlb-l7-h2", "127.98", 1, &["--time-scale", "100"], &[], |a| format!("pools:\n{}", l7_pool("llm", "127.98.1.1:8000", &format!("[{MODEL}]"), a, "")));
    let body = json!({ "model": MODEL, "max_tokens": 2, "ignore_eos": true, "messages": [{ "role": "user", "content": "h2" }] }).to_string();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "-H", "content-type: application/json", "-d", &body])
        .arg(format!("http://{}/v1/chat/completions", s.proxy.addr))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200", "{}", String::from_utf8_lossy(&out.stderr));
}
