//! `kvlb-agent` as a child process, with its own pin directory and pool file;
//! on drop it is killed and everything it pinned is detached.

use std::{
    fs::File,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    time::Duration,
};

use crate::{bins, cgroup::TestCgroup, unique_name, wait_for};

/// A running agent attached to a test cgroup.
pub struct AgentProcess {
    child: Option<Child>,
    starts: usize,
    /// The bpffs directory it pins into.
    pub pin_dir: PathBuf,
    cgroup: PathBuf,
    extra: Vec<String>,
    dir: tempfile::TempDir,
}

impl AgentProcess {
    /// Starts an agent on `cgroup` with `pools` (YAML) and waits until it has
    /// applied them.
    pub fn start(cgroup: &TestCgroup, pools: &str) -> Self {
        Self::start_with(cgroup, pools, &[])
    }

    /// Like [`AgentProcess::start`], with extra `kvlb-agent run` flags.
    pub fn start_with(cgroup: &TestCgroup, pools: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut agent = Self {
            child: None,
            starts: 0,
            pin_dir: PathBuf::from("/sys/fs/bpf").join(unique_name("kvlb-test")),
            cgroup: cgroup.path().to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            dir,
        };
        agent.write_pools(pools);
        agent.spawn();
        agent
    }

    /// The state file the agent writes (the proxy's routing table).
    pub fn state_file(&self) -> PathBuf {
        let name = self.pin_dir.file_name().expect("pin dir name").to_string_lossy().into_owned();
        PathBuf::from("/run/kvlb").join(format!("{name}.json"))
    }

    /// The pool file the agent follows.
    pub fn pools_file(&self) -> PathBuf {
        self.dir.path().join("pools.yaml")
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("agent.log")).unwrap_or_default()
    }

    /// Replaces the pool file atomically (the agent notices within its watch
    /// interval).
    pub fn write_pools(&self, pools: &str) {
        let tmp = self.dir.path().join("pools.yaml.tmp");
        std::fs::write(&tmp, pools).expect("write pools");
        std::fs::rename(&tmp, self.pools_file()).expect("replace pools");
    }

    /// Starts the agent process (again) and waits until it reports ready.
    pub fn spawn(&mut self) {
        let log = File::options().create(true).append(true).open(self.dir.path().join("agent.log")).expect("log");
        let child = Command::new(bins::path("kvlb-agent"))
            .args(["run", "--watch-interval", "100ms", "--metrics-addr", "127.0.0.1:0", "--pools"])
            .arg(self.pools_file())
            .arg("--cgroup")
            .arg(&self.cgroup)
            .arg("--pin-dir")
            .arg(&self.pin_dir)
            .args(&self.extra)
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

    /// The running agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("agent running").id()
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the agent.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.pid().to_string()).status().expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// The agent's `/status` JSON.
    pub fn status(&self) -> serde_json::Value {
        let url = format!("http://{}/status", self.metrics_addr());
        let body = ureq::get(&url).call().and_then(|r| r.into_body().read_to_string()).unwrap_or_else(|e| panic!("GET {url}: {e}"));
        serde_json::from_str(&body).expect("status JSON")
    }

    /// The agent's `/metrics` text.
    pub fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.metrics_addr());
        ureq::get(&url).call().and_then(|r| r.into_body().read_to_string()).unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// Kills the agent with SIGKILL (its pins stay).
    pub fn sigkill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Where this agent serves `/metrics` and `/status`.
    pub fn metrics_addr(&self) -> SocketAddr {
        let log = self.log();
        let marker = "metrics listening addr=";
        let at = log.rfind(marker).unwrap_or_else(|| panic!("no metrics address in the agent log:\n{log}"));
        let rest = &log[at + marker.len()..];
        rest.split_whitespace().next().and_then(|a| a.parse().ok()).expect("metrics address")
    }

    /// `kvlb list --json` for this agent's pins.
    pub fn list(&self) -> serde_json::Value {
        serde_json::from_str(&self.kvlb(&["list", "--json"])).expect("kvlb list --json output")
    }

    /// Connections the kernel has redirected to each endpoint of `pool` so
    /// far, by address (from `kvlb list --json`).
    pub fn connections(&self, pool: &str) -> std::collections::BTreeMap<SocketAddr, u64> {
        let list = self.list();
        let pools = list["pools"].as_array().expect("pools");
        pools
            .iter()
            .filter(|p| p["name"] == pool)
            .flat_map(|p| p["endpoints"].as_array().expect("endpoints"))
            .map(|e| (e["address"].as_str().and_then(|a| a.parse().ok()).expect("address"), e["connections"].as_u64().expect("count")))
            .collect()
    }

    /// Runs the `kvlb` CLI against this agent's pins and returns its output.
    pub fn kvlb(&self, args: &[&str]) -> String {
        let out = Command::new(bins::path("kvlb")).args(args).arg("--pin-dir").arg(&self.pin_dir).output().expect("run kvlb");
        assert!(out.status.success(), "kvlb {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.sigkill();
        let _ = detach(&self.pin_dir);
        let _ = std::fs::remove_file(self.state_file());
    }
}

/// Runs `kvlb-agent detach` for a pin directory.
pub fn detach(pin_dir: &Path) -> Output {
    Command::new(bins::path("kvlb-agent")).arg("detach").arg("--pin-dir").arg(pin_dir).output().expect("run kvlb-agent detach")
}

/// Runs `kvlb-agent` with `args` to completion (for bad-input tests).
pub fn run_to_exit(args: &[&str]) -> Output {
    Command::new(bins::path("kvlb-agent")).args(args).env("NO_COLOR", "1").output().expect("run kvlb-agent")
}

/// One pool for [`pools_yaml`].
pub struct Pool<'a> {
    /// Pool name.
    pub name: &'a str,
    /// Whether its endpoints are model servers to scrape (plain TCP endpoint
    /// servers have no metrics).
    pub scrape: bool,
    /// Its VIP.
    pub vip: std::net::SocketAddr,
    /// `refuse` or `pass`.
    pub when_empty: &'a str,
    /// `(address, weight, draining)` per endpoint.
    pub endpoints: Vec<(std::net::SocketAddr, u32, bool)>,
}

/// Writes a pool file.
pub fn pools_yaml(pools: &[Pool<'_>]) -> String {
    let mut s = String::from("pools:\n");
    for p in pools {
        s.push_str(&format!(
            "  - name: {}\n    vip: \"{}\"\n    when_empty: {}\n    scrape: {}\n    endpoints:\n",
            p.name, p.vip, p.when_empty, p.scrape
        ));
        if p.endpoints.is_empty() {
            s.truncate(s.len() - "    endpoints:\n".len());
        }
        for (addr, weight, draining) in &p.endpoints {
            s.push_str(&format!("      - address: \"{addr}\"\n        weight: {weight}\n        draining: {draining}\n"));
        }
    }
    s
}
