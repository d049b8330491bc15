//! `kvlb-agent run --kubernetes` as a child process against a [`KubeApi`],
//! attached to a test cgroup with its own pin directory; on drop it is
//! killed and everything it pinned is detached.

use std::{
    fs::File,
    path::PathBuf,
    process::{Child, Command, ExitStatus},
    time::Duration,
};

use super::api::KubeApi;
use crate::{agent::detach, bins, cgroup::TestCgroup, unique_name, wait_for};

/// The node the test agents run on.
pub const NODE: &str = "node-a";
/// The namespace the test agents run in (status Lease, DaemonSet).
pub const NAMESPACE: &str = "kvlb-system";

/// An agent in Kubernetes mode.
pub struct KubeAgent {
    child: Option<Child>,
    starts: usize,
    /// The bpffs directory it pins into.
    pub pin_dir: PathBuf,
    cgroup: PathBuf,
    kubeconfig: PathBuf,
    extra: Vec<String>,
    dir: tempfile::TempDir,
}

impl KubeAgent {
    /// Starts an agent on `cgroup` watching `api` as node [`NODE`], with
    /// `extra` flags, and waits until it has applied its first table.
    pub fn start(cgroup: &TestCgroup, api: &KubeApi, extra: &[&str]) -> Self {
        let mut agent = Self {
            child: None,
            starts: 0,
            pin_dir: PathBuf::from("/sys/fs/bpf").join(unique_name("kvlb-k8s")),
            cgroup: cgroup.path().to_path_buf(),
            kubeconfig: api.kubeconfig(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir: tempfile::tempdir().expect("tempdir"),
        };
        agent.spawn();
        agent
    }

    /// Starts the agent process (again, on the same pins) and waits until it
    /// reports ready.
    pub fn spawn(&mut self) {
        let log = File::options().create(true).append(true).open(self.dir.path().join("agent.log")).expect("log");
        let child = Command::new(bins::path("kvlb-agent"))
            .args(["run", "--kubernetes", "--node-name", NODE, "--namespace", NAMESPACE])
            .args(["--watch-interval", "100ms", "--metrics-addr", "127.0.0.1:0", "--cgroup"])
            .arg(&self.cgroup)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(&self.extra)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(log)
            .spawn()
            .expect("spawn kvlb-agent");
        self.child = Some(child);
        self.starts += 1;
        let starts = self.starts;
        let ready = wait_for(Duration::from_secs(30), || {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("kvlb-agent exited with {status}:\n{}", self.log());
            }
            (self.log().matches("kvlb-agent ready").count() >= starts).then_some(())
        });
        assert!(ready.is_some(), "kvlb-agent did not become ready:\n{}", self.log());
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// `kvlb list --json` for this agent's pins.
    pub fn list(&self) -> serde_json::Value {
        let out = Command::new(bins::path("kvlb")).args(["list", "--json", "--pin-dir"]).arg(&self.pin_dir).output().expect("run kvlb");
        assert!(out.status.success(), "kvlb list failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("kvlb list --json output")
    }

    /// The state file the `kvlb` CLI reads.
    pub fn state_file(&self) -> PathBuf {
        PathBuf::from("/run/kvlb").join(format!("{}.json", self.pin_name()))
    }

    /// The Kubernetes state file for the proxy.
    pub fn kube_state_file(&self) -> PathBuf {
        PathBuf::from("/run/kvlb").join(format!("{}.kubernetes.json", self.pin_name()))
    }

    fn pin_name(&self) -> String {
        self.pin_dir.file_name().expect("pin dir name").to_string_lossy().into_owned()
    }

    /// Sends SIGTERM and waits for the agent to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
        assert!(status.success(), "kill -TERM failed");
        child.wait().expect("wait for kvlb-agent")
    }
}

impl Drop for KubeAgent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = detach(&self.pin_dir);
    }
}
