//! Contender processes: started with their output in a log file, killed on
//! drop; free loopback ports; waiting until a router answers.

use std::{
    net::TcpListener,
    path::Path,
    process::{Child, Command},
    time::{Duration, Instant},
};

use std::os::unix::process::CommandExt;

use anyhow::Context;

/// A child process killed (with its process group) on drop.
pub struct Process {
    child: Child,
    name: String,
    log: std::path::PathBuf,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)?;
        let child = command
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name} ({:?})", command.get_program()))?;
        Ok(Self {
            child,
            name: name.into(),
            log: log.into(),
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the tail of its log if it has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let last = log
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(empty log)");
            anyhow::bail!(
                "{} exited ({status}); last log line: {}",
                self.name,
                last.trim()
            );
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The whole group: nginx's workers, a Python launcher's children.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Sends a one-token chat through `url` until it answers 200, for at most
/// `timeout`; fails early if the process exits.
pub fn wait_ready(process: &mut Process, url: &str, model: &str, timeout: Duration) -> anyhow::Result<()> {
    wait_answering(url, model, timeout, || process.check_alive())
}

/// Sends a one-token chat through `url` until it answers 200, for at most
/// `timeout`; fails early when `alive` fails.
pub fn wait_answering(url: &str, model: &str, timeout: Duration, mut alive: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let body = serde_json::json!({"model": model, "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 1}).to_string();
    let mut last = String::new();
    while Instant::now() < deadline {
        alive()?;
        match ureq::post(&format!("{url}/v1/chat/completions")).header("content-type", "application/json").send(&body) {
            Ok(response) if response.status() == 200 => return Ok(()),
            Ok(response) => last = format!("status {}", response.status()),
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    anyhow::bail!("{url} did not answer a chat with 200 within {timeout:?} (last: {last})")
}
