//! One engine step, following vLLM V1's scheduler.
//!
//! `schedule` first gives every running request its next tokens (a decode
//! token, or the next prefill chunk), preempting the most recently admitted
//! request by recompute whenever blocks run out. Then, unless that preempted
//! something, it admits waiting requests in FIFO order while the token budget,
//! `max_num_seqs` and free blocks allow, reusing cached prefix blocks.
//! `finish_step` applies the step: KV computed, full blocks cached, one token
//! sampled for every request that reached the end of its known tokens.

use super::{
    core::EngineCore,
    lora::LoraPlan,
    request::{FinishReason, TokenEvent, Usage},
    sequence::Sequence,
};
use crate::profile::BatchShape;

impl EngineCore {
    /// Picks the next batch at model time `now`; `None` when there is no work.
    pub(crate) fn schedule(&mut self, now: f64) -> Option<BatchShape> {
        self.drop_cancelled();
        let mut budget = self.config.max_num_batched_tokens;
        let mut batch = BatchShape::default();
        let mut preempted = false;
        let mut i = 0;
        while i < self.running.len() && budget > 0 {
            let seq = &self.running[i];
            let n = (seq.num_tokens() - seq.computed).min(budget);
            if self.grow(i, n) {
                let seq = &mut self.running[i];
                seq.scheduled = n;
                batch.add(seq.computed, n);
                budget -= n;
                i += 1;
                continue;
            }
            let victim = self.running.len() - 1;
            self.preempt(victim);
            preempted = true;
        }
        // After a preemption vLLM admits nothing new that step, unless the
        // batch ended up empty.
        if !preempted || batch.seqs == 0 {
            self.admit_waiting(now, budget, &mut batch);
        }
        (batch.seqs > 0).then_some(batch)
    }

    /// Allocates blocks so running request `i` can compute `n` more tokens.
    fn grow(&mut self, i: usize, n: usize) -> bool {
        let block_size = self.pool.block_size();
        let seq = &self.running[i];
        let need = (seq.computed + n)
            .div_ceil(block_size)
            .saturating_sub(seq.blocks.len());
        if need > self.pool.num_free() {
            return false;
        }
        for _ in 0..need {
            let block = self.pool.allocate().expect("checked free blocks");
            self.running[i].blocks.push(block);
        }
        true
    }

    /// Preempts running request `i` by recompute: it loses its blocks and goes
    /// back to the front of the waiting queue.
    fn preempt(&mut self, i: usize) {
        let mut seq = self.running.remove(i);
        Self::free_blocks(&mut self.pool, &mut seq);
        seq.preemptions += 1;
        self.stats.preemptions += 1;
        self.waiting.push_front(seq);
    }

    fn admit_waiting(&mut self, now: f64, mut budget: usize, batch: &mut BatchShape) {
        let block_size = self.pool.block_size();
        let mut in_use = vec![false; self.config.lora_adapters.len()];
        for (adapter, _) in self.running.iter().filter_map(|s| s.lora.as_ref()) {
            in_use[*adapter] = true;
        }
        let mut w = 0;
        while w < self.waiting.len() && budget > 0 && self.running.len() < self.config.max_num_seqs
        {
            let seq = &mut self.waiting[w];
            // A step starting at `now` cannot include a request that arrives
            // later (model time may trail the wall clock by a timer tick).
            if seq.arrival > now {
                break;
            }
            let lora_plan = seq
                .lora
                .as_ref()
                .map(|(a, _)| (*a, self.loras.plan(*a, &in_use)));
            if let Some((_, LoraPlan::Wait)) = lora_plan {
                w += 1;
                continue;
            }
            seq.update_hashes(block_size);
            let hits = match self.config.enable_prefix_caching {
                true => self.cached_prefix(&self.waiting[w]),
                false => Vec::new(),
            };
            let seq = &self.waiting[w];
            let hit_tokens = hits.len() * block_size;
            let n = (seq.num_tokens() - hit_tokens).min(budget);
            let need = (hit_tokens + n).div_ceil(block_size) - hits.len();
            let evictable = hits.iter().filter(|&&b| self.pool.is_free(b)).count();
            if need + evictable > self.pool.num_free() {
                break;
            }
            let mut seq = self.waiting.remove(w).expect("index checked");
            for &block in &hits {
                self.pool.acquire(block);
            }
            seq.blocks = hits;
            seq.stored_blocks = seq.blocks.len();
            seq.blocks
                .extend((0..need).map(|_| self.pool.allocate().expect("checked free blocks")));
            seq.computed = hit_tokens;
            seq.cached_tokens.get_or_insert(hit_tokens);
            seq.first_scheduled.get_or_insert(now);
            seq.scheduled = n;
            self.stats.prefix_cache_queries += seq.num_tokens() as u64;
            self.stats.prefix_cache_hits += hit_tokens as u64;
            if let Some((adapter, plan)) = lora_plan {
                if matches!(plan, LoraPlan::Load { .. }) {
                    batch.lora_loads += 1;
                }
                self.loras.commit(adapter, plan);
                in_use[adapter] = true;
            }
            batch.add(seq.computed, n);
            budget -= n;
            self.running.push(seq);
        }
    }

    /// Cached blocks of the longest cached prefix of a waiting request,
    /// leaving at least its last token to compute (its logits are needed).
    fn cached_prefix(&self, seq: &Sequence) -> Vec<u32> {
        let max_blocks = (seq.num_tokens() - 1) / self.pool.block_size();
        seq.hashes
            .iter()
            .take(max_blocks)
            .map_while(|&h| self.pool.lookup(h))
            .collect()
    }

    /// Drops requests whose client went away, freeing their blocks.
    fn drop_cancelled(&mut self) {
        let pool = &mut self.pool;
        let mut aborted = 0;
        self.running.retain_mut(|seq| {
            let open = !seq.sink.is_closed();
            if !open {
                Self::free_blocks(pool, seq);
                aborted += 1;
            }
            open
        });
        self.waiting.retain(|seq| {
            let open = !seq.sink.is_closed();
            aborted += u64::from(!open);
            open
        });
        self.stats.aborted += aborted;
    }

    /// Applies the step that ends at model time `end`.
    pub(crate) fn finish_step(&mut self, end: f64) {
        self.time = end;
        self.steps += 1;
        let block_size = self.pool.block_size();
        let caching = self.config.enable_prefix_caching;
        let mut finished = 0;
        for seq in self.running.iter_mut().filter(|s| s.scheduled > 0) {
            seq.computed += seq.scheduled;
            seq.scheduled = 0;
            if caching {
                seq.update_hashes(block_size);
                let full = seq.computed / block_size;
                for b in seq.stored_blocks..full {
                    let parent = b.checked_sub(1).map(|p| seq.hashes[p]);
                    let tokens = &seq.tokens[b * block_size..(b + 1) * block_size];
                    let lora = seq.lora.as_ref().map(|(_, name)| name);
                    self.pool
                        .store(seq.blocks[b], seq.hashes[b], parent, tokens, lora);
                }
                seq.stored_blocks = seq.stored_blocks.max(full);
            }
            if seq.computed < seq.num_tokens() {
                continue;
            }
            let (text, id) = seq.next_token();
            seq.tokens.push(id);
            match seq.last_token_at {
                None => {
                    self.stats.ttft.observe(end - seq.arrival);
                    self.stats.prompt_tokens += seq.prompt_len as u64;
                    let queued = seq.first_scheduled.unwrap_or(end) - seq.arrival;
                    self.stats.queue_time.observe(queued);
                }
                Some(last) => self.stats.itl.observe(end - last),
            }
            seq.last_token_at = Some(end);
            self.stats.generated_token(end);
            let event = if seq.output_len() == seq.target_len {
                finished += 1;
                let reason = match seq.target_len == seq.max_tokens {
                    true => FinishReason::Length,
                    false => FinishReason::Stop,
                };
                let usage = Usage {
                    prompt_tokens: seq.prompt_len,
                    completion_tokens: seq.output_len(),
                    cached_tokens: seq.cached_tokens.unwrap_or(0),
                };
                TokenEvent::Finished {
                    text,
                    reason,
                    usage,
                }
            } else {
                TokenEvent::Token(text)
            };
            // A closed receiver is noticed by `drop_cancelled` next step.
            let _ = seq.sink.send(event);
        }
        if finished > 0 {
            self.retire_finished(end);
        }
    }

    fn retire_finished(&mut self, end: f64) {
        let pool = &mut self.pool;
        let stats = &mut self.stats;
        self.running.retain_mut(|seq| {
            if seq.output_len() < seq.target_len {
                return true;
            }
            Self::free_blocks(pool, seq);
            stats.e2e.observe(end - seq.arrival);
            match seq.target_len == seq.max_tokens {
                true => stats.finished_length += 1,
                false => stats.finished_stop += 1,
            }
            false
        });
    }
}

#[cfg(test)]
mod tests;
