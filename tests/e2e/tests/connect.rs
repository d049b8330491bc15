//! Connect-time load balancing, end to end: real programs attached to a child
//! cgroup, real endpoint servers, real client processes. Needs root.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use kvlb_e2e::{
    agent::{AgentProcess, Pool, detach, pools_yaml, run_to_exit},
    cgroup::TestCgroup,
    endpoint::EndpointServer,
    probe, unique_name, wait_for,
};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn servers(names: &[(&str, &str)]) -> Vec<EndpointServer> {
    names.iter().map(|(n, a)| EndpointServer::start(n, addr(a))).collect()
}

fn pool<'a>(name: &'a str, vip: &str, eps: &[(&EndpointServer, u32, bool)]) -> Pool<'a> {
    Pool { name, vip: addr(vip), when_empty: "refuse", scrape: false, endpoints: eps.iter().map(|(e, w, d)| (e.addr, *w, *d)).collect() }
}

fn total_live(agent: &AgentProcess) -> u64 {
    let list = agent.list();
    let pools = list["pools"].as_array().unwrap().iter().flat_map(|p| p["endpoints"].as_array().unwrap().clone());
    pools.chain(list["orphans"].as_array().unwrap().clone()).map(|e| e["live"].as_u64().unwrap()).sum()
}

#[test]
fn connections_land_only_on_the_pools_endpoints_split_by_weight_and_see_the_vip() {
    let cg = TestCgroup::new(&unique_name("kvlb-weights"));
    let eps = servers(&[("a", "127.51.0.1:0"), ("b", "127.51.0.2:0"), ("c", "127.51.0.3:0"), ("other", "127.51.0.4:0")]);
    let yaml = pools_yaml(&[
        pool("llm", "127.51.1.1:8000", &[(&eps[0], 2, false), (&eps[1], 1, false), (&eps[2], 1, false)]),
        pool("other", "127.51.1.2:8000", &[(&eps[3], 1, false)]),
    ]);
    let _agent = AgentProcess::start(&cg, &yaml);

    let n = 1200;
    let report = probe::run(Some(&cg), addr("127.51.1.1:8000"), n, 0);
    assert!(report.failures().is_empty(), "failures: {:?}", report.failures());
    let by = report.by_endpoint();
    assert_eq!(by.keys().cloned().collect::<Vec<_>>(), ["a", "b", "c"], "only the pool's endpoints: {by:?}");
    // Expected shares 50/25/25 %; ±5 points is over 3.5 standard deviations at n = 1200.
    for (name, want) in [("a", 0.50), ("b", 0.25), ("c", 0.25)] {
        let got = by[name] as f64 / f64::from(n);
        assert!((got - want).abs() < 0.05, "{name}: {got:.3} of connections, want {want} ± 0.05 ({by:?})");
    }
    assert!(report.conns.iter().all(|c| c.peer.as_deref() == Some("127.51.1.1:8000")), "getpeername must show the VIP");
    assert_eq!(eps[3].accepted(), 0, "the other pool's endpoint got traffic");
}

#[test]
fn dual_stack_sockets_connecting_to_a_v4_mapped_vip_are_balanced_by_connect6() {
    let cg = TestCgroup::new(&unique_name("kvlb-v4mapped"));
    let eps = servers(&[("a", "127.52.0.1:0"), ("b", "127.52.0.2:0")]);
    let _agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.52.1.1:8000", &[(&eps[0], 1, false), (&eps[1], 1, false)])]));
    let report = probe::run(Some(&cg), addr("[::ffff:127.52.1.1]:8000"), 200, 0);
    assert!(report.failures().is_empty(), "failures: {:?}", report.failures());
    assert_eq!(report.by_endpoint().len(), 2, "{:?}", report.by_endpoint());
    assert!(report.conns.iter().all(|c| c.peer.as_deref() == Some("[::ffff:127.52.1.1]:8000")));
}

#[test]
fn ipv6_vips_are_rewritten_by_connect6() {
    let cg = TestCgroup::new(&unique_name("kvlb-v6"));
    let ep = EndpointServer::start("v6", addr("[::1]:0"));
    let _agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm6", "[::1]:18181", &[(&ep, 1, false)])]));
    let report = probe::run(Some(&cg), addr("[::1]:18181"), 20, 0);
    assert_eq!(report.by_endpoint(), BTreeMap::from([("v6".to_string(), 20)]), "{:?}", report.failures());
    assert!(report.conns.iter().all(|c| c.peer.as_deref() == Some("[::1]:18181")));
}

#[test]
fn a_draining_endpoint_gets_no_new_connections() {
    let cg = TestCgroup::new(&unique_name("kvlb-drain"));
    let eps = servers(&[("a", "127.53.0.1:0"), ("b", "127.53.0.2:0")]);
    let _agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.53.1.1:8000", &[(&eps[0], 1, false), (&eps[1], 1, true)])]));
    let report = probe::run(Some(&cg), addr("127.53.1.1:8000"), 300, 0);
    assert_eq!(report.by_endpoint(), BTreeMap::from([("a".to_string(), 300)]));
    assert_eq!(eps[1].accepted(), 0);
}

#[test]
fn live_connection_counts_rise_and_fall() {
    let cg = TestCgroup::new(&unique_name("kvlb-live"));
    let eps = servers(&[("a", "127.54.0.1:0"), ("b", "127.54.0.2:0")]);
    let agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.54.1.1:8000", &[(&eps[0], 1, false), (&eps[1], 1, false)])]));
    assert_eq!(total_live(&agent), 0);
    let held = probe::hold(&cg, addr("127.54.1.1:8000"), 12, probe::Greeting::Name);
    assert!(held.report.failures().is_empty());
    assert_eq!(total_live(&agent), 12, "{}", agent.list());
    // With live connections as the tie-breaker the two equal endpoints stay even.
    let list = agent.list();
    let per: Vec<u64> = list["pools"][0]["endpoints"].as_array().unwrap().iter().map(|e| e["live"].as_u64().unwrap()).collect();
    assert!(per.iter().all(|&n| (4..=8).contains(&n)), "live per endpoint {per:?}");
    held.release();
    assert!(wait_for(Duration::from_secs(5), || (total_live(&agent) == 0).then_some(())).is_some(), "live count did not fall: {}", agent.list());
}

#[test]
fn a_pool_file_change_moves_new_connections_and_keeps_established_ones() {
    let cg = TestCgroup::new(&unique_name("kvlb-reload"));
    let eps = servers(&[("old", "127.55.0.1:0"), ("new", "127.55.0.2:0")]);
    let agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.55.1.1:8000", &[(&eps[0], 1, false)])]));
    let held = probe::hold(&cg, addr("127.55.1.1:8000"), 5, probe::Greeting::Name);
    assert_eq!(held.report.by_endpoint(), BTreeMap::from([("old".to_string(), 5)]));

    agent.write_pools(&pools_yaml(&[pool("llm", "127.55.1.1:8000", &[(&eps[1], 1, false)])]));
    let moved = wait_for(Duration::from_secs(10), || {
        let r = probe::run(Some(&cg), addr("127.55.1.1:8000"), 1, 0);
        (r.by_endpoint().get("new") == Some(&1)).then_some(())
    });
    assert!(moved.is_some(), "new connections never moved:\n{}", agent.log());
    let after = probe::run(Some(&cg), addr("127.55.1.1:8000"), 50, 0);
    assert_eq!(after.by_endpoint(), BTreeMap::from([("new".to_string(), 50)]));
    assert_eq!(eps[0].open(), 5, "established connections to the removed endpoint must survive");
    let old_record = |list: &serde_json::Value| {
        list["pools"][0]["endpoints"].as_array().unwrap().iter().find(|e| e["address"] == eps[0].addr.to_string()).cloned()
    };
    let list = agent.list();
    let old = old_record(&list).unwrap_or_else(|| panic!("removed endpoint vanished while connections were open: {list}"));
    assert_eq!((old["draining"].as_bool(), old["live"].as_u64()), (Some(true), Some(5)), "{list}");

    held.release();
    let swept = wait_for(Duration::from_secs(5), || old_record(&agent.list()).is_none().then_some(()));
    assert!(swept.is_some(), "drained endpoint not removed: {}", agent.list());
}

#[test]
fn an_invalid_pool_file_change_keeps_the_running_configuration() {
    let cg = TestCgroup::new(&unique_name("kvlb-badreload"));
    let ep = EndpointServer::start("a", addr("127.56.0.1:0"));
    let agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.56.1.1:8000", &[(&ep, 1, false)])]));
    agent.write_pools("pools:\n  - name: llm\n    vip: not-an-address\n");
    let logged = wait_for(Duration::from_secs(5), || agent.log().contains("pool file not applied").then_some(()));
    assert!(logged.is_some(), "{}", agent.log());
    assert!(agent.log().contains("pools[0].vip: invalid socket address syntax"), "{}", agent.log());
    let report = probe::run(Some(&cg), addr("127.56.1.1:8000"), 10, 0);
    assert_eq!(report.by_endpoint(), BTreeMap::from([("a".to_string(), 10)]));
}

#[test]
fn sigkill_and_restart_of_the_agent_refuses_no_connection() {
    let cg = TestCgroup::new(&unique_name("kvlb-restart"));
    let eps = servers(&[("a", "127.57.0.1:0"), ("b", "127.57.0.2:0")]);
    let mut agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.57.1.1:8000", &[(&eps[0], 1, false), (&eps[1], 1, false)])]));
    let vip = addr("127.57.1.1:8000");
    let load = std::thread::scope(|s| {
        let load = s.spawn(|| probe::run(Some(&cg), vip, 1500, 1));
        std::thread::sleep(Duration::from_millis(300));
        agent.sigkill();
        std::thread::sleep(Duration::from_millis(300));
        agent.spawn();
        agent.sigkill();
        agent.spawn();
        load.join().unwrap()
    });
    assert_eq!(load.conns.len(), 1500);
    assert!(load.failures().is_empty(), "{} of 1500 connections failed across SIGKILL and restart: {:?}", load.failures().len(), &load.failures()[..load.failures().len().min(3)]);
    assert!(load.conns.iter().all(|c| c.peer.as_deref() == Some("127.57.1.1:8000")));
    assert_eq!(load.by_endpoint().len(), 2);
    let links = std::fs::read_dir(agent.pin_dir.join("links")).unwrap().count();
    assert_eq!(links, 6, "one pinned link per program after takeover");
    assert_eq!(probe::run(Some(&cg), vip, 20, 0).failures().len(), 0);
}

#[test]
fn processes_outside_the_cgroup_are_untouched() {
    let cg = TestCgroup::new(&unique_name("kvlb-outside"));
    let ep = EndpointServer::start("a", addr("127.58.0.1:0"));
    let _agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.58.1.1:8000", &[(&ep, 1, false)])]));
    let outside = probe::run(None, addr("127.58.1.1:8000"), 5, 0);
    assert!(outside.conns.iter().all(|c| c.errno == Some(ECONNREFUSED)), "{:?}", outside.conns);
    assert_eq!(ep.accepted(), 0);
}

/// What a connect to an address where nothing listens gets.
const ECONNREFUSED: i32 = 111;

#[test]
fn a_pool_scaled_to_zero_refuses_or_passes_as_configured() {
    let cg = TestCgroup::new(&unique_name("kvlb-empty"));
    let vip_itself = EndpointServer::start("vip-itself", addr("127.59.1.2:18002"));
    let yaml = "pools:\n  - name: refuse\n    vip: 127.59.1.1:18001\n  - name: pass\n    vip: 127.59.1.2:18002\n    when_empty: pass\n    scrape: false\n";
    let agent = AgentProcess::start(&cg, yaml);
    let refused = probe::run(Some(&cg), addr("127.59.1.1:18001"), 3, 0);
    assert!(refused.conns.iter().all(|c| c.errno == Some(ECONNREFUSED)), "{:?}", refused.conns);
    let passed = probe::run(Some(&cg), addr("127.59.1.2:18002"), 3, 0);
    assert_eq!(passed.by_endpoint(), BTreeMap::from([("vip-itself".to_string(), 3)]));
    let counters = &agent.list()["counters"];
    assert_eq!(counters["no_endpoint_refused"], 3);
    assert_eq!(counters["no_endpoint_passed"], 3);
    drop(vip_itself);
}

#[test]
fn detach_removes_every_program_and_pin() {
    let cg = TestCgroup::new(&unique_name("kvlb-detach"));
    let ep = EndpointServer::start("a", addr("127.60.0.1:0"));
    let mut agent = AgentProcess::start(&cg, &pools_yaml(&[pool("llm", "127.60.1.1:8000", &[(&ep, 1, false)])]));
    agent.sigkill();
    assert_eq!(probe::run(Some(&cg), addr("127.60.1.1:8000"), 1, 0).by_endpoint().len(), 1, "pinned programs outlive the agent");
    let out = detach(&agent.pin_dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!agent.pin_dir.exists(), "pin directory left behind");
    let after = probe::run(Some(&cg), addr("127.60.1.1:8000"), 1, 0);
    assert_eq!(after.conns[0].errno, Some(ECONNREFUSED), "programs still attached: {:?}", after.conns);
    assert!(detach(&agent.pin_dir).status.success(), "detach is idempotent");
}

#[test]
fn bad_input_fails_with_one_line_and_leaves_nothing_behind() {
    let cg = TestCgroup::new(&unique_name("kvlb-badinput"));
    let dir = tempfile::tempdir().unwrap();
    let pin_dir = std::path::PathBuf::from("/sys/fs/bpf").join(unique_name("kvlb-bad"));
    let pin = pin_dir.to_str().unwrap();
    let cgroup = cg.path().to_str().unwrap();
    let bad_file = dir.path().join("pools.yaml");
    std::fs::write(&bad_file, "pools:\n  - name: a\n    vip: 127.61.1.1:80\n    endpoints:\n      - address: 127.61.1.1:80\n").unwrap();
    let good_file = dir.path().join("good.yaml");
    std::fs::write(&good_file, "pools:\n  - name: a\n    vip: 127.61.1.1:80\n").unwrap();
    let missing = dir.path().join("missing.yaml");
    let not_cgroup = dir.path().to_str().unwrap();

    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["run", "--pools", bad_file.to_str().unwrap(), "--cgroup", cgroup, "--pin-dir", pin], "pools[0].vip: VIP 127.61.1.1:80 is also an endpoint"),
        (vec!["run", "--pools", missing.to_str().unwrap(), "--cgroup", cgroup, "--pin-dir", pin], "missing.yaml: cannot read"),
        (vec!["run", "--pools", good_file.to_str().unwrap(), "--cgroup", not_cgroup, "--pin-dir", pin], "not a cgroup directory"),
        (vec!["run", "--pools", good_file.to_str().unwrap(), "--cgroup", cgroup, "--pin-dir", "/tmp/kvlb-not-bpffs"], "is not on a bpffs mount"),
    ];
    for (args, want) in cases {
        let out = run_to_exit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("kvlb-agent:")).collect();
        assert_eq!(errors.len(), 1, "one error line, got {stderr:?}");
        assert!(errors[0].contains(want), "{args:?}: want {want:?} in {stderr:?}");
        assert!(!pin_dir.exists(), "{args:?} left {} behind", pin_dir.display());
    }
    assert!(!std::path::Path::new("/tmp/kvlb-not-bpffs").exists());

    let unprivileged = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"])
        .arg(kvlb_e2e::bins::path("kvlb-agent"))
        .args(["run", "--pools", good_file.to_str().unwrap(), "--cgroup", cgroup, "--pin-dir", pin])
        .output()
        .expect("setpriv (util-linux)");
    let stderr = String::from_utf8_lossy(&unprivileged.stderr);
    assert!(!unprivileged.status.success());
    assert!(stderr.contains("missing privileges: kvlb-agent needs CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN"), "{stderr}");
    assert!(!pin_dir.exists());
}
