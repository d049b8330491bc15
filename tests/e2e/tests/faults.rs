//! Fault injection: parts of kvlb or of the fleet fail while traffic flows.
//! (Also elsewhere: SIGKILL of the agent under connection load in
//! connect.rs; a SIGSTOP'd server and misbehaving metrics pages in
//! scoring.rs; a dead endpoint, a vanished client and a slow-loris client in
//! proxy.rs.) Needs root.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    probe,
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name, wait_for,
};
use serde_json::json;

fn l7_yaml(vip: &str, endpoints: &[SocketAddr]) -> String {
    let mut s = format!("pools:\n  - name: llm\n    vip: \"{vip}\"\n    mode: l7\n    models: [{MODEL}]\n    endpoints:\n");
    for e in endpoints {
        s.push_str(&format!("      - address: \"{e}\"\n"));
    }
    s
}

/// Starts a streamed completion through `proxy`, reads its first bytes and
/// returns the open connection.
fn start_stream(proxy: SocketAddr, max_tokens: u32) -> TcpStream {
    let body = json!({ "model": MODEL, "stream": true, "max_tokens": max_tokens, "ignore_eos": true, "messages": [{ "role": "user", "content": "go" }] }).to_string();
    let mut conn = TcpStream::connect(proxy).unwrap();
    write!(conn, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut first = [0u8; 512];
    let n = conn.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first[..n]));
    conn
}

/// Reads until the server ends the response; returns what came.
fn read_to_end(mut conn: TcpStream) -> String {
    let mut rest = Vec::new();
    let _ = conn.read_to_end(&mut rest);
    String::from_utf8_lossy(&rest).into_owned()
}

#[test]
fn an_endpoint_dying_mid_stream_ends_the_stream_cleanly_and_new_requests_avoid_it() {
    let cg = TestCgroup::new(&unique_name("kvlb-fault-die"));
    let mut sims: Vec<Sim> = ["127.100.0.1", "127.100.0.2"].iter().map(|h| Sim::serve(h, &["--max-num-seqs", "8"])).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let proxy_addr: SocketAddr = "127.100.0.100:15000".parse().unwrap();
    let agent = AgentProcess::start_with(&cg, &l7_yaml("127.100.1.1:8000", &addrs), &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start(&agent, proxy_addr, &[]);
    let streams: Vec<TcpStream> = std::iter::repeat_with(|| start_stream(proxy_addr, 300)).take(4).collect();
    // Kill the endpoint carrying the most of them.
    let inflight: Vec<usize> = addrs.iter().map(|a| proxy.counter("kvlb_proxy_inflight", &[&format!("endpoint=\"{a}\"")]) as usize).collect();
    let victim = if inflight[0] >= inflight[1] { 0 } else { 1 };
    assert!(inflight[victim] >= 1, "{inflight:?}");
    drop(sims.remove(victim));
    // Its clients see their streams cut (the connection closes without the
    // chunked body's end or `[DONE]`), never a hang; the others finish.
    let cut = streams.into_iter().map(read_to_end).filter(|rest| !rest.contains("data: [DONE]")).count();
    assert_eq!(cut, inflight[victim], "exactly the dead endpoint's streams are cut");
    // Within a few scrape intervals the dead endpoint is not ready and every
    // new request goes to the survivor.
    let gone = wait_for(Duration::from_secs(5), || (agent.status()["pools"][0]["endpoints"][victim]["ready"] == false).then_some(()));
    assert!(gone.is_some(), "{}", agent.status());
    for _ in 0..10 {
        let body = json!({ "model": MODEL, "max_tokens": 1, "messages": [{ "role": "user", "content": "x" }] }).to_string();
        let status = ureq::post(&format!("http://{proxy_addr}/v1/chat/completions")).header("content-type", "application/json").send(body).map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(200));
    }
    let to_dead = proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{}\"", addrs[victim]), "status=\"200\""]);
    let total = proxy.counter("kvlb_proxy_requests_total", &["status=\"200\""]);
    assert!(total - to_dead >= 10.0, "new requests went to the survivor");
}

#[test]
fn killing_the_proxy_fails_only_in_flight_requests_and_a_restart_serves_again() {
    let cg = TestCgroup::new(&unique_name("kvlb-fault-proxy"));
    let sim = Sim::serve("127.101.0.1", &[]);
    let proxy_addr: SocketAddr = "127.101.0.100:15000".parse().unwrap();
    let vip: SocketAddr = "127.101.1.1:8000".parse().unwrap();
    let agent = AgentProcess::start_with(&cg, &l7_yaml(&vip.to_string(), &[sim.addr]), &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start(&agent, proxy_addr, &[]);
    let in_flight = start_stream(proxy_addr, 5000);
    drop(proxy);
    let cut = read_to_end(in_flight);
    assert!(!cut.contains("data: [DONE]"), "the in-flight stream was cut, not finished");
    // While the proxy is down, connects to the l7 VIP are refused at once
    // (nothing listens where the kernel sends them): clients fail fast and
    // retry, nothing hangs.
    let down = probe::connect_only(&cg, vip, 3);
    assert!(down.conns.iter().all(|c| c.errno == Some(111)), "{:?}", down.conns);
    let _again = ProxyProcess::start(&agent, proxy_addr, &[]);
    let up = probe::connect_only(&cg, vip, 3);
    assert!(up.failures().is_empty(), "{:?}", up.failures());
}

#[test]
fn a_pool_file_with_ten_thousand_endpoints_applies_and_invalid_values_leave_nothing_half_done() {
    let cg = TestCgroup::new(&unique_name("kvlb-fault-big"));
    let mut yaml = String::from("pools:\n");
    for p in 0..10 {
        yaml.push_str(&format!("  - name: big-{p}\n    vip: \"127.102.{p}.250:8000\"\n    scrape: false\n    endpoints:\n"));
        for e in 0..1000 {
            yaml.push_str(&format!("      - address: \"127.103.{}.{}:{}\"\n", e / 250, e % 250 + 1, 9000 + p));
        }
    }
    let agent = AgentProcess::start(&cg, &yaml);
    let list = agent.list();
    let endpoints: usize = list["pools"].as_array().unwrap().iter().map(|p| p["endpoints"].as_array().unwrap().len()).sum();
    assert_eq!(endpoints, 10_000);
    assert!(list["pools"].as_array().unwrap().iter().all(|p| p["slots"] == 1024));

    // An invalid change is rejected whole: the running table stays intact.
    agent.write_pools(&yaml.replacen("127.103.0.1:9000", "127.103.0.1:0", 1));
    let rejected = wait_for(Duration::from_secs(5), || agent.log().contains("pool file not applied").then_some(()));
    assert!(rejected.is_some(), "{}", agent.log());
    assert!(agent.log().contains("pools[0].endpoints[0].address: 127.103.0.1:0 has port 0"), "{}", agent.log());
    let after: usize = agent.list()["pools"].as_array().unwrap().iter().map(|p| p["endpoints"].as_array().unwrap().len()).sum();
    assert_eq!(after, 10_000);
}
