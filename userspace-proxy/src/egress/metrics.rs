//! The egress series, registered in the proxy's registry: attempts per
//! provider and status, fallbacks, and the tokens each reply reports, by
//! model, provider and kind — what a spend layer above meters.

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::usage::TokenUsage;

type Labels = Vec<(&'static str, String)>;

/// The egress families.
#[derive(Clone, Default)]
pub struct ProviderMetrics {
    requests: Family<Labels, Counter>,
    fallbacks: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
}

impl ProviderMetrics {
    /// Creates the families and registers them in `registry` (prefix
    /// `kvlb_proxy`).
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "provider_requests",
            "Attempts sent to external providers, by model, provider and status (error: no HTTP answer)",
            m.requests.clone(),
        );
        registry.register("provider_fallbacks", "Requests moved past a failed provider to the next target of their chain", m.fallbacks.clone());
        registry.register(
            "provider_tokens",
            "Tokens external providers report, by model, provider and kind (prompt includes cache_read and cache_creation)",
            m.tokens.clone(),
        );
        m
    }

    /// Counts one attempt; `status` is the HTTP status or `error`.
    pub fn attempt(&self, model: &str, provider: &str, status: &str) {
        self.requests.get_or_create(&vec![("model", model.to_owned()), ("provider", provider.to_owned()), ("status", status.to_owned())]).inc();
    }

    /// Counts a move from `provider` to the next target.
    pub fn fell_back(&self, model: &str, provider: &str) {
        self.fallbacks.get_or_create(&vec![("model", model.to_owned()), ("provider", provider.to_owned())]).inc();
    }

    /// Adds a reply's tokens.
    pub fn tokens(&self, model: &str, provider: &str, usage: &TokenUsage) {
        for (kind, n) in [("prompt", usage.prompt), ("completion", usage.completion), ("cache_read", usage.cache_read), ("cache_creation", usage.cache_creation)] {
            self.tokens.get_or_create(&vec![("model", model.to_owned()), ("provider", provider.to_owned()), ("kind", kind.to_owned())]).inc_by(n);
        }
    }
}
