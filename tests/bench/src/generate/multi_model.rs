//! A base model and LoRA adapters served by the same replicas: each request
//! names the base model or one adapter; adapters' requests carry the
//! `batch` objective, the base model's `interactive`.

use rand::Rng;

use super::{Common, arrivals, lengths::Lengths, unique_prompt, user_chat};
use crate::trace::TraceRequest;

/// `multi-model` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct MultiModel {
    /// Seed, base model, rate.
    #[command(flatten)]
    pub common: Common,
    /// Number of requests.
    #[arg(long, default_value_t = 500)]
    pub requests: usize,
    /// LoRA adapter names (comma separated); the replicas must serve them
    /// (`kvlb-sim --lora-modules`).
    #[arg(long, value_delimiter = ',', default_value = "lora-a,lora-b,lora-c")]
    pub adapters: Vec<String>,
    /// Share of requests for the base model; the rest is spread over the
    /// adapters, adapter k getting twice the share of adapter k + 1.
    #[arg(long, default_value_t = 0.4)]
    pub base_share: f64,
    /// Length distributions.
    #[command(flatten)]
    pub lengths: Lengths,
}

impl MultiModel {
    /// Generates the trace.
    pub fn generate(&self) -> anyhow::Result<Vec<TraceRequest>> {
        let mut rng = self.common.rng()?;
        let sampler = self.lengths.sampler()?;
        anyhow::ensure!(self.requests >= 1, "--requests must be at least 1");
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.base_share),
            "--base-share must be within 0..=1, got {}",
            self.base_share
        );
        anyhow::ensure!(
            self.adapters
                .iter()
                .all(|a| !a.is_empty() && *a != self.common.model),
            "--adapters: names must be non-empty and differ from --model"
        );
        anyhow::ensure!(
            !self.adapters.is_empty() || self.base_share == 1.0,
            "--adapters is empty: set --base-share 1"
        );
        // Adapter k has weight 2^-k.
        let weights: Vec<f64> = (0..self.adapters.len())
            .map(|k| 0.5f64.powi(k as i32))
            .collect();
        let total: f64 = weights.iter().sum();
        let times = arrivals::poisson(&mut rng, self.requests, self.common.qps);
        Ok(times
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                let (input, output) = sampler.sample(&mut rng);
                let (model, objective) = if rng.random::<f64>() < self.base_share {
                    (self.common.model.as_str(), "interactive")
                } else {
                    let mut x = rng.random::<f64>() * total;
                    let k = weights.iter().position(|w| {
                        x -= w;
                        x < 0.0
                    });
                    (
                        self.adapters[k.unwrap_or(weights.len() - 1)].as_str(),
                        "batch",
                    )
                };
                let mut request = user_chat(t, model, unique_prompt(&mut rng, i, input), output);
                request.objective = Some(objective.into());
                request
            })
            .collect())
    }
}
