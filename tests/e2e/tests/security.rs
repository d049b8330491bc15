//! Least privilege and hygiene checks: what the agent leaves on the host, and
//! the proxy running with no capability. Needs root.

use std::{net::SocketAddr, os::unix::fs::PermissionsExt, time::Duration};

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name, wait_for,
};
use serde_json::json;

#[test]
fn pinned_maps_and_links_are_readable_by_root_only() {
    let cg = TestCgroup::new(&unique_name("kvlb-sec-pins"));
    let agent = AgentProcess::start(&cg, "pools:\n  - name: a\n    vip: 127.110.1.1:80\n    scrape: false\n");
    let mut pins = Vec::new();
    for entry in std::fs::read_dir(&agent.pin_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            pins.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            pins.push(path);
        }
    }
    assert!(pins.len() >= 9 + 6, "every map and link is pinned: {pins:?}");
    for pin in pins {
        let mode = std::fs::metadata(&pin).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", pin.display());
    }
    let state = std::fs::metadata(agent.state_file()).unwrap().permissions().mode() & 0o022;
    assert_eq!(state, 0, "the state file is not writable by others");
}

/// The capability sets of a running process, from `/proc/<pid>/status`.
fn capabilities(pid: u32) -> Vec<(String, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    status
        .lines()
        .filter_map(|l| l.strip_prefix("Cap")?.split_once(':'))
        .map(|(set, hex)| (set.to_owned(), u64::from_str_radix(hex.trim(), 16).expect("hex capability set")))
        .collect()
}

/// The access mode (`O_RDONLY`, `O_WRONLY`, `O_RDWR`) of every BPF map
/// descriptor a process holds, from `/proc/<pid>/fdinfo`.
fn bpf_map_access_modes(pid: u32) -> Vec<u32> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("process descriptors");
    fds.filter_map(|fd| {
        let fd = fd.ok()?;
        (std::fs::read_link(fd.path()).ok()?.to_str()? == "anon_inode:bpf-map").then_some(())?;
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_str()?)).ok()?;
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
        Some(u32::from_str_radix(flags.trim(), 8).expect("octal flags") & libc::O_ACCMODE as u32)
    })
    .collect()
}

#[test]
fn the_proxy_serves_l7_pools_on_live_scores_without_any_capability() {
    let cg = TestCgroup::new(&unique_name("kvlb-sec-proxy"));
    let sims: Vec<Sim> = (1..=2).map(|i| Sim::serve(&format!("127.130.0.{i}"), &["--max-num-seqs", "1"])).collect();
    let (busy, idle) = (sims[0].addr, sims[1].addr);
    let proxy_addr: SocketAddr = "127.130.0.100:15000".parse().unwrap();
    let pools = format!(
        "pools:\n  - name: llm\n    vip: 127.130.1.1:8000\n    mode: l7\n    models: [{MODEL}]\n    scoring: {{staleness_ms: 5000}}\n    endpoints:\n      - address: \"{busy}\"\n      - address: \"{idle}\"\n"
    );
    let agent = AgentProcess::start_with(&cg, &pools, &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start_without_capabilities(&agent, proxy_addr, &[]);

    let caps = capabilities(proxy.pid());
    assert_eq!(caps.len(), 5, "{caps:?}");
    for (set, bits) in &caps {
        assert_eq!(*bits, 0, "the proxy holds capabilities in Cap{set}: {bits:x}");
    }

    // It holds the two maps it reads (endpoints and pools), read-only: the
    // kernel refuses writes through them (`pin::tests` in kvlb-proxy).
    assert_eq!(bpf_map_access_modes(proxy.pid()), vec![libc::O_RDONLY as u32; 2], "the proxy's map descriptors");

    // One request runs on the busy replica and five wait: only the agent's
    // scores, read from the maps, tell the proxy (which sent none of them).
    let _load = sims[0].load(6, 4000);
    let endpoint = |addr: SocketAddr| {
        let status = agent.status();
        status["pools"][0]["endpoints"].as_array().unwrap().iter().find(|e| e["address"] == addr.to_string()).cloned().unwrap()
    };
    let score = |addr| endpoint(addr)["score"].as_u64().unwrap_or(0);
    let loaded = wait_for(Duration::from_secs(10), || (score(busy) >= score(idle) + 5000).then_some(()));
    assert!(loaded.is_some(), "the busy replica's score never showed its queue: {}", agent.status());

    let agent_http = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    for i in 0..10 {
        let body = json!({ "model": MODEL, "max_tokens": 1, "messages": [{ "role": "user", "content": format!("hello {i}") }] }).to_string();
        let response = agent_http.post(&format!("http://{proxy_addr}/v1/chat/completions")).header("content-type", "application/json").send(body).expect("POST");
        assert_eq!(response.status(), 200, "{}", proxy.log());
    }
    let served = |addr: SocketAddr| proxy.counter("kvlb_proxy_requests_total", &[&format!("endpoint=\"{addr}\"")]);
    assert_eq!((served(idle), served(busy)), (10.0, 0.0), "every request avoids the replica the scores show busy:\n{}", proxy.metrics());
}
