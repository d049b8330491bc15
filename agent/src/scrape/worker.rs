//! One scrape loop per endpoint, so a slow or hung endpoint delays nobody
//! else. Each result goes to the agent's main loop over a channel.

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use hyper::Uri;
use tokio::{sync::mpsc, task::JoinHandle, time::MissedTickBehavior};

use super::{Engine, EngineMetrics, ScrapeError, client::MetricsClient, parse};

/// Which endpoint of which pool.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// Pool name.
    pub pool: String,
    /// Endpoint address.
    pub endpoint: SocketAddr,
}

/// What to scrape for one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Whose metrics these are.
    pub key: TargetKey,
    /// How to read them.
    pub engine: Engine,
    /// Where they are.
    pub url: Uri,
}

/// One finished scrape.
#[derive(Debug)]
pub struct Outcome {
    /// Whose.
    pub key: TargetKey,
    /// When it finished.
    pub at: Instant,
    /// How long it took.
    pub took: Duration,
    /// The metrics, or why not.
    pub result: Result<EngineMetrics, ScrapeError>,
}

/// The running scrape loops, one per target.
pub struct Scrapers {
    client: MetricsClient,
    interval: Duration,
    results: mpsc::Sender<Outcome>,
    running: HashMap<TargetKey, (Target, JoinHandle<()>)>,
}

impl Scrapers {
    /// No loops yet; results will go to `results`.
    pub fn new(client: MetricsClient, interval: Duration, results: mpsc::Sender<Outcome>) -> Self {
        Self { client, interval, results, running: HashMap::new() }
    }

    /// Runs exactly one loop per target: stops loops for targets that went
    /// away or changed, starts loops for new ones.
    pub fn sync(&mut self, targets: &[Target]) {
        self.running.retain(|key, (target, handle)| {
            let keep = targets.iter().any(|t| t == target && &t.key == key);
            if !keep {
                handle.abort();
            }
            keep
        });
        for target in targets {
            if !self.running.contains_key(&target.key) {
                let handle = tokio::spawn(scrape_loop(target.clone(), self.client.clone(), self.interval, self.results.clone()));
                self.running.insert(target.key.clone(), (target.clone(), handle));
            }
        }
    }
}

impl Drop for Scrapers {
    fn drop(&mut self) {
        for (_, handle) in self.running.values() {
            handle.abort();
        }
    }
}

async fn scrape_loop(target: Target, client: MetricsClient, interval: Duration, results: mpsc::Sender<Outcome>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let start = Instant::now();
        let result = match client.fetch(&target.url).await {
            Ok(text) => parse(target.engine, &text),
            Err(e) => Err(e),
        };
        let outcome = Outcome { key: target.key.clone(), at: Instant::now(), took: start.elapsed(), result };
        if results.send(outcome).await.is_err() {
            return;
        }
    }
}
