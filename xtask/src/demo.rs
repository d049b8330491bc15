//! `cargo xtask demo`: the standalone demo on this machine. Three endpoint
//! servers, the agent on the embedded demo pool file, clients in a child
//! cgroup connecting to the VIP, and a printout of where connections went and
//! why. Everything it creates is removed when it ends.

use std::{collections::BTreeMap, net::SocketAddr};

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    endpoint::EndpointServer,
    probe, unique_name,
};

/// The pool file the agent embeds for this demo.
const DEMO_POOLS: &str = include_str!("../../agent/src/demo-pools.yaml");
const VIP: &str = "127.77.0.1:8000";
const ENDPOINTS: [(&str, &str, u32); 3] =
    [("replica-1", "127.77.1.1:9000", 2), ("replica-2", "127.77.1.2:9000", 1), ("replica-3", "127.77.1.3:9000", 1)];

/// Runs the demo.
pub fn run() -> anyhow::Result<()> {
    let vip: SocketAddr = VIP.parse()?;
    let servers: Vec<EndpointServer> = ENDPOINTS.iter().map(|(n, a, _)| EndpointServer::start(n, a.parse().expect("address"))).collect();
    let cgroup = TestCgroup::new(&unique_name("kvlb-demo"));
    println!("kvlb demo: pool `demo-llm`, VIP {VIP}, three replicas (weights 2:1:1)");
    println!("  agent attached to cgroup {}; clients run inside it\n", cgroup.path().display());
    let agent = AgentProcess::start(&cgroup, DEMO_POOLS);

    println!("1. 1000 short connections to the VIP. Each connect() is rewritten in the kernel:");
    println!("   two weighted random slots are drawn and the replica with fewer live connections");
    println!("   per unit of weight wins; short connections are idle, so the split follows the weights.");
    let report = probe::run(Some(&cgroup), vip, 1000, 0);
    print_split(&report.by_endpoint(), 1000, None);
    let peers: BTreeMap<&str, usize> = report.conns.iter().fold(BTreeMap::new(), |mut m, c| {
        *m.entry(c.peer.as_deref().unwrap_or("-")).or_default() += 1;
        m
    });
    println!("   getpeername() reported: {peers:?} (the VIP, not the replica)\n");

    println!("2. 40 connections held open: live counts steer the pick (kvlb list):");
    let held = probe::hold(&cgroup, vip, 40);
    print!("{}", indent(&agent.kvlb(&["list"])));
    held.release();

    println!("\n3. replica-3 marked draining in the pool file; 300 new connections:");
    agent.write_pools(&DEMO_POOLS.replace("      - address: 127.77.1.3:9000\n", "      - address: 127.77.1.3:9000\n        draining: true\n"));
    let drained = kvlb_e2e::wait_for(std::time::Duration::from_secs(10), || {
        (agent.list()["pools"][0]["slots"].as_u64() == Some(1024) && agent.kvlb(&["list"]).contains("draining")).then_some(())
    });
    anyhow::ensure!(drained.is_some(), "the agent did not apply the changed pool file:\n{}", agent.log());
    let report = probe::run(Some(&cgroup), vip, 300, 0);
    print_split(&report.by_endpoint(), 300, Some("replica-3"));
    println!("\nProcesses outside the cgroup are untouched: a connect from here to {VIP} gets {:?}.", probe::run(None, vip, 1, 0).conns[0].error.as_deref().unwrap_or("a connection?!"));
    println!("Done; detaching. Endpoint servers accepted {:?} connections in all.", servers.iter().map(|s| s.accepted()).collect::<Vec<_>>());
    Ok(())
}

/// Prints each replica's expected and actual share; `draining` gets none.
fn print_split(by: &BTreeMap<String, usize>, total: usize, draining: Option<&str>) {
    let weight = |name: &str, w: u32| if Some(name) == draining { 0 } else { w };
    let weights: u32 = ENDPOINTS.iter().map(|e| weight(e.0, e.2)).sum();
    println!("   {:<10} {:>6} {:>9} {:>7}", "replica", "weight", "expected", "got");
    for (name, _, w) in ENDPOINTS {
        let got = by.get(name).copied().unwrap_or(0);
        let expected = 100.0 * f64::from(weight(name, w)) / f64::from(weights);
        println!("   {name:<10} {w:>6} {expected:>8.1}% {:>6.1}%", 100.0 * got as f64 / total as f64);
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("   {l}\n")).collect()
}
