//! Token usage in one shape for both providers, as OpenAI counts it: the
//! prompt includes the tokens read from and written to the provider's
//! prompt cache.

use serde::Deserialize;

/// One reply's tokens.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TokenUsage {
    /// Every prompt token (cache reads and writes included).
    pub prompt: u64,
    /// Generated tokens.
    pub completion: u64,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation: u64,
}

/// An OpenAI `usage` object (the fields metering reads).
#[derive(Debug, Default, Deserialize)]
pub struct OpenAiUsage {
    /// Prompt tokens, cached included.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Generated tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Details of the prompt.
    #[serde(default)]
    pub prompt_tokens_details: Option<OpenAiPromptDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Default, Deserialize)]
pub struct OpenAiPromptDetails {
    /// Prompt tokens served from the cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

impl From<&OpenAiUsage> for TokenUsage {
    fn from(u: &OpenAiUsage) -> Self {
        Self {
            prompt: u.prompt_tokens,
            completion: u.completion_tokens,
            cache_read: u.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens).unwrap_or(0),
            cache_creation: 0,
        }
    }
}

/// Reads `usage` from an OpenAI reply or stream chunk, if it has one.
pub fn openai_usage(json: &[u8]) -> Option<TokenUsage> {
    #[derive(Deserialize)]
    struct WithUsage {
        usage: Option<OpenAiUsage>,
    }
    serde_json::from_slice::<WithUsage>(json).ok()?.usage.as_ref().map(TokenUsage::from)
}
