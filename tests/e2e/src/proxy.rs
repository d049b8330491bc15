//! `kvlb-proxy` as a child process, reading an agent's state file and maps;
//! killed on drop.

use std::{
    fs::File,
    net::SocketAddr,
    process::{Child, Command},
    time::Duration,
};

use crate::{agent::AgentProcess, bins, wait_for};

/// A running proxy.
pub struct ProxyProcess {
    child: Child,
    /// Where clients reach it (the agent's `--proxy-addr`).
    pub addr: SocketAddr,
    log: tempfile::NamedTempFile,
}

impl ProxyProcess {
    /// Starts a proxy on `addr` for `agent` (which must run with
    /// `--proxy-addr addr`), with extra flags, and waits until it listens.
    pub fn start(agent: &AgentProcess, addr: SocketAddr, extra: &[&str]) -> Self {
        Self::start_with_env(agent, addr, extra, &[])
    }

    /// Like [`ProxyProcess::start`], with extra environment variables.
    pub fn start_with_env(agent: &AgentProcess, addr: SocketAddr, extra: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(Command::new(bins::path("kvlb-proxy")), agent, addr, extra, env)
    }

    /// Like [`ProxyProcess::start`], but with no capability at all: `setpriv`
    /// empties the inheritable, ambient and bounding sets before it runs the
    /// proxy, so the proxy starts with empty permitted and effective sets.
    /// It keeps uid 0, the owner of the agent's 0600 pins and state file.
    pub fn start_without_capabilities(agent: &AgentProcess, addr: SocketAddr, extra: &[&str]) -> Self {
        let mut setpriv = Command::new("setpriv");
        setpriv.args(["--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"]).arg(bins::path("kvlb-proxy"));
        Self::spawn(setpriv, agent, addr, extra, &[])
    }

    fn spawn(mut command: Command, agent: &AgentProcess, addr: SocketAddr, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = command
            .args(["--listen", &addr.to_string(), "--metrics-addr", "127.0.0.1:0", "--state-file"])
            .arg(agent.state_file())
            .arg("--pin-dir")
            .arg(&agent.pin_dir)
            .args(extra)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .stderr(File::options().append(true).open(log.path()).expect("log"))
            .spawn()
            .expect("spawn kvlb-proxy");
        let mut proxy = Self { child, addr, log };
        let ready = wait_for(Duration::from_secs(15), || {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("kvlb-proxy exited with {status}:\n{}", proxy.log());
            }
            proxy.log().contains("kvlb-proxy ready").then_some(())
        });
        assert!(ready.is_some(), "kvlb-proxy did not become ready:\n{}", proxy.log());
        proxy
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// The proxy's `/metrics` text.
    pub fn metrics(&self) -> String {
        let log = self.log();
        let marker = "metrics listening addr=";
        let at = log.find(marker).unwrap_or_else(|| panic!("no metrics address in the proxy log:\n{log}"));
        let addr: SocketAddr = log[at + marker.len()..].split_whitespace().next().and_then(|a| a.parse().ok()).expect("metrics address");
        ureq::get(&format!("http://{addr}/metrics")).call().and_then(|r| r.into_body().read_to_string()).expect("proxy metrics")
    }

    /// The sum of a counter's samples whose labels contain every `label`
    /// (`name="value"` fragments).
    pub fn counter(&self, series: &str, labels: &[&str]) -> f64 {
        self.metrics()
            .lines()
            .filter(|l| l.starts_with(series) && labels.iter().all(|f| l.contains(f)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
