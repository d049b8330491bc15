//! The engine's state (vLLM's `EngineCore` + `Scheduler`) and admission.

use std::collections::VecDeque;

use rand::{SeedableRng, rngs::StdRng};
use rand_distr::{Distribution, LogNormal};
use tokio::sync::mpsc;

use super::{
    config::EngineConfig,
    lora::LoraSlots,
    request::{GenerateRequest, RequestStream, SubmitError},
    sequence::Sequence,
    stats::EngineStats,
};
use crate::kv_cache::BlockPool;

/// Everything behind the engine lock.
#[derive(Debug)]
pub(crate) struct EngineCore {
    pub(crate) config: EngineConfig,
    pub(crate) pool: BlockPool,
    pub(crate) waiting: VecDeque<Sequence>,
    pub(crate) running: Vec<Sequence>,
    pub(crate) loras: LoraSlots,
    pub(crate) stats: EngineStats,
    /// Model time at which the last step ended.
    pub(crate) time: f64,
    pub(crate) steps: u64,
    next_id: u64,
    rng: StdRng,
    output_len: LogNormal<f64>,
}

impl EngineCore {
    /// Builds the state of an idle replica. The config must be valid.
    pub(crate) fn new(config: EngineConfig) -> Self {
        let blocks = u32::try_from(config.num_gpu_blocks).unwrap_or(u32::MAX);
        let output_len = LogNormal::new(config.output_len.median.ln(), config.output_len.sigma)
            .unwrap_or_else(|_| LogNormal::new(0.0, 0.0).expect("sigma 0 is valid"));
        Self {
            pool: BlockPool::new(blocks, config.block_size),
            loras: LoraSlots::new(config.max_loras),
            rng: StdRng::seed_from_u64(config.seed),
            output_len,
            config,
            waiting: VecDeque::new(),
            running: Vec::new(),
            stats: EngineStats::default(),
            time: 0.0,
            steps: 0,
            next_id: 0,
        }
    }

    /// Checks a request and queues it at model time `now`.
    pub(crate) fn submit(
        &mut self,
        request: GenerateRequest,
        now: f64,
    ) -> Result<RequestStream, SubmitError> {
        let prompt_tokens = request.prompt.len();
        if prompt_tokens == 0 {
            return Err(SubmitError::EmptyPrompt);
        }
        let max_model_len = self.config.effective_max_model_len();
        let max_tokens = request
            .max_tokens
            .unwrap_or(max_model_len.saturating_sub(prompt_tokens));
        if request.max_tokens == Some(0) {
            return Err(SubmitError::ZeroMaxTokens);
        }
        let total = prompt_tokens.saturating_add(max_tokens);
        if max_tokens == 0 || total > max_model_len {
            return Err(SubmitError::ContextTooLong {
                max_model_len,
                total,
                prompt_tokens,
                max_tokens,
            });
        }
        let lora = match request.lora {
            None => None,
            Some(name) => match self.config.lora_index(&name) {
                Some(index) => Some((index, name)),
                None => return Err(SubmitError::UnknownAdapter(name.to_string())),
            },
        };
        if self.waiting.len() >= self.config.max_waiting {
            self.stats.rejected += 1;
            return Err(SubmitError::QueueFull(self.config.max_waiting));
        }
        let mut rng = match request.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::seed_from_u64(rand::Rng::random(&mut self.rng)),
        };
        let target_len = match request.ignore_eos {
            true => max_tokens,
            false => (self.output_len.sample(&mut rng).round() as usize).clamp(1, max_tokens),
        };
        let id = self.next_id;
        self.next_id += 1;
        let (sink, events) = mpsc::unbounded_channel();
        let mut tokens = request.prompt;
        tokens.reserve_exact(target_len);
        self.waiting.push_back(Sequence {
            id,
            tokens,
            prompt_len: prompt_tokens,
            target_len,
            max_tokens,
            computed: 0,
            scheduled: 0,
            blocks: Vec::new(),
            hashes: Vec::new(),
            stored_blocks: 0,
            lora,
            cached_tokens: None,
            preemptions: 0,
            text_seed: rand::Rng::random(&mut rng),
            arrival: now,
            first_scheduled: None,
            last_token_at: None,
            sink,
        });
        Ok(RequestStream {
            id,
            prompt_tokens,
            events,
        })
    }

    /// Tokens of the longest cached prefix of `tokens` (whole blocks).
    pub(crate) fn cached_prefix_tokens(&self, tokens: &[u32], lora: Option<&str>) -> usize {
        if !self.config.enable_prefix_caching {
            return 0;
        }
        let block_size = self.pool.block_size();
        let hits = crate::kv_cache::block_hashes(tokens, block_size, lora)
            .iter()
            .take_while(|&&h| self.pool.lookup(h).is_some())
            .count();
        hits * block_size
    }

    /// Frees a sequence's blocks, last block first so that a prefix's tail is
    /// evicted before its head.
    pub(crate) fn free_blocks(pool: &mut BlockPool, seq: &mut Sequence) {
        for block in seq.blocks.drain(..).rev() {
            pool.release(block);
        }
        seq.computed = 0;
        seq.scheduled = 0;
        seq.stored_blocks = 0;
    }
}
