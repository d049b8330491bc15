//! The agent's main loop in standalone mode: attach, apply the pool file, then
//! follow its changes (file watch and SIGHUP) until SIGTERM.
//!
//! On SIGTERM or SIGINT the agent exits and leaves programs and maps pinned:
//! routing continues, and the next agent takes over without a gap. Only
//! `kvlb-agent detach` removes them.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    config,
    loader::{self, AttachOptions},
    maps::Maps,
    reconcile::Reconciler,
    state,
    table::PoolTable,
};

/// How often the kernel log ring is drained when a log level is set.
const KERNEL_LOG_INTERVAL: Duration = Duration::from_millis(100);

/// Everything `kvlb-agent run` needs.
pub struct RunOptions {
    /// The pool file.
    pub pools: PathBuf,
    /// Where and how to attach.
    pub attach: AttachOptions,
    /// Where to write pool names for the CLI.
    pub state_file: PathBuf,
    /// How often to check the pool file for changes.
    pub watch_interval: Duration,
    /// How long removed endpoints keep draining.
    pub drain_grace: Duration,
}

/// Runs the agent until SIGTERM or SIGINT.
pub async fn run(opts: RunOptions) -> anyhow::Result<()> {
    // Validate before touching the kernel: bad input leaves nothing behind.
    let table = config::load(&opts.pools)?;
    let attached = loader::attach(&opts.attach)?;
    let mut maps = Maps::open(&opts.attach.pin_dir)?;
    let mut reconciler = Reconciler::new(opts.drain_grace);
    apply(&mut reconciler, &mut maps, &table, &opts.state_file)?;
    tracing::info!(pools = table.pools.len(), cgroup = %opts.attach.cgroup.display(), pin_dir = %opts.attach.pin_dir.display(), "kvlb-agent ready");

    let mut current = std::fs::read(&opts.pools).ok();
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut tick = tokio::time::interval(opts.watch_interval);
    let mut kernel_log = attached.logger;
    let mut log_tick = tokio::time::interval(KERNEL_LOG_INTERVAL);
    loop {
        tokio::select! {
            _ = hup.recv() => {
                current = std::fs::read(&opts.pools).ok();
                reload(&mut reconciler, &mut maps, &opts, "SIGHUP");
            }
            _ = tick.tick() => {
                let now = std::fs::read(&opts.pools).ok();
                if now.is_some() && now != current {
                    current = now;
                    reload(&mut reconciler, &mut maps, &opts, "file change");
                }
                if let Err(e) = reconciler.sweep(&mut maps) {
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
    tracing::info!("kvlb-agent stopping; programs and maps stay pinned, routing continues");
    Ok(())
}

fn apply(reconciler: &mut Reconciler, maps: &mut Maps, table: &PoolTable, state_file: &Path) -> anyhow::Result<()> {
    let applied = reconciler.apply(maps, table).context("cannot write the pool table into the maps")?;
    state::write(state_file, &applied)?;
    Ok(())
}

/// Applies a changed pool file; a bad one is reported and the running
/// configuration stays as it was.
fn reload(reconciler: &mut Reconciler, maps: &mut Maps, opts: &RunOptions, why: &str) {
    match config::load(&opts.pools) {
        Ok(table) => match apply(reconciler, maps, &table, &opts.state_file) {
            Ok(()) => tracing::info!(pools = table.pools.len(), "applied pool file after {why}"),
            Err(e) => tracing::error!("{e:#}"),
        },
        Err(e) => tracing::error!("pool file not applied, keeping the previous one: {e}"),
    }
}
