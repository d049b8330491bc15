//! The egress table: external model providers (OpenAI-compatible APIs and
//! Anthropic's Messages API) the L7 proxy sends requests to, and per model
//! the order in which providers and a local pool are tried. It carries where
//! each provider's API key is (a file or an environment variable of the
//! proxy), never the key itself.

use std::{
    collections::{BTreeMap, HashSet},
    path::PathBuf,
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::table::{Invalid, PoolSpec};

/// The provider's API, which decides how requests are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenAI-compatible API: requests are passed through (the model name
    /// mapped, streaming usage asked for).
    Openai,
    /// Anthropic's Messages API: chat completions are translated both ways.
    Anthropic,
}

/// Where the proxy finds a provider's API key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// A file holding the key (a mounted Kubernetes Secret); surrounding
    /// whitespace is ignored, and the file is re-read when it changes.
    File(PathBuf),
    /// An environment variable of the proxy process.
    Env(String),
}

/// A model a provider serves: the name clients ask for, and the provider's
/// own name for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderModel {
    /// The `model` clients send.
    pub name: String,
    /// The `model` the provider gets.
    pub upstream: String,
}

/// One external provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSpec {
    /// Unique among providers and pools.
    pub name: String,
    /// Its API.
    pub kind: ProviderKind,
    /// `http(s)://host[:port][/path]`: the OpenAI kind appends
    /// `/chat/completions` (so `https://api.openai.com/v1`), the Anthropic
    /// kind `/v1/messages` (so `https://api.anthropic.com`).
    pub base_url: String,
    /// Where the key is; `None` sends no credentials (OpenAI kind only).
    pub api_key: Option<KeySource>,
    /// Time allowed for the response headers, and between two streamed events.
    pub timeout: Duration,
    /// Further attempts on the same provider after a 429, a 5xx, a connect
    /// failure or a timeout.
    pub retries: u32,
    /// The most time spent waiting between attempts, Retry-After included.
    pub retry_budget: Duration,
    /// Anthropic: `max_tokens` for requests that set none (it is required there).
    pub max_tokens: u32,
    /// The models it serves.
    pub models: Vec<ProviderModel>,
}

/// One step of a model's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// An external provider, by name.
    Provider(String),
    /// The local pools serving the model (always last), by the name of one.
    Pool(String),
}

/// Providers and the per-model order of targets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressTable {
    /// The providers, in source order.
    pub providers: Vec<ProviderSpec>,
    /// Model → target names in the order tried; needed for a model that more
    /// than one provider, or a provider and a pool, serve.
    pub fallbacks: BTreeMap<String, Vec<String>>,
}

impl EgressTable {
    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&ProviderSpec> {
        self.providers.iter().find(|p| p.name == name)
    }

    /// The targets tried for `model`, in order; empty when no provider
    /// serves it (pools alone do, or nothing does).
    pub fn chain(&self, model: &str) -> Vec<Target> {
        match self.fallbacks.get(model) {
            Some(chain) => chain
                .iter()
                .map(|n| if self.provider(n).is_some() { Target::Provider(n.clone()) } else { Target::Pool(n.clone()) })
                .collect(),
            // Validation allows no other target beside a lone provider.
            None => self.serving(model).map(|p| Target::Provider(p.name.clone())).collect(),
        }
    }

    /// Every model name a provider serves, sorted and deduplicated.
    pub fn model_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.providers.iter().flat_map(|p| p.models.iter().map(|m| m.name.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn serving<'a>(&'a self, model: &'a str) -> impl Iterator<Item = &'a ProviderSpec> + 'a {
        self.providers.iter().filter(move |p| p.models.iter().any(|m| m.name == model))
    }

    /// Checks the providers against each other and against `pools`; returns
    /// the first problem, located by field.
    pub fn validate(&self, pools: &[PoolSpec]) -> Result<(), Invalid> {
        let pool_names: HashSet<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        let mut names = HashSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = |field: &str| format!("providers[{i}].{field}");
            crate::table::validate_name(&p.name).map_err(|problem| invalid(at("name"), problem))?;
            if pool_names.contains(p.name.as_str()) || !names.insert(p.name.as_str()) {
                return Err(invalid(at("name"), format!("{:?} is already the name of a provider or a pool", p.name)));
            }
            validate_provider(p).map_err(|(field, problem)| invalid(at(field), problem))?;
            let mut served = HashSet::new();
            for (m, model) in p.models.iter().enumerate() {
                let at = |field: &str| format!("providers[{i}].models[{m}]{field}");
                if !valid_model_name(&model.name) {
                    return Err(invalid(at(""), "a model name must be 1-256 characters"));
                }
                if !valid_model_name(&model.upstream) {
                    return Err(invalid(at(".upstream"), "a model name must be 1-256 characters"));
                }
                if !served.insert(model.name.as_str()) {
                    return Err(invalid(at(""), format!("duplicate model {:?}", model.name)));
                }
            }
        }
        let mut models: Vec<&str> = self.model_names();
        models.extend(self.fallbacks.keys().map(String::as_str));
        models.sort_unstable();
        models.dedup();
        for model in models {
            self.validate_chain(model, pools)?;
        }
        Ok(())
    }

    fn validate_chain(&self, model: &str, pools: &[PoolSpec]) -> Result<(), Invalid> {
        let at = format!("fallbacks.{model}");
        let providers: Vec<&str> = self.serving(model).map(|p| p.name.as_str()).collect();
        let serving_pools: Vec<&str> = pools.iter().filter(|p| serves_pool(p, model)).map(|p| p.name.as_str()).collect();
        let Some(chain) = self.fallbacks.get(model) else {
            if providers.len() > 1 || (!providers.is_empty() && !serving_pools.is_empty()) {
                let all: Vec<&str> = providers.iter().chain(&serving_pools).copied().collect();
                return Err(invalid(at, format!("{model:?} is served by {}: list the order to try them in", all.join(", "))));
            }
            return Ok(());
        };
        if providers.is_empty() {
            return Err(invalid(at, format!("no provider serves {model:?}")));
        }
        let mut seen = HashSet::new();
        for (i, name) in chain.iter().enumerate() {
            let at = format!("fallbacks.{model}[{i}]");
            if !seen.insert(name.as_str()) {
                return Err(invalid(at, format!("{name:?} is listed twice")));
            }
            if self.provider(name).is_some() {
                if !providers.contains(&name.as_str()) {
                    return Err(invalid(at, format!("provider {name:?} does not serve {model:?} (add it to its models)")));
                }
            } else if pools.iter().any(|p| p.name == *name) {
                if !serving_pools.contains(&name.as_str()) {
                    return Err(invalid(at, format!("pool {name:?} does not serve {model:?} (add it to its models)")));
                }
                if i + 1 != chain.len() {
                    return Err(invalid(at, format!("pool {name:?} must come last: a local pool is the end of the chain")));
                }
            } else {
                return Err(invalid(at, format!("{name:?} is neither a provider nor a pool")));
            }
        }
        if let Some(missing) = providers.iter().find(|p| !seen.contains(*p)) {
            return Err(invalid(at, format!("provider {missing:?} serves {model:?} but is not listed")));
        }
        if !serving_pools.is_empty() && !serving_pools.iter().any(|p| seen.contains(p)) {
            return Err(invalid(at, format!("pool {} serves {model:?} but is not listed", serving_pools[0])));
        }
        Ok(())
    }
}

fn serves_pool(pool: &PoolSpec, model: &str) -> bool {
    pool.models.iter().chain(&pool.adapters).any(|m| m == model)
}

fn valid_model_name(name: &str) -> bool {
    !name.trim().is_empty() && name.len() <= 256
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), problem: problem.into() }
}

fn validate_provider(p: &ProviderSpec) -> Result<(), (&'static str, String)> {
    check_base_url(&p.base_url).map_err(|problem| ("base_url", problem))?;
    match &p.api_key {
        None if p.kind == ProviderKind::Anthropic => {
            return Err(("api_key_file", "an anthropic provider needs api_key_file or api_key_env".into()));
        }
        Some(KeySource::File(path)) if !path.is_absolute() => {
            return Err(("api_key_file", format!("{} must be an absolute path", path.display())));
        }
        Some(KeySource::Env(var)) if !valid_env_name(var) => {
            return Err(("api_key_env", format!("{var:?} is not an environment variable name")));
        }
        _ => {}
    }
    if p.timeout.is_zero() || p.timeout > Duration::from_secs(3600) {
        return Err(("timeout_ms", format!("{} is out of range 1..=3600000", p.timeout.as_millis())));
    }
    if p.retries > 10 {
        return Err(("retries", format!("{} is out of range 0..=10", p.retries)));
    }
    if p.retry_budget > Duration::from_secs(600) {
        return Err(("retry_budget_ms", format!("{} is out of range 0..=600000", p.retry_budget.as_millis())));
    }
    if p.max_tokens == 0 {
        return Err(("max_tokens", "0 is out of range 1..".into()));
    }
    if p.models.is_empty() {
        return Err(("models", "a provider must serve at least one model".into()));
    }
    Ok(())
}

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a base URL: http or https, a host, no credentials, query or
/// fragment (a URL is never where a key goes).
fn check_base_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!("{url:?} must start with https:// or http://"));
    }
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err("the URL must not carry credentials: use api_key_file or api_key_env".into());
    }
    if authority.host().is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    if uri.query().is_some() || url.contains('#') {
        return Err(format!("{url:?} must not have a query or a fragment"));
    }
    Ok(())
}
