//! Unique prompts (no shared prefixes) arriving in on/off bursts, the load
//! shape where per-connection balancing by live load matters most.

use super::{Common, arrivals, lengths::Lengths, unique_chats};
use crate::trace::TraceRequest;

/// `bursty` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct Bursty {
    /// Seed, model, mean rate.
    #[command(flatten)]
    pub common: Common,
    /// Number of requests.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// Length of a burst, milliseconds.
    #[arg(long, default_value_t = 2000.0)]
    pub on_ms: f64,
    /// Silence between bursts, milliseconds.
    #[arg(long, default_value_t = 3000.0)]
    pub off_ms: f64,
    /// Length distributions.
    #[command(flatten)]
    pub lengths: Lengths,
}

impl Bursty {
    /// Generates the trace.
    pub fn generate(&self) -> anyhow::Result<Vec<TraceRequest>> {
        let mut rng = self.common.rng()?;
        let sampler = self.lengths.sampler()?;
        anyhow::ensure!(self.requests >= 1, "--requests must be at least 1");
        anyhow::ensure!(
            self.on_ms > 0.0 && self.on_ms.is_finite(),
            "--on-ms must be positive, got {}",
            self.on_ms
        );
        anyhow::ensure!(
            self.off_ms >= 0.0 && self.off_ms.is_finite(),
            "--off-ms must be >= 0, got {}",
            self.off_ms
        );
        let times = arrivals::on_off(
            &mut rng,
            self.requests,
            self.common.qps,
            self.on_ms,
            self.off_ms,
        );
        Ok(unique_chats(&mut rng, times, &self.common.model, &sampler))
    }
}
