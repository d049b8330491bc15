//! The agent's main loop: take the pool table from its source (the pool
//! file, or Kubernetes discovery), attach, apply it, scrape every endpoint
//! and publish scores, apply every later table the source sends, and answer
//! `/metrics` and `/status`, until SIGTERM. Both sources produce the same
//! [`PoolTable`]; everything below discovery is one code path.
//!
//! On SIGTERM or SIGINT the agent exits and leaves programs and maps pinned:
//! routing continues (on live connections once scores go stale), and the next
//! agent takes over without a gap. Only `kvlb-agent detach` removes them, or,
//! in Kubernetes mode, the agent itself when its DaemonSet is gone (`helm
//! uninstall`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use hyper::Uri;
use tokio::{
    signal::unix::{Signal, SignalKind, signal},
    sync::mpsc,
};

use crate::{
    config,
    health::Health,
    k8s::{self, KubeOptions, kube_state, uninstall::UninstallCheck},
    loader::{self, AttachOptions},
    maps::Maps,
    reconcile::Reconciler,
    score,
    scrape::{
        client::MetricsClient,
        worker::{Outcome, Scrapers, Target, TargetKey},
    },
    server::{self, Pending, Query},
    state,
    status::NodeStatus,
    table::PoolTable,
};

/// How often the kernel log ring is drained when a log level is set.
const KERNEL_LOG_INTERVAL: Duration = Duration::from_millis(100);

/// How endpoints are scraped.
#[derive(Clone, Debug)]
pub struct ScrapeOptions {
    /// Time between scrapes of one endpoint (and between score rounds).
    pub interval: Duration,
    /// Give up on one scrape after this long.
    pub timeout: Duration,
    /// Largest metrics page read.
    pub max_bytes: usize,
    /// Failed scrapes in a row that make an endpoint not ready.
    pub fail_threshold: u32,
}

/// Where the pools come from.
#[derive(Clone, Debug)]
pub enum PoolSource {
    /// The standalone pool file, followed by polling and on SIGHUP.
    File(PathBuf),
    /// InferencePools, their pods on this node, KvlbPools and Services.
    Kubernetes(KubeOptions),
}

/// Everything `kvlb-agent run` needs.
pub struct RunOptions {
    /// Where the pools come from.
    pub source: PoolSource,
    /// Where and how to attach.
    pub attach: AttachOptions,
    /// Where to write pool names for the CLI.
    pub state_file: PathBuf,
    /// How often to check the pool file for changes and to remove drained
    /// endpoints.
    pub watch_interval: Duration,
    /// How long removed endpoints keep draining.
    pub drain_grace: Duration,
    /// Scraping.
    pub scrape: ScrapeOptions,
    /// Where to serve `/metrics` and `/status` (port 0 picks one).
    pub metrics_addr: Option<SocketAddr>,
    /// Where the L7 proxy listens; connections to l7 pools' VIPs go there.
    pub proxy_addr: Option<SocketAddr>,
}

/// A started source: its first table, the later ones, and, in Kubernetes
/// mode, how to tell an uninstall at shutdown.
struct Source {
    first: PoolTable,
    tables: mpsc::Receiver<PoolTable>,
    uninstall: Option<UninstallCheck>,
}

/// The state the main loop owns.
struct Agent {
    opts: RunOptions,
    maps: Maps,
    reconciler: Reconciler,
    health: Health,
    scrapers: Scrapers,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    // Validate before touching the kernel: bad input leaves nothing behind.
    let mut source = start_source(&opts).await?;
    let listener = match opts.metrics_addr {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} for metrics"))?),
        None => None,
    };
    let attached = loader::attach(&opts.attach)?;
    let (scraped_tx, mut scraped) = mpsc::channel::<Outcome>(1024);
    let client = MetricsClient::new(opts.scrape.timeout, opts.scrape.max_bytes);
    let mut agent = Agent {
        maps: Maps::open(&opts.attach.pin_dir)?,
        reconciler: Reconciler::new(opts.drain_grace, opts.proxy_addr),
        health: Health::new(opts.scrape.fail_threshold),
        scrapers: Scrapers::new(client, opts.scrape.interval, scraped_tx),
        opts,
    };
    agent.apply(&source.first)?;

    let (query_tx, mut queries) = mpsc::channel::<Pending>(64);
    if let Some(listener) = listener {
        tracing::info!(addr = %listener.local_addr()?, "metrics listening");
        tokio::spawn(server::serve(listener, query_tx));
    }
    tracing::info!(pools = source.first.pools.len(), cgroup = %agent.opts.attach.cgroup.display(), pin_dir = %agent.opts.attach.pin_dir.display(), "kvlb-agent ready");

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut sweep = tokio::time::interval(agent.opts.watch_interval);
    let mut publish = tokio::time::interval(agent.opts.scrape.interval);
    publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut kernel_log = attached.logger;
    let mut log_tick = tokio::time::interval(KERNEL_LOG_INTERVAL);
    loop {
        tokio::select! {
            Some(outcome) = scraped.recv() => agent.on_scrape(outcome),
            _ = publish.tick() => agent.publish(),
            Some(pending) = queries.recv() => agent.answer(pending),
            Some(table) = source.tables.recv() => match agent.apply(&table) {
                Ok(()) => tracing::info!(pools = table.pools.len(), "applied a new pool table"),
                Err(e) => tracing::error!("{e:#}"),
            },
            _ = sweep.tick() => {
                if let Err(e) = agent.reconciler.sweep(&mut agent.maps) {
                    tracing::warn!("cannot remove drained endpoints: {e:#}");
                }
            }
            _ = log_tick.tick(), if kernel_log.is_some() => {
                if let Some(logger) = kernel_log.as_mut() {
                    logger.flush();
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    match source.uninstall {
        Some(check) if check.uninstalling().await => {
            tracing::info!("the agent's DaemonSet is gone (uninstall): detaching programs and maps");
            detach(&agent.opts.attach.pin_dir, &agent.opts.state_file)
        }
        _ => {
            tracing::info!("kvlb-agent stopping; programs and maps stay pinned, routing continues");
            Ok(())
        }
    }
}

/// Removes every program, link and map pinned in `pin_dir`, and the state
/// files that describe them.
pub fn detach(pin_dir: &Path, state_file: &Path) -> anyhow::Result<()> {
    loader::detach(pin_dir)?;
    for file in [state_file.to_path_buf(), kube_state::path_for(state_file)] {
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => tracing::warn!("cannot remove {}: {e}", file.display()),
            _ => {}
        }
    }
    Ok(())
}

/// Starts the pool source and waits for its first table: a pool file must be
/// valid, Kubernetes must have listed every resource once.
async fn start_source(opts: &RunOptions) -> anyhow::Result<Source> {
    match &opts.source {
        PoolSource::File(path) => {
            let first = config::load(path)?;
            let hup = signal(SignalKind::hangup())?;
            let (tables_tx, tables) = mpsc::channel(4);
            tokio::spawn(follow_file(path.clone(), opts.watch_interval, hup, tables_tx));
            Ok(Source { first, tables, uninstall: None })
        }
        PoolSource::Kubernetes(kube) => {
            let discovery = k8s::start(kube.clone()).await?;
            Ok(Source { first: discovery.first, tables: discovery.tables, uninstall: discovery.uninstall })
        }
    }
}

/// Follows a pool file: every valid new version (polled every `every`, or
/// re-read on SIGHUP) goes to `tables`; an invalid one is reported and the
/// running configuration stays.
async fn follow_file(path: PathBuf, every: Duration, mut hup: Signal, tables: mpsc::Sender<PoolTable>) {
    let mut current = std::fs::read(&path).ok();
    let mut poll = tokio::time::interval(every);
    loop {
        let why = tokio::select! {
            _ = hup.recv() => {
                current = std::fs::read(&path).ok();
                "SIGHUP"
            }
            _ = poll.tick() => {
                let now = std::fs::read(&path).ok();
                if now.is_none() || now == current {
                    continue;
                }
                current = now;
                "file change"
            }
        };
        match config::load(&path) {
            Ok(table) => {
                tracing::info!(pools = table.pools.len(), "pool file read after {why}");
                if tables.send(table).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::error!("pool file not applied, keeping the previous one: {e}"),
        }
    }
}

impl Agent {
    fn apply(&mut self, table: &PoolTable) -> anyhow::Result<()> {
        let applied = self.reconciler.apply(&mut self.maps, table).context("cannot write the pool table into the maps")?;
        let routing = state::RoutingState {
            pools: table.pools.iter().cloned().zip(applied).map(|(spec, ids)| state::RoutedPool { spec, ids }).collect(),
            objectives: table.objectives.clone(),
            egress: table.egress.clone(),
        };
        state::write(&self.opts.state_file, &routing)?;
        let targets = self.targets();
        self.health.retain(|k| targets.iter().any(|t| &t.key == k));
        self.scrapers.sync(&targets);
        Ok(())
    }

    /// Every endpoint of every scraped pool.
    fn targets(&self) -> Vec<Target> {
        let mut targets = Vec::new();
        for (spec, _) in self.reconciler.current() {
            let Some(scrape) = &spec.scrape else { continue };
            for ep in &spec.endpoints {
                let at = SocketAddr::new(ep.address.ip(), scrape.port.unwrap_or(ep.address.port()));
                let url: Uri = match format!("http://{at}{}", scrape.path).parse() {
                    Ok(url) => url,
                    Err(e) => {
                        tracing::error!(pool = %spec.name, endpoint = %ep.address, "bad metrics URL: {e}");
                        continue;
                    }
                };
                let key = TargetKey { pool: spec.name.clone(), endpoint: ep.address };
                targets.push(Target { key, engine: ep.engine.unwrap_or(scrape.engine), url });
            }
        }
        targets
    }

    fn endpoint_id(&self, key: &TargetKey) -> Option<u32> {
        let (spec, done) = self.reconciler.current().iter().find(|(s, _)| s.name == key.pool)?;
        let i = spec.endpoints.iter().position(|e| e.address == key.endpoint)?;
        done.endpoint_ids.get(i).copied()
    }

    fn on_scrape(&mut self, outcome: Outcome) {
        let key = outcome.key.clone();
        if let Some(ready) = self.health.record(outcome) {
            let Some(id) = self.endpoint_id(&key) else { return };
            let last = self.health.get(&key).and_then(|h| h.last_error.clone()).unwrap_or_default();
            if ready {
                tracing::info!(pool = %key.pool, endpoint = %key.endpoint, "endpoint ready again");
            } else {
                tracing::warn!(pool = %key.pool, endpoint = %key.endpoint, "endpoint not ready: {last}");
            }
            if let Err(e) = self.reconciler.set_ready(&mut self.maps, id, ready) {
                tracing::error!("cannot update readiness: {e:#}");
            }
        }
    }

    /// One score round: every scraped pool's scores and saturation.
    fn publish(&mut self) {
        let rounds: Vec<(u32, Vec<u32>, Vec<bool>, f64)> = self
            .reconciler
            .current()
            .iter()
            .filter(|(spec, _)| spec.scrape.is_some())
            .map(|(spec, done)| {
                let inputs: Vec<_> = spec
                    .endpoints
                    .iter()
                    .map(|ep| self.health.fresh(&TargetKey { pool: spec.name.clone(), endpoint: ep.address }, spec.scoring.staleness))
                    .collect();
                let scores = score::scores(&spec.scoring.weights, &inputs);
                let limits = &spec.scoring.saturation;
                (done.pool_id, scores, score::saturated(limits, &inputs), score::saturation(limits, &inputs))
            })
            .collect();
        for (pool_id, scores, saturated, saturation) in rounds {
            if let Err(e) = self.reconciler.publish(&mut self.maps, pool_id, &scores, &saturated, saturation) {
                tracing::error!("cannot publish scores: {e:#}");
            }
        }
    }

    fn answer(&self, pending: Pending) {
        let status = NodeStatus::collect(&self.maps, &self.reconciler, &self.health);
        let body = match pending.query {
            Query::Metrics => status.to_prometheus(),
            Query::Status => serde_json::to_string_pretty(&status).unwrap_or_default(),
        };
        let _ = pending.reply.send(body);
    }
}
