//! Snapshot → pool table, verdicts and Kubernetes state.

use std::net::SocketAddr;

use serde_json::json;

use super::fixtures::{NODE, inference_pool, kvlb_pool, objective, pod, pod_with, service, spec, world};
use crate::{
    k8s::{
        translate::{Translation, translate},
        verdict::Verdict,
    },
    scrape::Engine,
    table::{Mode, WhenEmpty},
};

fn addrs(t: &Translation) -> Vec<SocketAddr> {
    t.table.pools.iter().flat_map(|p| p.endpoints.iter().map(|e| e.address)).collect()
}

fn verdict<'a>(t: &'a Translation, name: &str) -> &'a Verdict {
    t.verdicts.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("no verdict for {name}: {:?}", t.verdicts))
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn ready_local_pods_become_endpoints_one_per_target_port_and_others_are_ignored() {
    let mut snap = world();
    snap.inference_pools = vec![inference_pool("models", "llama", &[8000, 8001])];
    let ready = pod("models", "a", "llama", NODE, &["127.0.0.1"], true);
    snap.pods = vec![
        ready.clone(),
        pod("models", "b", "llama", NODE, &["127.0.0.2"], true),
        pod("models", "elsewhere", "llama", "node-b", &["127.0.1.1"], true),
        pod("models", "unready", "llama", NODE, &["127.0.0.3"], false),
        pod_with(&pod("models", "leaving", "llama", NODE, &["127.0.0.4"], true), json!({"deletionTimestamp": "2026-01-01T00:01:00Z"})),
        pod("models", "other-app", "mistral", NODE, &["127.0.0.5"], true),
        pod("other-ns", "same-label", "llama", NODE, &["127.0.0.6"], true),
    ];
    let t = translate(&snap);
    assert_eq!(addrs(&t), [addr("127.0.0.1:8000"), addr("127.0.0.1:8001"), addr("127.0.0.2:8000"), addr("127.0.0.2:8001")]);
    let pool = &t.table.pools[0];
    assert_eq!((pool.name.as_str(), pool.vip, pool.mode, pool.when_empty), ("llama.models", addr("127.96.0.10:8000"), Mode::Connect, WhenEmpty::Pass));
    assert!(t.verdicts[0].in_service(), "{:?}", t.verdicts);
    assert!(t.table.validate().is_ok());
}

#[test]
fn a_pool_without_a_local_endpoint_stays_in_the_table_and_passes_to_the_service() {
    let mut snap = world();
    snap.pods = vec![pod("models", "elsewhere", "llama", "node-b", &["127.0.1.1"], true)];
    let t = translate(&snap);
    assert_eq!(t.table.pools.len(), 1);
    assert!(t.table.pools[0].endpoints.is_empty());
    assert_eq!(t.table.pools[0].when_empty, WhenEmpty::Pass, "no local endpoint: the cluster's Service handling takes the connection");
}

#[test]
fn the_service_port_resolves_by_number_or_name_and_dual_stack_pods_use_the_vip_family() {
    let mut snap = world();
    snap.services = vec![service("models", "llama", "fd00::10", &[("metrics", 9090), ("http", 8000)])];
    snap.kvlb_pools = vec![kvlb_pool("models", "llama", 1, json!({"poolRef": {"name": "llama"}, "service": {"name": "llama", "port": "http"}}))];
    snap.pods = vec![pod("models", "a", "llama", NODE, &["127.0.0.1", "fd00::1"], true)];
    let t = translate(&snap);
    assert_eq!(t.table.pools[0].vip, addr("[fd00::10]:8000"));
    assert_eq!(addrs(&t), [addr("[fd00::1]:8000")]);
}

#[test]
fn unresolved_references_make_resolved_refs_false_with_a_reason_and_keep_the_pool_out() {
    let cases = [
        (json!({"poolRef": {"name": "nope"}, "service": {"name": "llama", "port": 8000}}), "InferencePoolNotFound", "spec.poolRef.name"),
        (json!({"poolRef": {"name": "llama"}, "service": {"name": "nope", "port": 8000}}), "ServiceNotFound", "spec.service.name"),
        (json!({"poolRef": {"name": "llama"}, "service": {"name": "llama", "port": 9999}}), "ServicePortNotFound", "spec.service.port"),
        (json!({"poolRef": {"name": "llama"}, "service": {"name": "headless", "port": 8000}}), "ServiceHasNoClusterIP", "spec.service.name"),
    ];
    for (spec, reason, field) in cases {
        let mut snap = world();
        snap.services.push(service("models", "headless", "None", &[("http", 8000)]));
        snap.kvlb_pools = vec![kvlb_pool("models", "llama", 1, spec)];
        let t = translate(&snap);
        let v = verdict(&t, "llama");
        let problem = v.resolved.as_ref().expect_err("ResolvedRefs must be False");
        assert_eq!(problem.reason, reason);
        assert!(problem.message.starts_with(field), "{reason}: {}", problem.message);
        assert!(t.table.pools.is_empty());
    }
}

#[test]
fn an_invalid_spec_makes_accepted_false_naming_the_kvlbpool_field() {
    let cases = [
        (json!({"scoring": {"saturationKv": 2.0}}), "spec.scoring.saturationKv"),
        (json!({"scoring": {"stalenessMs": 0}}), "spec.scoring.stalenessMs"),
        (json!({"splitWeight": 0}), "spec.splitWeight"),
        (json!({"metrics": {"path": "metrics"}}), "spec.metrics.path"),
        (json!({"models": [""]}), "spec.models[0]"),
        (json!({"poolRef": {"name": "llama", "group": "inference.networking.x-k8s.io"}}), "spec.poolRef.group"),
        (json!({"egress": [
            {"name": "a", "provider": "openai", "secretRef": {"name": "s", "key": "k"}},
            {"name": "a", "provider": "anthropic", "secretRef": {"name": "s", "key": "k"}}
        ]}), "spec.egress[1].name"),
    ];
    for (overlay, field) in cases {
        let mut body = spec();
        for (k, v) in overlay.as_object().unwrap() {
            body[k] = v.clone();
        }
        let mut snap = world();
        snap.kvlb_pools = vec![kvlb_pool("models", "llama", 1, body)];
        let t = translate(&snap);
        let problem = verdict(&t, "llama").accepted.as_ref().expect_err("Accepted must be False");
        assert_eq!(problem.reason, "InvalidField");
        assert!(problem.message.starts_with(field), "want {field}: {}", problem.message);
        assert!(t.table.pools.is_empty(), "an invalid pool must stay out of the table");
    }
}

#[test]
fn the_older_kvlbpool_keeps_a_contested_vip() {
    let mut snap = world();
    snap.kvlb_pools = vec![kvlb_pool("models", "younger", 9, spec()), kvlb_pool("models", "older", 1, spec())];
    let t = translate(&snap);
    assert!(verdict(&t, "older").in_service());
    let problem = verdict(&t, "younger").accepted.as_ref().expect_err("the younger one loses");
    assert_eq!(problem.reason, "VipConflict");
    assert!(problem.message.contains("models/older"), "{}", problem.message);
    assert_eq!(t.table.pools.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["older.models"]);
}

#[test]
fn endpoints_take_the_pod_engine_label_unless_the_spec_names_an_engine() {
    let mut snap = world();
    let labelled = pod_with(&pod("models", "a", "llama", NODE, &["127.0.0.1"], true), json!({"labels": {"inference.networking.k8s.io/engine-type": "sglang"}}));
    snap.pods = vec![labelled];
    assert_eq!(translate(&snap).table.pools[0].endpoints[0].engine, Some(Engine::Sglang));
    let mut body = spec();
    body["metrics"] = json!({"engine": "trtllm"});
    snap.kvlb_pools = vec![kvlb_pool("models", "llama", 1, body)];
    let t = translate(&snap);
    assert_eq!(t.table.pools[0].endpoints[0].engine, None);
    assert_eq!(t.table.pools[0].scrape.as_ref().map(|s| s.engine), Some(Engine::Trtllm));
}

#[test]
fn objectives_from_both_groups_become_priorities_and_llm_d_wins_a_clash() {
    let mut snap = world();
    snap.objectives = [
        vec![
            objective("inference.networking.x-k8s.io", "models", "premium", "llama", Some(1)),
            objective("inference.networking.x-k8s.io", "models", "batch", "llama", None),
        ],
        vec![objective("llm-d.ai", "models", "premium", "llama", Some(5))],
    ];
    let t = translate(&snap);
    let got: Vec<(&str, &str, i32, Vec<String>)> =
        t.state.objectives.iter().map(|o| (o.name.as_str(), o.group.as_str(), o.priority, o.pools.clone())).collect();
    assert_eq!(
        got,
        [("batch", "inference.networking.x-k8s.io", 0, vec!["llama.models".to_owned()]), ("premium", "llm-d.ai", 5, vec!["llama.models".to_owned()])]
    );
    assert_eq!(t.state.pools[0].app_protocol, "http");
    assert_eq!(t.state.pools[0].inference_pool, "models/llama");
}

#[test]
fn an_unsupported_inference_pool_is_reported_on_the_kvlbpool() {
    let mut snap = world();
    snap.inference_pools = vec![inference_pool("models", "llama", &[8000, 8000])];
    let t = translate(&snap);
    let problem = verdict(&t, "llama").resolved.as_ref().expect_err("duplicate target ports");
    assert_eq!(problem.reason, "UnsupportedInferencePool");
    assert!(problem.message.contains("targetPorts[1].number"), "{}", problem.message);
}
