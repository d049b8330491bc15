//! The `kvlb-sim` binary: fleet layout, announcement lines, profiles.

mod common;

use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_serves_heterogeneous_replicas_on_distinct_addresses() {
    let fleet = SimProcess::start(
        &[
            "fleet",
            "--replicas",
            "3",
            "--base-addr",
            "127.0.1.1",
            "--port",
            "0",
            "--profile",
            "h100-8b,h100-8b,l4-8b",
            "--time-scale",
            "50",
            "--model",
            MODEL,
        ],
        3,
    );
    let urls = fleet.urls();
    for (i, url) in urls.iter().enumerate() {
        assert!(
            url.starts_with(&format!("http://127.0.1.{}:", i + 1)),
            "{url}"
        );
        assert_eq!(fleet.replicas[i]["replica"], i);
        assert_eq!(fleet.replicas[i]["model"], MODEL);
    }
    let profiles: Vec<&str> = fleet
        .replicas
        .iter()
        .map(|r| r["profile"].as_str().unwrap())
        .collect();
    assert_eq!(profiles, ["h100-8b", "h100-8b", "l4-8b"]);

    let client = client();
    let mut capacities = Vec::new();
    for url in &urls {
        let info: Value = client
            .get(format!("{url}/server_info"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        capacities.push(info["max_total_num_tokens"].as_u64().unwrap());
        let response = post(
            &client,
            &format!("{url}/v1/chat/completions"),
            &chat_body("hello", 2, false),
        )
        .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(capacities[0], capacities[1]);
    assert!(
        capacities[2] < capacities[0] / 10,
        "the L4 holds far less KV: {capacities:?}"
    );
}

#[test]
fn profiles_lists_every_profile_as_json() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_kvlb-sim"))
        .arg("profiles")
        .output()
        .unwrap();
    assert!(output.status.success());
    let profiles: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = profiles
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["h100-8b", "a100-8b", "l4-8b"]);
    assert!(
        profiles
            .iter()
            .all(|p| p["cost"]["weights_s"].as_f64().unwrap() > 0.0)
    );
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for args in [
        &["serve", "--profile", "tpu-9000"][..],
        &["fleet", "--replicas", "0"],
        &["fleet", "--replicas", "1", "--profile", "h100-8b,l4-8b"],
        &["serve", "--time-scale", "0"],
        &["serve", "--num-gpu-blocks", "0"],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_kvlb-sim"))
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
}
