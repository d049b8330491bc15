//! Real third-party clients against the simulator: the official OpenAI Python
//! SDK, and the `sglang-router` PyPI package fronting three simulators. Both
//! come from the project venv (`cargo xtask setup`); a missing venv fails.

mod common;

use std::{
    net::TcpListener,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use common::*;
use kvlb_e2e::bins;
use serde_json::Value;
use tokio::process::{Child, Command};

/// [`bins::loopback_command`], killed with the test.
fn loopback_command(program: &Path) -> Command {
    let mut command = Command::from(bins::loopback_command(program));
    command.kill_on_drop(true);
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_python_sdk_streams_and_reads_usage() {
    let python = venv_python();
    let sim = replica(config("h100-8b", 20.0)).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/openai_stream.py");
    let output = loopback_command(&python)
        .arg(script)
        .arg(url(&sim))
        .arg(MODEL)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("SDK finishes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openai SDK script failed:\n{stderr}"
    );
    let result: Value = serde_json::from_slice(&output.stdout).expect("one JSON line");
    assert_eq!(result["completion_tokens"], 12);
    assert_eq!(result["finish_reason"], "length");
    assert_eq!(result["chunks"], 13, "12 token chunks and the usage chunk");
    assert!(result["prompt_tokens"].as_u64().unwrap() > 5);
    assert!(result["cached_tokens"].is_u64());
    assert!(result["text"].as_str().unwrap().len() >= 12);
}

/// The router process; killed on drop.
struct Router {
    child: Child,
    url: String,
}

impl Router {
    fn start(python: &Path, workers: &[String]) -> Self {
        let port = free_port();
        let child = loopback_command(python)
            .args(["-m", "sglang_router.launch_router", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args([
                "--prometheus-host",
                "127.0.0.1",
                "--prometheus-port",
                &free_port().to_string(),
            ])
            .args([
                "--policy",
                "cache_aware",
                "--log-level",
                "warn",
                "--worker-urls",
            ])
            .args(workers)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("sglang-router starts");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Sends chats until the router has its workers and answers 200.
    async fn wait_ready(&mut self, client: &reqwest::Client) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sglang-router exited early: {status}");
            }
            let attempt = client
                .post(format!("{}/v1/chat/completions", self.url))
                .json(&chat_body("Are you ready?", 3, false))
                .send()
                .await;
            if let Ok(response) = attempt {
                let status = response.status();
                if status == 200 {
                    return response.json().await.unwrap();
                }
                // 5xx while the router discovers its workers; a 4xx is a bug.
                assert!(
                    !status.is_client_error(),
                    "router answered {status}: {}",
                    response.text().await.unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sglang-router never served a request"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sglang_router_fronts_three_simulators() {
    let python = venv_python();
    let fleet = SimProcess::start(
        &[
            "fleet",
            "--replicas",
            "3",
            "--port",
            "0",
            "--consecutive-ports",
            "--time-scale",
            "20",
            "--model",
            MODEL,
        ],
        3,
    );
    let workers = fleet.urls();
    let mut router = Router::start(&python, &workers);
    let client = client();
    let first = router.wait_ready(&client).await;
    assert_eq!(first["usage"]["completion_tokens"], 3);
    assert_eq!(first["model"], MODEL);

    for i in 0..6 {
        let body = chat_body(&format!("{} question {i}", text(30, i)), 4, i % 2 == 0);
        let response = post(
            &client,
            &format!("{}/v1/chat/completions", router.url),
            &body,
        )
        .await;
        assert_eq!(response.status(), 200);
        if i % 2 == 0 {
            let data = sse_data(response).await;
            assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
            let usage: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
            assert_eq!(usage["usage"]["completion_tokens"], 4);
        } else {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["usage"]["completion_tokens"], 4);
        }
    }
    let mut served = 0;
    for worker in &workers {
        let state: Value = client
            .get(format!("{worker}/debug/state?hashes=false"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        served += state["stats"]["finished_length"].as_u64().unwrap();
    }
    assert!(
        served >= 7,
        "the simulators served the routed requests: {served}"
    );
}
