//! The contenders: each puts a routing policy in front of the fleet and
//! tells the load generator where to send. Adding one is one module here
//! and one line in [`all`].

mod envoy;
mod haproxy;
mod kvlb_connect;
mod litellm;
mod nginx;
mod not_built;
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
}

/// Every contender, in table order.
pub fn all() -> Vec<Box<dyn Contender>> {
    vec![
        Box::new(nginx::Nginx),
        Box::new(haproxy::Haproxy),
        Box::new(envoy::Envoy),
        Box::new(sglang::Sglang::CACHE_AWARE),
        Box::new(sglang::Sglang::POWER_OF_TWO),
        Box::new(litellm::Litellm),
        Box::new(kvlb_connect::KvlbConnect),
        Box::new(not_built::NotBuilt::KVLB_L7),
        Box::new(not_built::NotBuilt::GIE_DEFAULT),
        Box::new(oracle::Oracle),
    ]
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
        super::process::Process::spawn(id, command, &ctx.dir.join(format!("{id}.log")))?;
    super::process::wait_ready(
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
