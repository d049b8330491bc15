//! inference-perf's `shared_prefix` shape, scaled: `groups` system prompts
//! of `system_tokens` each, `prompts_per_group` distinct questions of
//! `question_tokens` per group, every request asking for `output_tokens`.
//! Requests come in a seeded random order (each group's prompts are spread
//! over the run), Poisson arrivals, `session` = the group.

use rand::seq::SliceRandom;

use super::{Common, arrivals, text};
use crate::trace::{Message, TraceRequest};

/// `shared-prefix` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct SharedPrefix {
    /// Seed, model, rate.
    #[command(flatten)]
    pub common: Common,
    /// Number of distinct system prompts.
    #[arg(long, default_value_t = 32)]
    pub groups: usize,
    /// Questions per system prompt.
    #[arg(long, default_value_t = 16)]
    pub prompts_per_group: usize,
    /// System prompt length, tokens.
    #[arg(long, default_value_t = 2048)]
    pub system_tokens: usize,
    /// Question length, tokens.
    #[arg(long, default_value_t = 128)]
    pub question_tokens: usize,
    /// Output tokens per request.
    #[arg(long, default_value_t = 128)]
    pub output_tokens: u32,
}

impl SharedPrefix {
    /// Generates the trace.
    pub fn generate(&self) -> anyhow::Result<Vec<TraceRequest>> {
        let mut rng = self.common.rng()?;
        for (value, flag) in [
            (self.groups, "--groups"),
            (self.prompts_per_group, "--prompts-per-group"),
            (self.system_tokens, "--system-tokens"),
            (self.question_tokens, "--question-tokens"),
            (self.output_tokens as usize, "--output-tokens"),
        ] {
            anyhow::ensure!(value >= 1, "{flag} must be at least 1");
        }
        let systems: Vec<String> = (0..self.groups)
            .map(|g| {
                format!(
                    "group {g}: {}",
                    text::words(&mut rng, self.system_tokens.saturating_sub(3).max(1))
                )
            })
            .collect();
        let mut order: Vec<(usize, usize)> = (0..self.groups)
            .flat_map(|g| (0..self.prompts_per_group).map(move |p| (g, p)))
            .collect();
        order.shuffle(&mut rng);
        let times = arrivals::poisson(&mut rng, order.len(), self.common.qps);
        Ok(order
            .into_iter()
            .zip(times)
            .map(|((g, p), t_ms)| TraceRequest {
                t_ms,
                model: self.common.model.clone(),
                messages: Some(vec![
                    Message {
                        role: "system".into(),
                        content: systems[g].clone(),
                    },
                    Message {
                        role: "user".into(),
                        content: format!(
                            "question {p}: {}",
                            text::words(&mut rng, self.question_tokens.saturating_sub(3).max(1))
                        ),
                    },
                ]),
                prompt: None,
                max_tokens: self.output_tokens,
                objective: None,
                session: Some(format!("group-{g}")),
            })
            .collect())
    }
}
