//! LoRA adapter slots: at most `max_loras` adapters on the GPU at once.
//!
//! Admitting a request whose adapter is not loaded loads it into a free slot,
//! or into the slot of the least recently used adapter no running request
//! needs. When every slot serves running requests, the request waits and the
//! scheduler looks further down the queue, as vLLM's scheduler does.

/// What admitting a request with a given adapter takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoraPlan {
    /// The adapter is loaded.
    Resident,
    /// Load it, evicting the adapter in `evict` first if set.
    Load { evict: Option<usize> },
    /// No slot can be freed now.
    Wait,
}

/// Loaded adapters, least recently used first.
#[derive(Debug)]
pub(crate) struct LoraSlots {
    max_loras: usize,
    loaded: Vec<usize>,
}

impl LoraSlots {
    pub(crate) fn new(max_loras: usize) -> Self {
        Self {
            max_loras,
            loaded: Vec::with_capacity(max_loras),
        }
    }

    /// Loaded adapters, least recently used first.
    pub(crate) fn loaded(&self) -> &[usize] {
        &self.loaded
    }

    /// Plans admitting `adapter`; `in_use[a]` tells whether a running request
    /// uses adapter `a`.
    pub(crate) fn plan(&self, adapter: usize, in_use: &[bool]) -> LoraPlan {
        if self.loaded.contains(&adapter) {
            LoraPlan::Resident
        } else if self.loaded.len() < self.max_loras {
            LoraPlan::Load { evict: None }
        } else {
            match self.loaded.iter().find(|&&a| !in_use[a]) {
                Some(&victim) => LoraPlan::Load {
                    evict: Some(victim),
                },
                None => LoraPlan::Wait,
            }
        }
    }

    /// Carries out a plan for an admitted request and marks the adapter used.
    pub(crate) fn commit(&mut self, adapter: usize, plan: LoraPlan) {
        if let LoraPlan::Load {
            evict: Some(victim),
        } = plan
        {
            self.loaded.retain(|&a| a != victim);
        }
        self.loaded.retain(|&a| a != adapter);
        self.loaded.push(adapter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_every_slot_is_busy() {
        let mut slots = LoraSlots::new(1);
        let plan = slots.plan(0, &[false, false]);
        assert_eq!(plan, LoraPlan::Load { evict: None });
        slots.commit(0, plan);
        assert_eq!(slots.plan(0, &[true, false]), LoraPlan::Resident);
        assert_eq!(slots.plan(1, &[true, false]), LoraPlan::Wait);
        let plan = slots.plan(1, &[false, false]);
        assert_eq!(plan, LoraPlan::Load { evict: Some(0) });
        slots.commit(1, plan);
        assert_eq!(slots.loaded(), [1]);
    }
}
