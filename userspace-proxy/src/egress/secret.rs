//! Provider API keys: a [`Secret`] that never prints, and the [`KeyStore`]
//! that reads each provider's key from its file or the environment, caching
//! it briefly so a rotated Secret is picked up without a read per request.

use std::{
    collections::HashMap,
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use kvlb_agent::egress::{KeySource, ProviderSpec};

/// How long a key read from a file or the environment is reused.
const KEY_TTL: Duration = Duration::from_secs(5);

/// A value that must not be shown: Debug and Display print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a key.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The key itself, for the one header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `[redacted]`
    /// (a provider may quote the key it was sent in an error message).
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() { text.to_owned() } else { text.replace(&self.0, "[redacted]") }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a provider's key cannot be had (names where it was looked for, never
/// the key).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("api_key_file {path}: {error}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The variable is unset or not UTF-8.
    #[error("api_key_env {0} is not set")]
    Env(String),
    /// The file or variable is empty.
    #[error("the API key from {0} is empty")]
    Empty(String),
}

/// Keys by provider, read on demand and cached for [`KEY_TTL`].
#[derive(Default)]
pub struct KeyStore {
    cache: Mutex<HashMap<KeySource, (Secret, Instant)>>,
}

impl KeyStore {
    /// The key of `provider`; `Ok(None)` for a provider configured without
    /// one.
    pub fn get(&self, provider: &ProviderSpec) -> Result<Option<Secret>, KeyError> {
        let Some(source) = &provider.api_key else { return Ok(None) };
        if let Some((key, at)) = self.cache.lock().expect("key cache").get(source)
            && at.elapsed() < KEY_TTL
        {
            return Ok(Some(key.clone()));
        }
        let key = read(source)?;
        self.cache.lock().expect("key cache").insert(source.clone(), (key.clone(), Instant::now()));
        Ok(Some(key))
    }
}

fn read(source: &KeySource) -> Result<Secret, KeyError> {
    let (value, from) = match source {
        KeySource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|error| KeyError::File { path: path.display().to_string(), error })?;
            (text, format!("api_key_file {}", path.display()))
        }
        KeySource::Env(var) => (std::env::var(var).map_err(|_| KeyError::Env(var.clone()))?, format!("api_key_env {var}")),
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(KeyError::Empty(from));
    }
    Ok(Secret::new(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_and_is_redacted_from_text() {
        let s = Secret::new("sk-live-123".into());
        assert_eq!((format!("{s}"), format!("{s:?}")), ("[redacted]".to_owned(), "[redacted]".to_owned()));
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert_eq!(s.redact("Incorrect API key provided: sk-live-123."), "Incorrect API key provided: [redacted].");
    }

    #[test]
    fn keys_come_from_files_trimmed_and_errors_name_the_source_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  sk-file-key\n").unwrap();
        let mut spec: ProviderSpec = serde_json::from_value(serde_json::json!({
            "name": "p", "kind": "openai", "base_url": "http://127.0.0.1:9", "api_key": { "file": path },
            "timeout": { "secs": 1, "nanos": 0 }, "retries": 0, "retry_budget": { "secs": 0, "nanos": 0 },
            "max_tokens": 1, "models": []
        }))
        .unwrap();
        let keys = KeyStore::default();
        assert_eq!(keys.get(&spec).unwrap().unwrap().expose(), "sk-file-key");
        spec.api_key = Some(KeySource::Env("KVLB_TEST_UNSET_KEY_VAR".into()));
        assert_eq!(keys.get(&spec).unwrap_err().to_string(), "api_key_env KVLB_TEST_UNSET_KEY_VAR is not set");
        spec.api_key = None;
        assert!(keys.get(&spec).unwrap().is_none());
    }
}
