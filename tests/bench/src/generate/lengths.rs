//! ShareGPT-like request lengths, synthetic and seeded: log-normal input and
//! output token counts, clamped. The defaults follow the shape of ShareGPT
//! conversations (a few hundred prompt tokens with a long tail, a median
//! answer of ~180 tokens as in the simulator's own output-length model),
//! scaled down for a 2-core machine.

use rand::rngs::StdRng;
use rand_distr::{Distribution, LogNormal};

/// Input and output length distributions.
#[derive(Debug, Clone, clap::Args)]
pub struct Lengths {
    /// Median prompt length, tokens.
    #[arg(long, default_value_t = 256.0)]
    pub input_median: f64,
    /// Log-normal sigma of the prompt length.
    #[arg(long, default_value_t = 0.8)]
    pub input_sigma: f64,
    /// Longest prompt, tokens.
    #[arg(long, default_value_t = 2048)]
    pub input_max: usize,
    /// Median output length, tokens.
    #[arg(long, default_value_t = 128.0)]
    pub output_median: f64,
    /// Log-normal sigma of the output length.
    #[arg(long, default_value_t = 0.7)]
    pub output_sigma: f64,
    /// Longest output, tokens.
    #[arg(long, default_value_t = 512)]
    pub output_max: usize,
}

/// Seeded samplers for [`Lengths`].
pub struct LengthSampler {
    input: LogNormal<f64>,
    output: LogNormal<f64>,
    input_max: usize,
    output_max: usize,
}

impl Lengths {
    /// Checks the flags; errors name the flag.
    pub fn sampler(&self) -> anyhow::Result<LengthSampler> {
        let dist = |median: f64, sigma: f64, flag: &str| {
            anyhow::ensure!(
                median >= 1.0 && median.is_finite(),
                "--{flag}-median must be at least 1, got {median}"
            );
            anyhow::ensure!(
                (0.0..=4.0).contains(&sigma),
                "--{flag}-sigma must be within 0..=4, got {sigma}"
            );
            Ok(LogNormal::new(median.ln(), sigma)?)
        };
        anyhow::ensure!(self.input_max >= 1, "--input-max must be at least 1");
        anyhow::ensure!(self.output_max >= 1, "--output-max must be at least 1");
        Ok(LengthSampler {
            input: dist(self.input_median, self.input_sigma, "input")?,
            output: dist(self.output_median, self.output_sigma, "output")?,
            input_max: self.input_max,
            output_max: self.output_max,
        })
    }
}

impl LengthSampler {
    /// One `(prompt tokens, output tokens)` pair.
    pub fn sample(&self, rng: &mut StdRng) -> (usize, u32) {
        let clamp = |x: f64, max: usize| (x.round() as usize).clamp(1, max);
        let input = clamp(self.input.sample(rng), self.input_max);
        let output = clamp(self.output.sample(rng), self.output_max);
        (input, output as u32)
    }
}
