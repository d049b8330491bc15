//! The simulated inference engine: continuous batching over a paged KV cache.
//!
//! One tokio task per replica runs the step loop: lock the state, pick a batch
//! ([`core::EngineCore::schedule`]), sleep for the batch's step time (scaled
//! by [`SimClock`]), lock again and apply it. Requests enter the waiting queue
//! directly from the HTTP handlers, so the 429 of a full queue is immediate.

mod config;
mod core;
mod lora;
mod request;
mod scheduler;
mod sequence;
mod state;
mod stats;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, broadcast};

pub use config::{EngineConfig, InvalidConfig, OutputLen};
pub use request::{FinishReason, GenerateRequest, RequestStream, SubmitError, TokenEvent, Usage};
pub use state::{EngineState, LoadSnapshot, RequestState};
pub use stats::{EngineStats, Histogram};

use self::core::EngineCore;
use crate::{clock::SimClock, kv_events::KvEventBatch};

/// KV-event batches buffered per subscriber before it counts as lagging.
const KV_EVENT_BUFFER: usize = 4096;

/// Handle to one running replica engine; cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    core: Mutex<EngineCore>,
    wake: Notify,
    clock: SimClock,
    config: EngineConfig,
    kv_events: broadcast::Sender<Arc<KvEventBatch>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, EngineCore> {
        // The state stays consistent between steps, so a panic elsewhere
        // must not take the replica down with it.
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Engine {
    /// Validates `config` and starts the engine's step loop on the current
    /// tokio runtime.
    pub fn start(config: EngineConfig) -> Result<Self, InvalidConfig> {
        config.validate()?;
        let (kv_events, _) = broadcast::channel(KV_EVENT_BUFFER);
        let shared = Arc::new(Shared {
            core: Mutex::new(EngineCore::new(config.clone())),
            wake: Notify::new(),
            clock: SimClock::start(config.time_scale),
            config,
            kv_events,
        });
        tokio::spawn(step_loop(shared.clone()));
        Ok(Self { shared })
    }

    /// The replica's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Model seconds since the replica started.
    pub fn now(&self) -> f64 {
        self.shared.clock.now()
    }

    /// Queues a request. Drop the returned stream to abort it.
    pub fn submit(&self, request: GenerateRequest) -> Result<RequestStream, SubmitError> {
        let stream = {
            let mut core = self.shared.lock();
            // Read the clock under the lock so arrivals are in queue order.
            let now = self.shared.clock.now();
            core.submit(request, now)?
        };
        self.shared.wake.notify_one();
        Ok(stream)
    }

    /// The exact state now; `with_hashes` adds every cached block hash.
    pub fn snapshot(&self, with_hashes: bool) -> EngineState {
        let now = self.shared.clock.now();
        self.shared.lock().state(now, with_hashes)
    }

    /// Aggregate load and statistics now.
    pub fn load(&self) -> LoadSnapshot {
        self.shared.lock().load()
    }

    /// Tokens of the longest prefix of `tokens` whose blocks are cached now.
    pub fn cached_prefix_tokens(&self, tokens: &[u32], lora: Option<&str>) -> usize {
        self.shared.lock().cached_prefix_tokens(tokens, lora)
    }

    /// Evicts every cached block no request holds; returns how many.
    pub fn flush_prefix_cache(&self) -> usize {
        let mut core = self.shared.lock();
        core.pool
            .record_events(self.shared.kv_events.receiver_count() > 0);
        let flushed = core.pool.flush_free();
        let events = core.pool.take_events();
        let ts = self.shared.clock.now();
        drop(core);
        publish(&self.shared, ts, events);
        flushed
    }

    /// Subscribes to the KV-cache events of every later step.
    pub fn subscribe_kv_events(&self) -> broadcast::Receiver<Arc<KvEventBatch>> {
        self.shared.kv_events.subscribe()
    }
}

fn publish(shared: &Shared, ts: f64, events: Vec<crate::kv_events::KvEvent>) {
    if !events.is_empty() {
        // No subscriber is not an error: the events are simply not wanted.
        let _ = shared.kv_events.send(Arc::new(KvEventBatch { ts, events }));
    }
}

/// How far (wall seconds) model time may trail the wall clock before the
/// engine counts as overloaded and jumps ahead; timer ticks stay well below.
const MAX_LAG_WALL_S: f64 = 0.02;

/// Steps the engine for as long as the runtime lives.
///
/// While busy, each step starts exactly where the previous one ended, so
/// model time is the sum of step times whatever the timer's granularity; the
/// wall-clock deadline of each step is absolute, so a late wake-up is caught
/// up rather than carried forward. After idling, model time resumes at the
/// wall clock.
async fn step_loop(shared: Arc<Shared>) {
    let max_lag = MAX_LAG_WALL_S * shared.clock.scale();
    let mut resume = true;
    loop {
        let step = {
            let mut core = shared.lock();
            let now = shared.clock.now();
            if resume || now - core.time > max_lag {
                if !resume {
                    core.stats.lagged_steps += 1;
                }
                core.time = core.time.max(now);
            }
            core.pool
                .record_events(shared.kv_events.receiver_count() > 0);
            let start = core.time;
            let mut batch = core.schedule(start);
            if batch.is_none() && !core.waiting.is_empty() && now > core.time {
                // Only requests that arrived after `core.time` are waiting.
                core.time = now;
                batch = core.schedule(now);
            }
            batch.map(|batch| core.time + shared.config.profile.cost.step_time(&batch))
        };
        let Some(end) = step else {
            shared.wake.notified().await;
            resume = true;
            continue;
        };
        resume = false;
        tokio::time::sleep_until(shared.clock.instant_at(end)).await;
        let events = {
            let mut core = shared.lock();
            core.finish_step(end);
            core.pool.take_events()
        };
        publish(&shared, end, events);
    }
}
