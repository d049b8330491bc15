//! Seeded workload generators; each writes a trace (see [`crate::trace`]).
//! The same flags and seed always give the same trace.
//!
//! - [`shared_prefix::SharedPrefix`]: groups of prompts sharing a long system
//!   prompt (inference-perf's `shared_prefix` shape, scaled down).
//! - [`sharegpt::ShareGpt`]: ShareGPT-like lengths, unique prompts, Poisson.
//! - [`bursty::Bursty`]: unique prompts arriving in on/off bursts.
//! - [`multi_model::MultiModel`]: a base model and LoRA adapters.

pub mod arrivals;
pub mod bursty;
pub mod lengths;
pub mod multi_model;
pub mod shared_prefix;
pub mod sharegpt;
pub mod text;

use clap::Subcommand;
use rand::{SeedableRng, rngs::StdRng};

use crate::trace::{Message, TraceRequest};

/// Flags every generator takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model name requests carry (the served model).
    #[arg(long, default_value = "meta-llama/Llama-3.1-8B-Instruct")]
    pub model: String,
    /// Mean arrival rate of the trace, requests per second (the load
    /// generator can rescale it with --qps).
    #[arg(long, default_value_t = 10.0)]
    pub qps: f64,
}

impl Common {
    /// The seeded generator, after checking the flags.
    fn rng(&self) -> anyhow::Result<StdRng> {
        anyhow::ensure!(
            self.qps > 0.0 && self.qps.is_finite(),
            "--qps must be a positive number, got {}",
            self.qps
        );
        anyhow::ensure!(!self.model.is_empty(), "--model must not be empty");
        Ok(StdRng::seed_from_u64(self.seed))
    }
}

/// The workloads.
#[derive(Debug, Clone, Subcommand)]
pub enum Workload {
    /// Groups of prompts sharing a long system prompt.
    SharedPrefix(shared_prefix::SharedPrefix),
    /// ShareGPT-like lengths, unique prompts, Poisson arrivals.
    Sharegpt(sharegpt::ShareGpt),
    /// Unique prompts arriving in on/off bursts.
    Bursty(bursty::Bursty),
    /// A base model and LoRA adapters.
    MultiModel(multi_model::MultiModel),
}

impl Workload {
    /// Generates the trace.
    pub fn generate(&self) -> anyhow::Result<Vec<TraceRequest>> {
        match self {
            Self::SharedPrefix(w) => w.generate(),
            Self::Sharegpt(w) => w.generate(),
            Self::Bursty(w) => w.generate(),
            Self::MultiModel(w) => w.generate(),
        }
    }
}

/// A one-message chat request.
fn user_chat(t_ms: f64, model: &str, content: String, max_tokens: u32) -> TraceRequest {
    TraceRequest {
        t_ms,
        model: model.to_string(),
        messages: Some(vec![Message {
            role: "user".into(),
            content,
        }]),
        prompt: None,
        max_tokens,
        objective: None,
        session: None,
    }
}

/// One chat with a unique prompt per arrival time, lengths from `sampler`.
fn unique_chats(rng: &mut StdRng, times: Vec<f64>, model: &str, sampler: &lengths::LengthSampler) -> Vec<TraceRequest> {
    times
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (input, output) = sampler.sample(rng);
            user_chat(t, model, unique_prompt(rng, i, input), output)
        })
        .collect()
}

/// A prompt of `tokens` tokens that shares no prefix with any other: it
/// opens with the request's index.
fn unique_prompt(rng: &mut StdRng, index: usize, tokens: usize) -> String {
    format!(
        "{index}: {}",
        text::words(rng, tokens.saturating_sub(2).max(1))
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        workload: Workload,
    }

    fn trace(args: &str) -> Vec<TraceRequest> {
        let cli =
            Cli::try_parse_from(std::iter::once("gen").chain(args.split_whitespace())).unwrap();
        cli.workload.generate().unwrap()
    }

    #[test]
    fn every_generator_is_deterministic_per_seed() {
        for workload in [
            "shared-prefix --groups 4 --prompts-per-group 3",
            "sharegpt --requests 30",
            "bursty --requests 30",
            "multi-model --requests 30",
        ] {
            let a = trace(&format!("{workload} --seed 7"));
            assert_eq!(a, trace(&format!("{workload} --seed 7")), "{workload}");
            assert_ne!(a, trace(&format!("{workload} --seed 8")), "{workload}");
            assert!(a.iter().all(|r| r.validate().is_ok()), "{workload}");
            assert!(a.windows(2).all(|w| w[0].t_ms <= w[1].t_ms), "{workload}");
        }
    }

    #[test]
    fn shared_prefix_groups_share_their_system_prompt_only() {
        let t = trace(
            "shared-prefix --groups 3 --prompts-per-group 4 --system-tokens 100 --question-tokens 20 --output-tokens 9",
        );
        assert_eq!(t.len(), 12);
        let system = |r: &TraceRequest| r.messages.as_ref().unwrap()[0].content.clone();
        for r in &t {
            let peers: Vec<_> = t.iter().filter(|o| o.session == r.session).collect();
            assert_eq!(peers.len(), 4);
            assert!(peers.iter().all(|o| system(o) == system(r)));
            assert_eq!(r.max_tokens, 9);
            let tokens = kvlb_sim::tokenizer::tokenize(&system(r)).len();
            assert!((99..=102).contains(&tokens), "about 100 tokens: {tokens}");
        }
        let distinct: std::collections::HashSet<_> = t.iter().map(system).collect();
        assert_eq!(distinct.len(), 3);
    }

    #[test]
    fn multi_model_uses_base_and_adapters_with_objectives() {
        let t = trace("multi-model --requests 400 --model base --adapters x,y");
        let count = |m: &str| t.iter().filter(|r| r.model == m).count();
        assert!(
            count("base") > 100 && count("x") > count("y") && count("y") > 20,
            "{} {} {}",
            count("base"),
            count("x"),
            count("y")
        );
        assert!(t.iter().all(|r| r.objective.as_deref()
            == Some(if r.model == "base" {
                "interactive"
            } else {
                "batch"
            })));
    }

    #[test]
    fn bad_flags_name_the_flag() {
        let cli = Cli::try_parse_from(["gen", "bursty", "--qps", "0"]).unwrap();
        assert!(
            cli.workload
                .generate()
                .unwrap_err()
                .to_string()
                .contains("--qps")
        );
        let cli = Cli::try_parse_from(["gen", "shared-prefix", "--groups", "0"]).unwrap();
        assert!(
            cli.workload
                .generate()
                .unwrap_err()
                .to_string()
                .contains("--groups")
        );
    }
}
