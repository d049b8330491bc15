//! `cargo xtask demo`: the standalone demo on this machine. Three simulated
//! model servers (`kvlb-sim`), the agent on the embedded demo pool file, the
//! L7 proxy, clients in a child cgroup connecting to the VIPs, and a printout
//! of where connections and requests went and why. Everything it creates is
//! removed when it ends.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use kvlb_e2e::{
    agent::AgentProcess,
    bins,
    cgroup::TestCgroup,
    probe,
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name, wait_for,
};

/// The pool file the agent embeds for this demo.
const DEMO_POOLS: &str = include_str!("../../agent/src/demo-pools.yaml");
const VIP: &str = "127.77.0.1:8000";
const L7_VIP: &str = "127.77.0.2:8000";
const PROXY: &str = "127.77.0.100:15000";
const REPLICAS: [(&str, &str, u32); 3] = [("replica-1", "127.77.1.1", 2), ("replica-2", "127.77.1.2", 1), ("replica-3", "127.77.1.3", 1)];
const PORT: u16 = 9000;

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    let vip: SocketAddr = VIP.parse()?;
    let sims: Vec<Sim> = REPLICAS.iter().map(|(_, host, _)| Sim::serve_on(host, PORT, &["--max-num-seqs", "4"])).collect();
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let cgroup = TestCgroup::new(&unique_name("kvlb-demo"));
    println!("kvlb demo: three simulated vLLM replicas (kvlb-sim) in two pools:");
    println!("  demo-llm  VIP {VIP}, connect mode (the kernel picks per connection), weights 2:1:1");
    println!("  demo-chat VIP {L7_VIP}, l7 mode (kvlb-proxy at {PROXY} picks per request)");
    println!("  agent attached to cgroup {}; clients run inside it\n", cgroup.path().display());
    let agent = AgentProcess::start_with(&cgroup, DEMO_POOLS, &["--proxy-addr", PROXY]);
    let proxy = ProxyProcess::start(&agent, PROXY.parse()?, &[]);
    let status = || agent.kvlb(&["status", "--agent", &agent.metrics_addr().to_string()]);
    anyhow::ensure!(
        wait_for(Duration::from_secs(10), || (!status().contains(" - ")).then_some(())).is_some(),
        "the agent never scraped the replicas:\n{}",
        agent.log()
    );

    println!("1. All replicas idle. 1000 short connections to the VIP; each connect() is rewritten");
    println!("   in the kernel: two weighted random slots are drawn and the cheaper replica wins.");
    println!("   Idle replicas cost the same, so the split follows the weights.");
    print_split(&split(&agent, &cgroup, vip, &addrs, 1000)?, 1000, None);

    println!("\n2. replica-1 gets 16 long requests (4 run, 12 wait). The agent scrapes every 50 ms and");
    println!("   publishes each replica's score = 1000 x (waiting + 0.25 running + 0.5 kv/(1-kv)); kvlb status:");
    let _load = sims[0].load(16, 4000);
    anyhow::ensure!(
        wait_for(Duration::from_secs(10), || {
            let s = agent.status();
            (s["pools"][0]["endpoints"][0]["score"].as_u64() >= Some(10_000)).then_some(())
        })
        .is_some(),
        "replica-1's score never rose:\n{}",
        status()
    );
    print!("{}", indent(&status()));
    println!("   1000 new connections: replica-1 now wins only when both draws land on it.");
    print_split(&split(&agent, &cgroup, vip, &addrs, 1000)?, 1000, None);

    println!("\n3. 40 connections held open: the kernel counts them per replica (kvlb list):");
    let held = probe::hold(&cgroup, vip, 40, probe::Greeting::None);
    print!("{}", indent(&agent.kvlb(&["list"])));
    held.release();

    println!("\n4. replica-3 marked draining in the pool file; 300 new connections (replica-1 is still");
    println!("   busy with its queue, so it gets less than its weight):");
    agent.write_pools(&DEMO_POOLS.replace("      - address: 127.77.1.3:9000\n", "      - address: 127.77.1.3:9000\n        draining: true\n"));
    anyhow::ensure!(
        wait_for(Duration::from_secs(10), || agent.kvlb(&["list"]).contains("draining").then_some(())).is_some(),
        "the agent did not apply the changed pool file:\n{}",
        agent.log()
    );
    print_split(&split(&agent, &cgroup, vip, &addrs, 300)?, 300, Some("replica-3"));

    println!("\n5. demo-chat is in l7 mode: its VIP leads to the proxy. The OpenAI SDK sends 8 chat");
    println!("   requests sharing a long system prompt over one kept-alive connection; the proxy");
    println!("   picks per request (load + prefix affinity), so they stick to one cache-warm replica:");
    let redirects = |a: &AgentProcess| a.list()["counters"]["redirects"].as_u64().unwrap_or(0);
    let before = redirects(&agent);
    let out = cgroup
        .command(&bins::python())
        .arg(bins::python_script("chat_burst.py"))
        .args([&format!("http://{L7_VIP}/v1"), MODEL, "8"])
        .output()?;
    anyhow::ensure!(out.status.success(), "the SDK failed: {}", String::from_utf8_lossy(&out.stderr));
    println!("   kernel redirects for the burst: {} (one connection)", redirects(&agent) - before);
    for ((name, _, _), addr) in REPLICAS.iter().zip(&addrs) {
        let served = proxy.counter("kvlb_proxy_requests_total", &["pool=\"demo-chat\"", &format!("endpoint=\"{addr}\"")]);
        println!("   {name}: {} requests", served as u64);
    }

    let metrics = agent.metrics();
    println!("\nThe agent's Prometheus metrics (http://{}/metrics), a few lines:", agent.metrics_addr());
    for line in metrics.lines().filter(|l| l.starts_with("kvlb_endpoint_score{") || l.starts_with("kvlb_pool_redirects_total")) {
        println!("   {line}");
    }
    let outside = probe::connect_only_outside(vip);
    println!("\nProcesses outside the cgroup are untouched: a connect from here to {VIP} gets {outside:?}.");
    println!("Done; detaching and stopping the replicas.");
    Ok(())
}

/// Opens `n` connections through the VIP; returns how many each replica got,
/// read from the kernel's per-endpoint counters.
fn split(agent: &AgentProcess, cgroup: &TestCgroup, vip: SocketAddr, addrs: &[SocketAddr], n: u32) -> anyhow::Result<BTreeMap<String, u64>> {
    let before = agent.connections("demo-llm");
    let report = probe::connect_only(cgroup, vip, n);
    anyhow::ensure!(report.failures().is_empty(), "connections failed: {:?}", report.failures());
    let after = agent.connections("demo-llm");
    Ok(REPLICAS.iter().zip(addrs).map(|((name, _, _), a)| (name.to_string(), after[a] - before[a])).collect())
}

/// Prints each replica's expected (by weight) and actual share; `draining`
/// gets none.
fn print_split(by: &BTreeMap<String, u64>, total: u64, draining: Option<&str>) {
    let weight = |name: &str, w: u32| if Some(name) == draining { 0 } else { w };
    let weights: u32 = REPLICAS.iter().map(|r| weight(r.0, r.2)).sum();
    println!("   {:<10} {:>6} {:>10} {:>7}", "replica", "weight", "by weight", "got");
    for (name, _, w) in REPLICAS {
        let got = by.get(name).copied().unwrap_or(0);
        let expected = 100.0 * f64::from(weight(name, w)) / f64::from(weights);
        println!("   {name:<10} {w:>6} {expected:>9.1}% {:>6.1}%", 100.0 * got as f64 / total as f64);
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
