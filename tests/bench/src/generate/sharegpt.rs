//! ShareGPT-like lengths, unique prompts, Poisson arrivals.

use super::{Common, arrivals, lengths::Lengths, unique_chats};
use crate::trace::TraceRequest;

/// `sharegpt` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ShareGpt {
    /// Seed, model, rate.
    #[command(flatten)]
    pub common: Common,
    /// Number of requests.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// Length distributions.
    #[command(flatten)]
    pub lengths: Lengths,
}

impl ShareGpt {
    /// Generates the trace.
    pub fn generate(&self) -> anyhow::Result<Vec<TraceRequest>> {
        let mut rng = self.common.rng()?;
        let sampler = self.lengths.sampler()?;
        anyhow::ensure!(self.requests >= 1, "--requests must be at least 1");
        let times = arrivals::poisson(&mut rng, self.requests, self.common.qps);
        Ok(unique_chats(&mut rng, times, &self.common.model, &sampler))
    }
}
