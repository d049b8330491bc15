//! A `kvlb-sim fleet` process for the benchmarks: started (optionally pinned
//! to one core), its replica URLs read from stdout, its ground truth read
//! from `/debug/state`; killed on drop.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use anyhow::Context;

/// A running fleet.
pub struct Fleet {
    child: Child,
    /// Base URLs of the replicas, in order.
    pub urls: Vec<String>,
}

impl Fleet {
    /// Runs `kvlb-sim fleet --replicas N <args>` (under `taskset -c CORE` if
    /// `core` is given, with one tokio worker) and waits for its N replica
    /// lines. Its stderr goes to `log`.
    pub fn start(
        sim: &Path,
        replicas: usize,
        args: &[String],
        core: Option<usize>,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let mut command = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.args(["-c", &core.to_string()]).arg(sim);
                c
            }
            None => Command::new(sim),
        };
        let log = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = command
            .args(["fleet", "--replicas", &replicas.to_string()])
            .args(args)
            .env("TOKIO_WORKER_THREADS", "1")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", sim.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut fleet = Self {
            child,
            urls: Vec::new(),
        };
        while fleet.urls.len() < replicas {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .context("kvlb-sim fleet did not announce its replicas")?;
            let v: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("kvlb-sim printed {line:?}"))?;
            fleet.urls.push(
                v["url"]
                    .as_str()
                    .context("replica line without url")?
                    .to_string(),
            );
        }
        Ok(fleet)
    }

    /// The simulator's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `/debug/state?hashes=false` of every replica.
    pub fn states(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        self.urls
            .iter()
            .map(|url| get_json(&format!("{url}/debug/state?hashes=false")))
            .collect()
    }

    /// Sum of a `stats` counter over the replicas (e.g. `lagged_steps`).
    pub fn stat_sum(&self, key: &str) -> anyhow::Result<u64> {
        Ok(self
            .states()?
            .iter()
            .map(|s| s["stats"][key].as_u64().unwrap_or(0))
            .sum())
    }

    /// Evicts every cached prefix, so the next run starts cold.
    pub fn flush(&self) -> anyhow::Result<()> {
        for url in &self.urls {
            ureq::post(&format!("{url}/flush_cache"))
                .send_empty()
                .with_context(|| format!("POST {url}/flush_cache"))?;
        }
        Ok(())
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GETs a URL and parses the JSON body.
pub fn get_json(url: &str) -> anyhow::Result<serde_json::Value> {
    let body = ureq::get(url)
        .call()
        .and_then(|r| r.into_body().read_to_string())
        .with_context(|| format!("GET {url}"))?;
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON"))
}
