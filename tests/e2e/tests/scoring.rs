//! Score-driven picks with real simulators: the agent scrapes each replica,
//! scores it and the kernel's pick follows. Needs root.

use std::{net::SocketAddr, time::Duration};

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    metrics_stub::{self, Misbehaviour},
    probe,
    sim::Sim,
    unique_name, wait_for,
};
use serde_json::Value;

fn pool_yaml(vip: &str, endpoints: &[SocketAddr]) -> String {
    let mut s = format!("pools:\n  - name: llm\n    vip: \"{vip}\"\n    endpoints:\n");
    for e in endpoints {
        s.push_str(&format!("      - address: \"{e}\"\n"));
    }
    s
}

fn endpoint(status: &Value, addr: SocketAddr) -> Value {
    status["pools"][0]["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["address"] == addr.to_string())
        .cloned()
        .unwrap_or_else(|| panic!("{addr} not in {status}"))
}

/// Connections the kernel redirected to each endpoint so far.
fn connections(agent: &AgentProcess, addrs: &[SocketAddr]) -> Vec<u64> {
    let all = agent.connections("llm");
    addrs.iter().map(|a| all[a]).collect()
}

/// Opens `n` connections through the VIP; returns how many each endpoint got.
fn split(agent: &AgentProcess, cg: &TestCgroup, vip: &str, addrs: &[SocketAddr], n: u32) -> Vec<u64> {
    let before = connections(agent, addrs);
    let report = probe::connect_only(cg, vip.parse().unwrap(), n);
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    connections(agent, addrs).iter().zip(before).map(|(a, b)| a - b).collect()
}

fn wait_status(agent: &AgentProcess, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    wait_for(Duration::from_secs(15), || {
        let s = agent.status();
        ok(&s).then_some(s)
    })
    .unwrap_or_else(|| panic!("timed out waiting for {what}: {}\n{}", agent.status(), agent.log()))
}

/// The loaded replica's published score exceeds the idle one's by at least
/// five waiting requests' worth.
fn loaded_scores_higher(loaded: SocketAddr, idle: SocketAddr) -> impl Fn(&Value) -> bool {
    move |s| endpoint(s, loaded)["score"].as_u64().unwrap_or(0) >= endpoint(s, idle)["score"].as_u64().unwrap_or(0) + 5000
}

fn start(tag: &str, hosts: [&str; 2], vip: &str) -> (TestCgroup, Vec<Sim>, AgentProcess, Vec<SocketAddr>) {
    let cg = TestCgroup::new(&unique_name(tag));
    let sims: Vec<Sim> = hosts.iter().map(|h| Sim::serve(h, &["--max-num-seqs", "2"])).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let agent = AgentProcess::start(&cg, &pool_yaml(vip, &addrs));
    wait_status(&agent, "both replicas scraped", |s| addrs.iter().all(|a| endpoint(s, *a)["score_age_seconds"].is_number()));
    (cg, sims, agent, addrs)
}

#[test]
fn a_loaded_replica_gets_fewer_new_connections_and_the_idle_one_more() {
    let vip = "127.62.1.1:8000";
    let (cg, sims, agent, addrs) = start("kvlb-loaded", ["127.62.0.1", "127.62.0.2"], vip);
    let even = split(&agent, &cg, vip, &addrs, 400);
    assert!(even.iter().all(|&n| (120..=280).contains(&n)), "idle replicas share evenly: {even:?}");

    let _load = sims[0].load(12, 4000);
    let status = wait_status(&agent, "the loaded replica's score", loaded_scores_higher(addrs[0], addrs[1]));
    assert!(endpoint(&status, addrs[0])["waiting"].as_f64() >= Some(5.0), "{status}");

    // Two draws, the cheaper wins: the loaded replica wins only when both
    // draws land on it (about a quarter of picks).
    let skewed = split(&agent, &cg, vip, &addrs, 400);
    assert!(skewed[0] < 160 && skewed[1] > 240, "loaded replica got {}, idle {} of 400", skewed[0], skewed[1]);
}

#[test]
fn a_stopped_replica_goes_not_ready_gets_nothing_and_returns_after_sigcont() {
    let vip = "127.63.1.1:8000";
    let (cg, sims, agent, addrs) = start("kvlb-sigstop", ["127.63.0.1", "127.63.0.2"], vip);
    sims[0].signal("STOP");
    wait_status(&agent, "the stopped replica to go not ready", |s| endpoint(s, addrs[0])["ready"] == false);
    let list = agent.kvlb(&["list"]);
    assert!(list.contains("not-ready"), "{list}");
    assert_eq!(split(&agent, &cg, vip, &addrs, 200), vec![0, 200]);
    let errors = &endpoint(&agent.status(), addrs[0])["scrape_errors"];
    assert!(errors["timeout"].as_u64() >= Some(3), "{errors}");

    sims[0].signal("CONT");
    wait_status(&agent, "the replica to be ready again", |s| endpoint(s, addrs[0])["ready"] == true);
    // Readmitted: it gets connections again (fewer than half at first, while
    // its score still carries the backlog it resumed with).
    let back = split(&agent, &cg, vip, &addrs, 200);
    assert!(back[0] > 10, "readmitted replica got {back:?}");
}

#[test]
fn stale_scores_fall_back_to_live_connections() {
    let vip = "127.64.1.1:8000";
    let (cg, sims, agent, addrs) = start("kvlb-stale", ["127.64.0.1", "127.64.0.2"], vip);
    let _load = sims[0].load(12, 4000);
    wait_status(&agent, "the loaded replica's score", loaded_scores_higher(addrs[0], addrs[1]));
    let fallbacks = |agent: &AgentProcess| agent.list()["counters"]["stale_fallbacks"].as_u64().unwrap();
    let before = fallbacks(&agent);
    let skewed = split(&agent, &cg, vip, &addrs, 300);
    assert!(skewed[0] < 120, "fresh scores steer away from the loaded replica: {skewed:?}");

    // Pause the agent: no more score rounds, so after the 200 ms bound the
    // kernel ignores the scores and idle short connections split evenly.
    agent.signal("STOP");
    std::thread::sleep(Duration::from_millis(400));
    let stale = split(&agent, &cg, vip, &addrs, 300);
    let after = fallbacks(&agent);
    agent.signal("CONT");
    assert!(after >= before + 300, "every pick counted a stale fallback ({before} -> {after})");
    assert!(stale.iter().all(|&n| (90..=210).contains(&n)), "load-only split is even: {stale:?}");
}

#[test]
fn misbehaving_metrics_endpoints_are_errors_that_stall_nobody_and_stay_bounded() {
    let cg = TestCgroup::new(&unique_name("kvlb-badmetrics"));
    let good = Sim::serve("127.65.0.1", &[]);
    let bad = [
        (metrics_stub::start("127.65.0.2:0".parse().unwrap(), Misbehaviour::Garbage), "syntax"),
        (metrics_stub::start("127.65.0.3:0".parse().unwrap(), Misbehaviour::Empty), "missing"),
        (metrics_stub::start("127.65.0.4:0".parse().unwrap(), Misbehaviour::ServerError), "status"),
        (metrics_stub::start("127.65.0.5:0".parse().unwrap(), Misbehaviour::Huge(10 << 20)), "too_large"),
        (metrics_stub::start("127.65.0.6:0".parse().unwrap(), Misbehaviour::Silent), "timeout"),
    ];
    let mut addrs = vec![good.addr];
    addrs.extend(bad.iter().map(|(a, _)| *a));
    let agent = AgentProcess::start(&cg, &pool_yaml("127.65.1.1:8000", &addrs));
    let status = wait_status(&agent, "every bad endpoint to go not ready", |s| bad.iter().all(|(a, _)| endpoint(s, *a)["ready"] == false));
    for (addr, reason) in &bad {
        let errors = &endpoint(&status, *addr)["scrape_errors"];
        assert!(errors[*reason].as_u64() >= Some(3), "{addr}: want {reason} errors, got {errors}");
    }
    // The good replica keeps being scraped on time, and memory stays bounded
    // although one endpoint sends 10 MB every interval.
    std::thread::sleep(Duration::from_secs(2));
    let status = agent.status();
    let good_age = endpoint(&status, good.addr)["score_age_seconds"].as_f64().unwrap();
    assert!(good_age < 1.0, "the good replica's score is {good_age}s old");
    assert_eq!(endpoint(&status, good.addr)["ready"], true);
    let rss = status["process"]["resident_bytes"].as_u64().unwrap();
    assert!(rss < 96 << 20, "agent RSS {rss} bytes");
    let metrics = agent.metrics();
    assert!(metrics.contains("reason=\"too_large\""), "{metrics}");
    let report = probe::connect_only(&cg, "127.65.1.1:8000".parse().unwrap(), 50);
    assert!(report.failures().is_empty());
    assert_eq!(connections(&agent, &addrs)[1..].iter().sum::<u64>(), 0, "no connection to a not-ready endpoint");
}

#[test]
fn the_agents_metrics_parse_and_hold_the_documented_series() {
    let cg = TestCgroup::new(&unique_name("kvlb-ownmetrics"));
    let sim = Sim::serve("127.66.0.1", &[]);
    let agent = AgentProcess::start(&cg, &pool_yaml("127.66.1.1:8000", &[sim.addr]));
    wait_status(&agent, "the replica scraped", |s| endpoint(s, sim.addr)["score_age_seconds"].is_number());
    probe::connect_only(&cg, "127.66.1.1:8000".parse().unwrap(), 5);
    let text = agent.metrics();
    let names = parse_with_prometheus_client(&text);
    for series in [
        "kvlb_endpoint_score",
        "kvlb_endpoint_kv_cache_usage_ratio",
        "kvlb_endpoint_requests_waiting",
        "kvlb_endpoint_requests_running",
        "kvlb_endpoint_live_connections",
        "kvlb_endpoint_ready",
        "kvlb_endpoint_scrape_duration_seconds",
        "kvlb_endpoint_score_age_seconds",
        "kvlb_endpoint_scrape_errors",
        "kvlb_endpoint_connections",
        "kvlb_pool_redirects",
        "kvlb_pool_stale_fallbacks",
        "kvlb_pool_no_endpoint",
        "kvlb_pool_saturation_ratio",
        "kvlb_program_runs",
        "kvlb_agent_cpu_seconds",
        "kvlb_agent_resident_memory_bytes",
        "kvlb_agent_open_fds",
    ] {
        assert!(names.iter().any(|n| n == series), "{series} missing from {names:?}");
    }
    assert!(text.contains("kvlb_pool_redirects_total{pool=\"llm\"} 5"), "counters carry _total:\n{text}");
    assert!(text.contains("kvlb_program_runs_total{program=\"connect4\"}"), "{text}");
    for series in dashboard_series() {
        assert!(text.contains(&format!("{series}{{")) || text.contains(&format!("{series} ")), "the Grafana dashboard queries {series}, which the agent does not export");
    }
    let status_text = std::process::Command::new(kvlb_e2e::bins::path("kvlb"))
        .args(["status", "--agent", &agent.metrics_addr().to_string()])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status_text.stdout);
    assert!(out.contains(&sim.addr.to_string()) && out.contains("ready"), "{out}");
}

/// Family names, as the official Prometheus client's strict OpenMetrics
/// parser reads them.
fn parse_with_prometheus_client(text: &str) -> Vec<String> {
    use std::io::Write;
    let mut child = std::process::Command::new(kvlb_e2e::bins::python())
        .arg(kvlb_e2e::bins::python_script("parse_metrics.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "unparsable metrics: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every `kvlb_*` series the shipped Grafana dashboard queries.
fn dashboard_series() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/grafana/kvlb-dashboard.json");
    let json = std::fs::read_to_string(&path).expect("dashboard");
    let mut names: Vec<String> = json
        .match_indices("kvlb_")
        .map(|(i, _)| json[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect())
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 10, "{names:?}");
    names
}
