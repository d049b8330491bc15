//! Kubernetes mode end to end: the real agent with real programs in a test
//! cgroup, watching kmock (an in-memory Kubernetes API on 127.0.0.1) that the
//! test fills over HTTP; and the Helm chart, linted, rendered and validated
//! offline. Needs root and the test venv (`cargo xtask setup`).

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use kvlb_e2e::{
    agent::{AgentProcess, run_to_exit},
    cgroup::TestCgroup,
    chart,
    endpoint::EndpointServer,
    kube::{
        agent::{self, NAMESPACE, NODE},
        cluster::{Cluster, NS},
    },
    probe, unique_name, wait_for,
};
use serde_json::json;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The endpoint addresses the maps hold for pool `name` (none if the pool is
/// not in the maps).
fn endpoints(agent: &AgentProcess, name: &str) -> Option<BTreeSet<SocketAddr>> {
    let list = agent.list();
    let pool = list["pools"].as_array()?.iter().find(|p| p["name"] == name)?.clone();
    Some(pool["endpoints"].as_array()?.iter().filter_map(|e| e["address"].as_str()?.parse().ok()).collect())
}

/// Waits until pool `name` holds exactly `want`.
fn wait_endpoints(agent: &AgentProcess, name: &str, want: &[&str]) {
    let want: BTreeSet<SocketAddr> = want.iter().map(|a| addr(a)).collect();
    let got = wait_for(Duration::from_secs(15), || (endpoints(agent, name).as_ref() == Some(&want)).then_some(()));
    assert!(got.is_some(), "pool {name}: want endpoints {want:?}, maps hold {:?}\n{}", endpoints(agent, name), agent.log());
}

fn servers(list: &[(&str, &str)]) -> Vec<EndpointServer> {
    list.iter().map(|(name, at)| EndpointServer::start(name, addr(at))).collect()
}

#[test]
fn a_kvlbpool_fills_the_maps_with_ready_local_pods_one_endpoint_per_target_port() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-fill"));
    let _eps = servers(&[("a0", "127.91.0.1:9000"), ("a1", "127.91.0.1:9001"), ("b0", "127.91.0.2:9000"), ("b1", "127.91.0.2:9001")]);
    let remote = EndpointServer::start("remote", addr("127.91.0.3:9000"));
    cluster.service("llama", "127.91.1.1", 8000);
    cluster.inference_pool("llama", &[9000, 9001]);
    cluster.pod("a", NODE, "127.91.0.1", true);
    cluster.pod("b", NODE, "127.91.0.2", true);
    cluster.pod("c", "node-b", "127.91.0.3", true);
    cluster.kvlb_pool("llama", json!({}));

    let agent = agent::start(&cg, &cluster.api, &[]);
    wait_endpoints(&agent, "llama.models", &["127.91.0.1:9000", "127.91.0.1:9001", "127.91.0.2:9000", "127.91.0.2:9001"]);
    let list = agent.list();
    let pool = &list["pools"][0];
    assert_eq!((&pool["vips"], &pool["when_empty"]), (&json!(["127.91.1.1:8000"]), &json!("pass")), "{list}");

    let report = probe::run(Some(&cg), addr("127.91.1.1:8000"), 400, 0);
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let by: BTreeSet<String> = report.by_endpoint().into_keys().collect();
    assert_eq!(by, ["a0", "a1", "b0", "b1"].map(String::from).into(), "every local endpoint, and only those");
    assert_eq!(remote.accepted(), 0, "the pod on node-b must get nothing from this node");
    assert!(report.conns.iter().all(|c| c.peer.as_deref() == Some("127.91.1.1:8000")), "getpeername must show the ClusterIP");
}

#[test]
fn a_pod_that_turns_unready_or_is_deleted_or_terminates_leaves_the_pool_and_a_new_one_joins() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-pods"));
    let _eps = servers(&[("a", "127.92.0.1:9000"), ("b", "127.92.0.2:9000"), ("c", "127.92.0.3:9000")]);
    cluster.service("llama", "127.92.1.1", 8000);
    cluster.inference_pool("llama", &[9000]);
    cluster.pod("a", NODE, "127.92.0.1", true);
    cluster.pod("b", NODE, "127.92.0.2", true);
    cluster.kvlb_pool("llama", json!({}));
    let agent = agent::start(&cg, &cluster.api, &[]);
    wait_endpoints(&agent, "llama.models", &["127.92.0.1:9000", "127.92.0.2:9000"]);

    cluster.set_ready("a", false);
    wait_endpoints(&agent, "llama.models", &["127.92.0.2:9000"]);
    let report = probe::run(Some(&cg), addr("127.92.1.1:8000"), 50, 0);
    assert_eq!(report.by_endpoint().into_iter().collect::<Vec<_>>(), [("b".to_owned(), 50)], "{:?}", report.failures());

    cluster.pod("c", NODE, "127.92.0.3", true);
    wait_endpoints(&agent, "llama.models", &["127.92.0.2:9000", "127.92.0.3:9000"]);
    cluster.api.delete(&format!("/api/v1/namespaces/{NS}/pods/b"));
    wait_endpoints(&agent, "llama.models", &["127.92.0.3:9000"]);
    cluster.api.patch(&format!("/api/v1/namespaces/{NS}/pods/c"), &json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}}));
    wait_endpoints(&agent, "llama.models", &[]);
}

#[test]
fn without_a_ready_local_endpoint_connections_reach_the_service_and_a_local_pod_takes_over() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-fallback"));
    // What kube-proxy or Cilium would do with the ClusterIP, played by a
    // server on the ClusterIP itself.
    let service = EndpointServer::start("cluster", addr("127.93.1.1:8000"));
    let _eps = servers(&[("remote", "127.93.0.9:9000"), ("local", "127.93.0.1:9000")]);
    cluster.service("llama", "127.93.1.1", 8000);
    cluster.inference_pool("llama", &[9000]);
    cluster.pod("remote", "node-b", "127.93.0.9", true);
    cluster.kvlb_pool("llama", json!({}));
    let agent = agent::start(&cg, &cluster.api, &[]);
    wait_endpoints(&agent, "llama.models", &[]);

    let report = probe::run(Some(&cg), addr("127.93.1.1:8000"), 20, 0);
    assert_eq!(report.by_endpoint().into_iter().collect::<Vec<_>>(), [("cluster".to_owned(), 20)], "{:?}", report.failures());
    assert_eq!(service.accepted(), 20);

    cluster.pod("local", NODE, "127.93.0.1", true);
    wait_endpoints(&agent, "llama.models", &["127.93.0.1:9000"]);
    let report = probe::run(Some(&cg), addr("127.93.1.1:8000"), 20, 0);
    assert_eq!(report.by_endpoint().into_iter().collect::<Vec<_>>(), [("local".to_owned(), 20)], "{:?}", report.failures());
}

#[test]
fn deleting_the_kvlbpool_or_its_inference_pool_clears_the_maps() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-delete"));
    let _ep = EndpointServer::start("a", addr("127.94.0.1:9000"));
    cluster.service("llama", "127.94.1.1", 8000);
    cluster.inference_pool("llama", &[9000]);
    cluster.pod("a", NODE, "127.94.0.1", true);
    cluster.kvlb_pool("llama", json!({}));
    let agent = agent::start(&cg, &cluster.api, &[]);
    wait_endpoints(&agent, "llama.models", &["127.94.0.1:9000"]);

    let no_pools = || wait_for(Duration::from_secs(15), || agent.list()["pools"].as_array().is_some_and(|p| p.is_empty()).then_some(()));
    cluster.api.delete(&format!("/apis/kvlb.dev/v1alpha1/namespaces/{NS}/kvlbpools/llama"));
    assert!(no_pools().is_some(), "KvlbPool deleted, maps still hold {}", agent.list());

    cluster.kvlb_pool("llama", json!({}));
    wait_endpoints(&agent, "llama.models", &["127.94.0.1:9000"]);
    cluster.api.delete(&format!("/apis/inference.networking.k8s.io/v1/namespaces/{NS}/inferencepools/llama"));
    assert!(no_pools().is_some(), "InferencePool deleted, maps still hold {}", agent.list());
}

#[test]
fn kvlbpool_status_says_accepted_and_resolved_refs_and_objectives_reach_the_state_file() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-status"));
    cluster.service("llama", "127.95.1.1", 8000);
    cluster.service("other", "127.95.1.2", 8000);
    cluster.inference_pool("llama", &[9000]);
    cluster.kvlb_pool("llama", json!({}));
    cluster.kvlb_pool("bad", json!({"service": {"name": "other", "port": 8000}, "scoring": {"saturationKv": 2.0}}));
    cluster.kvlb_pool("orphan", json!({"poolRef": {"name": "missing"}}));
    cluster.objective("premium", "llama", 3);
    let agent = agent::start(&cg, &cluster.api, &[]);

    let llama = cluster.wait_condition("llama", "Accepted", "True");
    assert_eq!(llama["status"]["observedGeneration"], 4, "{llama}");
    assert_eq!(llama["status"]["vip"], "127.95.1.1:8000");
    assert_eq!(Cluster::condition(&llama, "ResolvedRefs")["status"], "True", "{llama}");

    let bad = cluster.wait_condition("bad", "Accepted", "False");
    let accepted = Cluster::condition(&bad, "Accepted");
    assert_eq!(accepted["reason"], "InvalidField", "{bad}");
    assert!(accepted["message"].as_str().unwrap().starts_with("spec.scoring.saturationKv:"), "{accepted}");
    assert_eq!(accepted["observedGeneration"], 4);

    let orphan = cluster.wait_condition("orphan", "ResolvedRefs", "False");
    let resolved = Cluster::condition(&orphan, "ResolvedRefs");
    assert_eq!(resolved["reason"], "InferencePoolNotFound", "{orphan}");
    assert!(resolved["message"].as_str().unwrap().starts_with("spec.poolRef.name:"), "{resolved}");

    let lease = cluster.api.get(&format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/kvlb-status-writer")).expect("the status Lease");
    assert_eq!(lease["spec"]["holderIdentity"], NODE, "{lease}");

    // Fixed: Accepted turns True at the new generation.
    cluster.api.patch(&format!("/apis/kvlb.dev/v1alpha1/namespaces/{NS}/kvlbpools/bad"), &json!({"metadata": {"generation": 5}, "spec": {"scoring": {"saturationKv": 0.5}}}));
    let fixed = cluster.wait_condition("bad", "Accepted", "True");
    assert_eq!(fixed["status"]["observedGeneration"], 5, "{fixed}");

    // GIE's InferenceObjective is served, llm-d's is not (no CRD): the agent
    // runs on, and the priority reaches the proxy's state file.
    let state = wait_for(Duration::from_secs(15), || {
        let text = std::fs::read_to_string(agent.kube_state_file()).ok()?;
        let state: serde_json::Value = serde_json::from_str(&text).ok()?;
        (state["objectives"].as_array()?.len() == 1).then_some(state)
    })
    .unwrap_or_else(|| panic!("no objective in {}:\n{}", agent.kube_state_file().display(), agent.log()));
    assert_eq!(
        state["objectives"][0],
        json!({"namespace": NS, "name": "premium", "group": "inference.networking.x-k8s.io", "inference_pool": "models/llama", "pools": ["bad.models", "llama.models"], "priority": 3})
    );
    assert!(agent.log().contains("cannot watch inferenceobjectives.llm-d.ai"), "{}", agent.log());
}

#[test]
fn sigterm_keeps_routing_in_a_rolling_update_and_detaches_once_the_daemonset_is_gone() {
    let cluster = Cluster::start();
    let cg = TestCgroup::new(&unique_name("kvlb-k8s-lifecycle"));
    let _ep = EndpointServer::start("local", addr("127.96.0.1:9000"));
    let service = EndpointServer::start("cluster", addr("127.96.1.1:8000"));
    cluster.service("llama", "127.96.1.1", 8000);
    cluster.inference_pool("llama", &[9000]);
    cluster.pod("a", NODE, "127.96.0.1", true);
    cluster.kvlb_pool("llama", json!({}));
    cluster.daemonset("kvlb");
    let mut agent = agent::start(&cg, &cluster.api, &["--daemonset", "kvlb"]);
    wait_endpoints(&agent, "llama.models", &["127.96.0.1:9000"]);

    // Rolling update: the pod goes, its programs and maps stay.
    assert!(agent.terminate().success(), "{}", agent.log());
    assert!(agent.pin_dir.exists(), "pins removed although the DaemonSet exists:\n{}", agent.log());
    let report = probe::run(Some(&cg), addr("127.96.1.1:8000"), 20, 0);
    assert_eq!(report.by_endpoint().into_iter().collect::<Vec<_>>(), [("local".to_owned(), 20)], "routing must continue without an agent");
    agent.spawn();
    wait_endpoints(&agent, "llama.models", &["127.96.0.1:9000"]);

    // helm uninstall: the DaemonSet is gone before its pods get SIGTERM.
    cluster.api.delete(&format!("/apis/apps/v1/namespaces/{NAMESPACE}/daemonsets/kvlb"));
    assert!(agent.terminate().success(), "{}", agent.log());
    assert!(!agent.pin_dir.exists(), "pins left after uninstall:\n{}", agent.log());
    assert!(!agent.state_file().exists() && !agent.kube_state_file().exists(), "state files left after uninstall");
    let report = probe::run(Some(&cg), addr("127.96.1.1:8000"), 5, 0);
    assert_eq!(report.by_endpoint().into_iter().collect::<Vec<_>>(), [("cluster".to_owned(), 5)], "nothing may rewrite the VIP any more");
    assert_eq!(service.accepted(), 5);
}

#[test]
fn kubernetes_mode_without_a_node_name_is_refused_naming_the_flag() {
    let out = run_to_exit(&["run", "--kubernetes"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--node-name"), "{stderr}");
    let out = run_to_exit(&["run"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--pools"), "{stderr}");
}

// The Helm chart.

fn of_kind<'a>(docs: &'a [serde_json::Value], kind: &str) -> Vec<&'a serde_json::Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn container<'a>(ds: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    ds["spec"]["template"]["spec"]["containers"].as_array()?.iter().find(|c| c["name"] == name)
}

/// Custom values: no proxy, every optional object on, other nodes and cgroup.
const CUSTOM: &[&str] = &[
    "--set", "proxy.enabled=false",
    "--set", "metrics.serviceMonitor.enabled=true",
    "--set", "dashboard.enabled=true",
    "--set", "rbac.secrets[0].namespace=models",
    "--set", "rbac.secrets[0].names={openai-key,anthropic-key}",
    "--set", "agent.cgroup=kubepods",
    "--set", "agent.extraCapabilities={SYS_ADMIN}",
    // Helm merges maps: a default key goes away only when set to null.
    "--set-json", "nodeSelector={\"nvidia.com/gpu.present\":null,\"accelerator\":\"h100\"}",
];

#[test]
fn chart_passes_helm_lint_strict() {
    let dir = chart::dir();
    for extra in [&[][..], CUSTOM] {
        let mut args = vec!["lint", "--strict", dir.to_str().unwrap()];
        args.extend(extra);
        let out = chart::helm(&args);
        assert!(out.status.success(), "helm lint --strict {extra:?}:\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn chart_renders_default_and_custom_values_valid_against_kubernetes_schemas() {
    for (name, args) in [("default", &[][..]), ("custom", CUSTOM)] {
        let mut all = vec!["--include-crds"];
        all.extend(args);
        let yaml = chart::render(&all);
        for version in ["1.30.0", "1.37.0"] {
            let out = chart::validate(&yaml, version);
            let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert!(out.status.success() && !report.contains("ERROR"), "{name} values against {version}:\n{report}");
            assert!(report.contains("passed for resource daemonset/kvlb"), "{report}");
            assert!(report.contains("passed for resource customresourcedefinition/kvlbpools.kvlb.dev"), "{report}");
        }
    }
    let custom = chart::documents(&chart::render(CUSTOM));
    let ds = of_kind(&custom, "DaemonSet")[0];
    assert!(container(ds, "proxy").is_none(), "proxy.enabled=false");
    assert_eq!(ds["spec"]["template"]["spec"]["nodeSelector"], json!({"accelerator": "h100"}));
    let agent = container(ds, "agent").unwrap();
    let args: Vec<&str> = agent["args"].as_array().unwrap().iter().filter_map(|a| a.as_str()).collect();
    assert!(args.windows(2).any(|w| w == ["--cgroup", "/host/cgroup/kubepods"]), "{args:?}");
    assert_eq!(agent["securityContext"]["capabilities"]["add"], json!(["BPF", "NET_ADMIN", "PERFMON", "SYS_ADMIN"]));
    let monitor = of_kind(&custom, "ServiceMonitor")[0];
    let service = of_kind(&custom, "Service")[0];
    let selects = monitor["spec"]["selector"]["matchLabels"].as_object().unwrap();
    assert!(selects.iter().all(|(k, v)| &service["metadata"]["labels"][k] == v), "the ServiceMonitor must select the metrics Service");
    let dashboard = of_kind(&custom, "ConfigMap")[0]["data"]["kvlb-dashboard.json"].as_str().unwrap();
    let shipped = std::fs::read_to_string(chart::dir().join("../grafana/kvlb-dashboard.json")).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(dashboard).unwrap(), serde_json::from_str::<serde_json::Value>(&shipped).unwrap());
}

#[test]
fn chart_runs_the_agent_with_capabilities_not_privileged_and_the_proxy_with_none() {
    let docs = chart::documents(&chart::render(&[]));
    let ds = of_kind(&docs, "DaemonSet")[0];
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], json!({"nvidia.com/gpu.present": "true"}));
    assert_eq!(pod["tolerations"], json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]));
    assert_eq!(ds["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}));
    let agent = container(ds, "agent").unwrap();
    let sc = &agent["securityContext"];
    assert_eq!((&sc["privileged"], &sc["capabilities"]["drop"]), (&json!(false), &json!(["ALL"])));
    assert_eq!(sc["capabilities"]["add"], json!(["BPF", "NET_ADMIN", "PERFMON"]));
    let env: Vec<&str> = agent["env"].as_array().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    assert!(env.contains(&"NODE_NAME") && env.contains(&"POD_NAMESPACE") && env.contains(&"KVLB_DAEMONSET"), "{env:?}");

    let proxy = container(ds, "proxy").expect("the proxy is on by default");
    assert_eq!(proxy["args"], json!(["--listen", "127.0.0.1:15000", "--pin-dir", "/sys/fs/bpf/kvlb", "--state-file", "/run/kvlb/kvlb.json"]));
    let sc = &proxy["securityContext"];
    assert_eq!((&sc["privileged"], &sc["allowPrivilegeEscalation"], &sc["readOnlyRootFilesystem"]), (&json!(false), &json!(false), &json!(true)));
    assert_eq!((&sc["capabilities"]["drop"], &sc["capabilities"]["add"]), (&json!(["ALL"]), &serde_json::Value::Null), "the proxy holds no capability");
    assert!(proxy["volumeMounts"].as_array().unwrap().iter().all(|m| m["readOnly"] == true), "the proxy mounts everything read-only: {}", proxy["volumeMounts"]);

    let host_paths: BTreeSet<&str> = pod["volumes"].as_array().unwrap().iter().filter_map(|v| v["hostPath"]["path"].as_str()).collect();
    assert_eq!(host_paths, BTreeSet::from(["/sys/fs/bpf", "/sys/fs/cgroup"]));
}

/// Every permission the chart may grant: (API group, resource, verb, the
/// object names it is narrowed to, if it must be).
const ALLOWED: &[(&str, &str, &str, Option<&[&str]>)] = &[
    ("", "pods", "get", None),
    ("", "pods", "list", None),
    ("", "pods", "watch", None),
    ("", "services", "get", None),
    ("", "services", "list", None),
    ("", "services", "watch", None),
    ("inference.networking.k8s.io", "inferencepools", "get", None),
    ("inference.networking.k8s.io", "inferencepools", "list", None),
    ("inference.networking.k8s.io", "inferencepools", "watch", None),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "get", None),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "list", None),
    ("inference.networking.x-k8s.io", "inferenceobjectives", "watch", None),
    ("llm-d.ai", "inferenceobjectives", "get", None),
    ("llm-d.ai", "inferenceobjectives", "list", None),
    ("llm-d.ai", "inferenceobjectives", "watch", None),
    ("kvlb.dev", "kvlbpools", "get", None),
    ("kvlb.dev", "kvlbpools", "list", None),
    ("kvlb.dev", "kvlbpools", "watch", None),
    ("kvlb.dev", "kvlbpools/status", "patch", None),
    ("coordination.k8s.io", "leases", "create", None),
    ("coordination.k8s.io", "leases", "get", Some(&["kvlb-status-writer"])),
    ("coordination.k8s.io", "leases", "patch", Some(&["kvlb-status-writer"])),
    ("apps", "daemonsets", "get", Some(&["kvlb"])),
    ("", "secrets", "get", Some(&["openai-key", "anthropic-key"])),
];

#[test]
fn chart_rbac_grants_nothing_beyond_the_listed_permissions() {
    let docs = chart::documents(&chart::render(CUSTOM));
    let mut granted = BTreeSet::new();
    for role in of_kind(&docs, "ClusterRole").into_iter().chain(of_kind(&docs, "Role")) {
        for rule in role["rules"].as_array().unwrap() {
            let list = |k: &str| rule[k].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>()).unwrap_or_default();
            let names = list("resourceNames");
            assert!(list("nonResourceURLs").is_empty(), "non-resource URLs granted: {rule}");
            for group in list("apiGroups") {
                for resource in list("resources") {
                    for verb in list("verbs") {
                        let allowed = ALLOWED.iter().find(|(g, r, v, _)| (*g, *r, *v) == (group.as_str(), resource.as_str(), verb.as_str()));
                        let Some((_, _, _, narrowed)) = allowed else { panic!("{} grants {verb} on {group}/{resource}: not in the allowed list", role["metadata"]["name"]) };
                        if let Some(only) = narrowed {
                            assert!(!names.is_empty() && names.iter().all(|n| only.contains(&n.as_str())), "{verb} {group}/{resource} must be narrowed to {only:?}, is {names:?}");
                        }
                        granted.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    let missing: Vec<_> = ALLOWED.iter().filter(|(g, r, v, _)| !granted.contains(&(g.to_string(), r.to_string(), v.to_string()))).collect();
    assert!(missing.is_empty(), "the agent needs these, the chart does not grant them: {missing:?}");
    let account = of_kind(&docs, "ServiceAccount")[0]["metadata"]["name"].clone();
    for binding in of_kind(&docs, "ClusterRoleBinding").into_iter().chain(of_kind(&docs, "RoleBinding")) {
        assert_eq!(binding["subjects"], json!([{"kind": "ServiceAccount", "name": account, "namespace": chart::NAMESPACE}]), "{binding}");
    }
}
