//! The contenders of `bench quality` and `bench overhead`: each puts a
//! routing policy in front of the model servers and tells the client where
//! to send. Adding one is one module here and one line in [`all`] (and in
//! [`overhead`] when it belongs there).

mod envoy;
mod haproxy;
mod gie_default;
mod kvlb_connect;
mod kvlb_l7;
mod litellm;
mod nginx;
mod oracle;
mod sglang;

use std::path::{Path, PathBuf};

use kvlb_e2e::cgroup::TestCgroup;

/// What a contender knows about the run.
pub struct Ctx<'a> {
    /// Base URLs of the fleet's replicas.
    pub replicas: &'a [String],
    /// The served model.
    pub model: &'a str,
    /// LoRA adapters the replicas serve beside it.
    pub adapters: &'a [String],
    /// Where configuration files and logs go.
    pub dir: &'a Path,
    /// The project venv's Python.
    pub python: PathBuf,
    /// `--with-litellm` was given.
    pub with_litellm: bool,
}

/// Where the load generator sends.
pub enum Target {
    /// One base URL (a router, a proxy, a VIP).
    Url(String),
    /// The oracle's replicas (`kvlb-loadgen --oracle`).
    Oracle(Vec<String>),
}

/// A contender in place; dropping it stops everything it started.
pub struct Started {
    /// Where to send.
    pub target: Target,
    /// A client connection mode the contender needs (`new` for kvlb's
    /// connect mode), overriding the workload's.
    pub connection: Option<&'static str>,
    /// Processes whose CPU time is the contender's (with descendants).
    pub pids: Vec<u32>,
    /// Why CPU time is not measured, when `pids` is empty.
    pub cpu_note: Option<&'static str>,
    /// What must stay alive (processes, agents); dropped first.
    pub _guard: Box<dyn std::any::Any>,
    /// The cgroup the load generator must run in.
    pub cgroup: Option<TestCgroup>,
}

/// One routing policy under test.
pub trait Contender {
    /// Short id (file names, `--only`).
    fn id(&self) -> &'static str;
    /// Name in tables and plots.
    fn name(&self) -> &'static str;
    /// `Err(reason)` when it cannot run here (not built, not installed).
    fn available(&self, ctx: &Ctx<'_>) -> Result<(), String>;
    /// Starts it in front of the fleet and waits until it routes.
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started>;
    /// Whether a process of its own handles every request (a proxy); false
    /// when the choice is made elsewhere (the kernel at `connect()`, the
    /// client), so its CPU time is not a cost per request.
    fn on_request_path(&self) -> bool {
        true
    }
}

/// Every contender, in table order.
pub fn all() -> Vec<Box<dyn Contender>> {
    vec![
        Box::new(nginx::Nginx),
        Box::new(haproxy::Haproxy),
        Box::new(envoy::Envoy::LEAST_REQUEST),
        Box::new(sglang::Sglang::CACHE_AWARE),
        Box::new(sglang::Sglang::POWER_OF_TWO),
        Box::new(litellm::Litellm),
        Box::new(gie_default::GieDefault),
        Box::new(kvlb_connect::KvlbConnect),
        Box::new(kvlb_l7::KvlbL7 { proxy_args: &[] }),
        Box::new(oracle::Oracle),
    ]
}

/// The contenders of the overhead benchmark (`cargo xtask bench overhead`),
/// beside connecting directly: each path a request can take through kvlb,
/// and the plain round-robin proxies people would otherwise put there, each
/// limited to one worker thread.
pub fn overhead() -> Vec<Box<dyn Contender>> {
    vec![
        Box::new(kvlb_connect::KvlbConnect),
        Box::new(kvlb_l7::KvlbL7 { proxy_args: &["--threads", "1"] }),
        Box::new(gie_default::GieDefault),
        Box::new(nginx::Nginx),
        Box::new(envoy::Envoy::ROUND_ROBIN),
        Box::new(sglang::Sglang::ROUND_ROBIN),
    ]
}

/// Whether kvlb's contenders can run: they need root (eBPF programs on a
/// test cgroup) and the agent built beside xtask.
fn kvlb_available() -> Result<(), String> {
    let root = procfs::process::Process::myself().and_then(|p| p.uid()).is_ok_and(|uid| uid == 0);
    if !root {
        return Err("needs root (eBPF programs on a test cgroup)".into());
    }
    let agent = std::env::current_exe().map(|e| e.with_file_name("kvlb-agent"));
    agent.is_ok_and(|a| a.is_file()).then_some(()).ok_or_else(|| "kvlb-agent is not built (cargo build --bins)".into())
}

/// The `models:` and `adapters:` lines of a kvlb pool serving `ctx`'s model.
fn pool_models(ctx: &Ctx<'_>) -> String {
    let list = |names: &[&str]| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ");
    let adapters: Vec<&str> = ctx.adapters.iter().map(String::as_str).collect();
    format!("    models: [{}]\n    adapters: [{}]\n", list(&[ctx.model]), list(&adapters))
}

/// `host:port` of a replica's base URL.
pub fn host_port(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// An executable on PATH or at one of `paths`.
pub fn find_program(name: &str, paths: &[&str]) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name));
    on_path
        .chain(paths.iter().map(PathBuf::from))
        .find(|p| p.is_file())
}

/// Starts a proxy process (log in `<dir>/<id>.log`), waits until `url`
/// routes a chat, and hands it over as a contender.
pub fn start_proxy(
    ctx: &Ctx<'_>,
    id: &str,
    command: std::process::Command,
    url: String,
) -> anyhow::Result<Started> {
    let mut process =
        crate::bench::process::Process::spawn(id, command, &ctx.dir.join(format!("{id}.log")))?;
    crate::bench::process::wait_ready(
        &mut process,
        &url,
        ctx.model,
        std::time::Duration::from_secs(60),
    )?;
    Ok(Started {
        target: Target::Url(url),
        connection: None,
        pids: vec![process.pid()],
        cpu_note: None,
        _guard: Box::new(process),
        cgroup: None,
    })
}
