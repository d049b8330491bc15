//! Running `kvlb-probe` inside a test cgroup and reading its report.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    net::SocketAddr,
    process::{Child, ChildStdin, Stdio},
};

use serde::Deserialize;

use crate::{bins, cgroup::TestCgroup};

/// What happened to one connection.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Conn {
    /// The endpoint's name, if it answered.
    pub endpoint: Option<String>,
    /// What getpeername() reported.
    pub peer: Option<String>,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// The failure's errno, if any.
    pub errno: Option<i32>,
}

/// Every connection of one probe run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// In connection order.
    pub conns: Vec<Conn>,
}

impl Report {
    /// Connections per endpoint name.
    pub fn by_endpoint(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.conns {
            if let Some(e) = &c.endpoint {
                *m.entry(e.clone()).or_default() += 1;
            }
        }
        m
    }

    /// Connections that failed.
    pub fn failures(&self) -> Vec<&Conn> {
        self.conns.iter().filter(|c| c.endpoint.is_none()).collect()
    }
}

fn read_report(out: impl BufRead) -> Report {
    let mut conns = Vec::new();
    for line in out.lines() {
        let line = line.expect("probe output");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("probe printed {line:?}: {e}"));
        if v.get("done").is_some() {
            break;
        }
        conns.push(serde_json::from_value(v).expect("probe line"));
    }
    Report { conns }
}

/// Opens `count` connections to `addr` from inside `cgroup` (or from the
/// test's own cgroup when `None`), closing each after its greeting.
pub fn run(cgroup: Option<&TestCgroup>, addr: SocketAddr, count: u32, interval_ms: u64) -> Report {
    run_with(cgroup, addr, count, interval_ms, &[])
}

/// Opens `count` connections to model servers (which send no greeting) and
/// closes each at once; where they landed shows in the kernel's counters.
pub fn connect_only(cgroup: &TestCgroup, addr: SocketAddr, count: u32) -> Report {
    run_with(Some(cgroup), addr, count, 0, &["--connect-only"])
}

/// Tries one connection from the caller's own cgroup (outside any test
/// cgroup) and returns its error, if it failed.
pub fn connect_only_outside(addr: SocketAddr) -> Option<String> {
    run_with(None, addr, 1, 0, &["--connect-only"]).conns.remove(0).error
}

fn run_with(cgroup: Option<&TestCgroup>, addr: SocketAddr, count: u32, interval_ms: u64, extra: &[&str]) -> Report {
    let probe = bins::path("kvlb-probe");
    let mut cmd = match cgroup {
        Some(cg) => cg.command(&probe),
        None => std::process::Command::new(&probe),
    };
    let out = cmd
        .arg(addr.to_string())
        .args(["--count", &count.to_string(), "--interval-ms", &interval_ms.to_string()])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .expect("run kvlb-probe");
    assert!(out.status.success(), "kvlb-probe failed: {}", out.status);
    read_report(out.stdout.as_slice())
}

/// A probe holding its connections open.
pub struct Held {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The connections it opened.
    pub report: Report,
}

/// Whether the servers a probe connects to greet with their name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    /// Endpoint servers of this harness: read the name.
    Name,
    /// Model servers: only connect.
    None,
}

/// Opens `count` connections from inside `cgroup` and keeps them open until
/// [`Held::release`] (or drop).
pub fn hold(cgroup: &TestCgroup, addr: SocketAddr, count: u32, greeting: Greeting) -> Held {
    let mut child = cgroup
        .command(&bins::path("kvlb-probe"))
        .arg(addr.to_string())
        .args(["--count", &count.to_string(), "--hold"])
        .args(if greeting == Greeting::None { &["--connect-only"][..] } else { &[] })
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn kvlb-probe");
    let stdin = child.stdin.take();
    let report = read_report(BufReader::new(child.stdout.take().expect("stdout")));
    Held { child, stdin, report }
}

impl Held {
    /// Closes the connections and waits for the probe to exit.
    pub fn release(mut self) {
        self.close();
    }

    fn close(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.wait();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            let _ = self.child.kill();
            self.close();
        }
    }
}
