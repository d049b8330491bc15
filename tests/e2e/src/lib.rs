//! The end-to-end harness: real processes, real sockets, real BPF programs
//! attached to a child cgroup each test creates for itself. Used by the tests
//! in `tests/` and by `cargo xtask demo` / `bench`.
//!
//! # Layout
//! - [`bins`]: finds the workspace's built binaries.
//! - [`cgroup`]: a child cgroup per test, removed on drop.
//! - [`endpoint`]: TCP servers that greet with their name and count connections.
//! - [`agent`]: `kvlb-agent` as a child process with its own pin directory.
//! - [`probe`]: the `kvlb-probe` client, run inside a test cgroup.
//! - [`proxy`]: `kvlb-proxy` as a child process beside an agent.
//! - [`provider`]: fake external providers (OpenAI, Anthropic) that validate
//!   what the egress sends.
//! - [`sim`]: `kvlb-sim` model servers as child processes, and load on them.
//! - [`envoy`]: a real Envoy gateway, asking an Endpoint Picker or not.
//! - [`chatload`]: closed-loop chat load with shared system prompts.
//! - [`metrics_stub`]: a metrics endpoint that misbehaves on purpose.
//! - [`kube`]: an in-memory Kubernetes API and the agent in Kubernetes mode.
//! - [`chart`]: the Helm chart, rendered, linted and validated.
//!
//! Tests may run in parallel: every cgroup, pin directory and port is unique
//! to its test.

pub mod agent;
pub mod bins;
pub mod cgroup;
pub mod chart;
pub mod chatload;
pub mod endpoint;
pub mod envoy;
pub mod kube;
pub mod metrics_stub;
pub mod probe;
pub mod provider;
pub mod proxy;
pub mod sim;

/// A name unique to this process and call, for cgroups and pin directories.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Polls `f` every 20 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(timeout: std::time::Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
