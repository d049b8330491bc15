//! `kvlb-sim` replicas as child processes (one process each, so a test can
//! stop one with SIGSTOP), and load on them.

use std::{
    io::{BufRead, BufReader, Read},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    thread::JoinHandle,
};

use crate::bins;

/// The model every test replica serves.
pub const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// One simulated model server; killed on drop.
pub struct Sim {
    child: Child,
    /// Where it serves.
    pub addr: SocketAddr,
}

impl Sim {
    /// Starts `kvlb-sim serve` on `host`, a free port, with `extra` flags, and
    /// waits until it listens.
    pub fn serve(host: &str, extra: &[&str]) -> Self {
        Self::serve_on(host, 0, extra)
    }

    /// Starts `kvlb-sim serve` on `host:port` with `extra` flags, and waits
    /// until it listens.
    pub fn serve_on(host: &str, port: u16, extra: &[&str]) -> Self {
        let mut child = Command::new(bins::path("kvlb-sim"))
            .args(["serve", "--host", host, "--port", &port.to_string(), "--model", MODEL])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn kvlb-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("kvlb-sim announces its address");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("kvlb-sim printed {line:?}: {e}"));
        let url = v["url"].as_str().expect("url");
        let addr = url.trim_start_matches("http://").parse().expect("replica address");
        Self { child, addr }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the replica.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Starts `n` long streaming completions against the replica, each in its
    /// own thread; they end when the replica does.
    pub fn load(&self, n: usize, max_tokens: u32) -> Vec<JoinHandle<()>> {
        load(self.addr, n, max_tokens)
    }
}

/// Starts `n` long streaming completions against a model server at `addr`,
/// each in its own thread; they end when it does.
pub fn load(addr: SocketAddr, n: usize, max_tokens: u32) -> Vec<JoinHandle<()>> {
    (0..n)
        .map(|i| {
            let url = format!("http://{addr}/v1/completions");
            let body = serde_json::json!({
                "model": MODEL,
                "prompt": format!("request {i}: tell me a long story"),
                "max_tokens": max_tokens,
                "ignore_eos": true,
                "stream": true,
            })
            .to_string();
            std::thread::spawn(move || {
                if let Ok(response) = ureq::post(&url).header("content-type", "application/json").send(body) {
                    let _ = response.into_body().into_reader().read_to_end(&mut Vec::new());
                }
            })
        })
        .collect()
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
