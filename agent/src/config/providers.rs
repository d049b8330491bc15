//! The `providers:` entries of the pool file and their conversion into the
//! egress table.
//!
//! ```yaml
//! providers:
//!   - name: openai
//!     kind: openai                    # openai (OpenAI-compatible, passed through) | anthropic (translated)
//!     base_url: https://api.openai.com/v1
//!     api_key_env: OPENAI_API_KEY     # or api_key_file: /var/run/secrets/openai/key
//!     timeout_ms: 60000               # response headers, and the gap between streamed events
//!     retries: 2                      # on 429, 5xx, connect failures and timeouts
//!     retry_budget_ms: 30000          # the most time spent waiting to retry
//!     models:
//!       - gpt-4o                      # served under its own name
//!       - name: fast                  # clients ask for `fast`,
//!         upstream: gpt-4o-mini       # the provider gets `gpt-4o-mini`
//!   - name: anthropic
//!     kind: anthropic
//!     base_url: https://api.anthropic.com
//!     api_key_file: /var/run/secrets/anthropic/key
//!     max_tokens: 4096                # when a request sets none (Anthropic requires it)
//!     models:
//!       - name: gpt-4o
//!         upstream: claude-sonnet-4-5
//! fallbacks:                          # per model, in order; a local pool can end a chain
//!   gpt-4o: [openai, anthropic, llama]
//! ```

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::egress::{KeySource, ProviderKind, ProviderModel, ProviderSpec};

/// `max_tokens` sent to Anthropic when a request sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderEntry {
    name: String,
    kind: ProviderKind,
    base_url: String,
    api_key_file: Option<PathBuf>,
    api_key_env: Option<String>,
    /// Present only to refuse it with a useful message.
    api_key: Option<serde::de::IgnoredAny>,
    #[serde(default = "default_timeout_ms")]
    timeout_ms: u64,
    #[serde(default = "default_retries")]
    retries: u32,
    #[serde(default = "default_retry_budget_ms")]
    retry_budget_ms: u64,
    #[serde(default = "default_max_tokens")]
    max_tokens: u32,
    #[serde(default)]
    models: Vec<ModelEntry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelEntry {
    Same(String),
    Mapped(MappedModel),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MappedModel {
    name: String,
    upstream: String,
}

fn default_timeout_ms() -> u64 {
    60_000
}

fn default_retries() -> u32 {
    2
}

fn default_retry_budget_ms() -> u64 {
    30_000
}

fn default_max_tokens() -> u32 {
    DEFAULT_MAX_TOKENS
}

impl ProviderEntry {
    /// The spec, or the field and problem that prevent it.
    pub(super) fn into_spec(self) -> Result<ProviderSpec, (&'static str, String)> {
        if self.api_key.is_some() {
            return Err(("api_key", "a key never goes in the pool file: use api_key_file (a mounted Secret) or api_key_env".into()));
        }
        let api_key = match (self.api_key_file, self.api_key_env) {
            (Some(_), Some(_)) => return Err(("api_key_env", "give api_key_file or api_key_env, not both".into())),
            (Some(file), None) => Some(KeySource::File(file)),
            (None, Some(var)) => Some(KeySource::Env(var)),
            (None, None) => None,
        };
        Ok(ProviderSpec {
            name: self.name,
            kind: self.kind,
            base_url: self.base_url.trim_end_matches('/').to_owned(),
            api_key,
            timeout: Duration::from_millis(self.timeout_ms),
            retries: self.retries,
            retry_budget: Duration::from_millis(self.retry_budget_ms),
            max_tokens: self.max_tokens,
            models: self
                .models
                .into_iter()
                .map(|m| match m {
                    ModelEntry::Same(name) => ProviderModel { upstream: name.clone(), name },
                    ModelEntry::Mapped(m) => ProviderModel { name: m.name, upstream: m.upstream },
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests;
