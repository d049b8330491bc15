//! Egress to external providers: a model the pool file gives to providers
//! goes to them in its chain's order — an OpenAI-compatible API passed
//! through, or Anthropic's Messages API translated both ways — and, when a
//! chain ends with a local pool, back to the pool path. Provider keys are
//! read here and leave only in the one header that carries them.
//!
//! The URL of a call is the provider's configured base URL and a fixed path
//! per API: nothing from the request (the model name included) is ever part
//! of it, and redirects are not followed.
//!
//! - [`client`]: HTTPS, timeouts, retries with Retry-After.
//! - [`passthrough`]: OpenAI-compatible providers.
//! - [`anthropic`]: Anthropic's Messages API and the translation.
//! - [`chat`]: OpenAI's chat types. [`sse`]: streaming to the client.
//! - [`error`]: provider errors in OpenAI's format. [`secret`]: keys.
//! - [`usage`], [`metrics`]: token accounting per model and provider.

pub mod anthropic;
pub mod chat;
pub mod client;
pub mod error;
pub mod metrics;
pub mod passthrough;
pub mod secret;
pub mod sse;
pub mod usage;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use kvlb_agent::egress::{EgressTable, ProviderKind, ProviderSpec, Target};

use self::{
    client::{Call, Client},
    error::Failure,
    metrics::ProviderMetrics,
    secret::KeyStore,
};
use crate::{
    body::{self, ProxyBody},
    request::Api,
};

/// The most of a non-streamed provider reply read.
const MAX_REPLY: usize = 32 << 20;

/// The header that tells the client which provider answered.
pub const PROVIDER_HEADER: &str = "x-kvlb-provider";

/// Providers, their keys and connections.
pub struct Egress {
    client: Client,
    keys: KeyStore,
    metrics: ProviderMetrics,
}

impl Egress {
    /// Egress counting into `metrics`.
    pub fn new(metrics: ProviderMetrics) -> Self {
        Self { client: Client::default(), keys: KeyStore::default(), metrics }
    }

    /// Answers a request for `model` if providers serve it: `None` when none
    /// does, or when its chain reaches a local pool (the pool path goes on
    /// with the request unchanged).
    pub async fn route(&self, table: &EgressTable, api: Api, headers: &HeaderMap, model: &str, body: &Bytes) -> Option<Response<ProxyBody>> {
        let chain = table.chain(model);
        let mut last: Option<Failure> = None;
        for (i, target) in chain.iter().enumerate() {
            let provider = match target {
                Target::Pool(pool) => {
                    tracing::info!(model, pool = %pool, "every provider failed; falling back to the local pool");
                    return None;
                }
                Target::Provider(name) => table.provider(name)?,
            };
            match self.call(provider, api, headers, model, body).await {
                Ok(response) => return Some(response),
                Err(failure) => {
                    tracing::warn!(model, provider = %provider.name, "{}", failure.error.message);
                    let (fall_back, more) = (failure.fall_back, i + 1 < chain.len());
                    last = Some(failure);
                    if !(fall_back && more) {
                        break;
                    }
                    self.metrics.fell_back(model, &provider.name);
                }
            }
        }
        last.map(|f| f.error.into_response())
    }

    async fn call(&self, provider: &ProviderSpec, api: Api, headers: &HeaderMap, model: &str, body: &Bytes) -> Result<Response<ProxyBody>, Failure> {
        let upstream = provider.models.iter().find(|m| m.name == model).map_or(model, |m| m.upstream.as_str());
        let key = self.keys.get(provider).map_err(|e| {
            tracing::error!(provider = %provider.name, "cannot read the API key: {e}");
            Failure::no_key(&provider.name)
        })?;
        let created = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        let bad_key = |_| Failure::no_key(&provider.name);
        let on_end = {
            let (metrics, model, name) = (self.metrics.clone(), model.to_owned(), provider.name.clone());
            move |usage| metrics.tokens(&model, &name, &usage)
        };
        match provider.kind {
            ProviderKind::Openai => {
                let prepared = passthrough::prepare(api, body, upstream)?;
                let call = Call {
                    provider,
                    model,
                    url: format!("{}{}", provider.base_url, prepared.path),
                    headers: passthrough::headers(key.as_ref()).map_err(bad_key)?,
                    body: prepared.body,
                    key: key.as_ref(),
                };
                let response = self.client.send(&call, &self.metrics).await?;
                if prepared.stream {
                    return Ok(reply(&provider.name, "text/event-stream", sse::body(response, passthrough::PassthroughStream::default(), provider.timeout, on_end)));
                }
                let bytes = client::read_all(response, MAX_REPLY, provider.timeout).await.map_err(|e| Failure::malformed(&provider.name, &e))?;
                let usage = passthrough::reply_usage(&bytes).ok_or_else(|| Failure::malformed(&provider.name, "the reply is not a JSON object"))?;
                on_end(usage);
                Ok(reply(&provider.name, "application/json", body::full(bytes)))
            }
            ProviderKind::Anthropic => {
                if api != Api::Chat {
                    return Err(Failure::unsupported(format!("provider {} (anthropic) serves chat completions only", provider.name)));
                }
                let request = parse_chat(body)?;
                let stream = request.stream == Some(true);
                let translated = anthropic::request::translate(request, upstream, provider.max_tokens)?;
                let key = key.ok_or_else(|| Failure::no_key(&provider.name))?;
                let call = Call {
                    provider,
                    model,
                    url: format!("{}/v1/messages", provider.base_url),
                    headers: anthropic::headers(&key, headers).map_err(bad_key)?,
                    body: Bytes::from(serde_json::to_vec(&translated).expect("serialising to memory cannot fail")),
                    key: Some(&key),
                };
                let response = self.client.send(&call, &self.metrics).await?;
                if stream {
                    let translator = anthropic::stream::StreamTranslator::new(created, upstream);
                    return Ok(reply(&provider.name, "text/event-stream", sse::body(response, translator, provider.timeout, on_end)));
                }
                let bytes = client::read_all(response, MAX_REPLY, provider.timeout).await.map_err(|e| Failure::malformed(&provider.name, &e))?;
                let parsed = serde_json::from_slice(&bytes).map_err(|e| Failure::malformed(&provider.name, &e.to_string()))?;
                let (completion, usage) = anthropic::response::translate(parsed, created);
                on_end(usage);
                let json = serde_json::to_vec(&completion).expect("serialising to memory cannot fail");
                Ok(reply(&provider.name, "application/json", body::full(Bytes::from(json))))
            }
        }
    }
}

/// Reads a chat request for translation; what the typed view cannot read
/// is refused here (a later target may still take it).
fn parse_chat(body: &[u8]) -> Result<chat::ChatRequest, Failure> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| Failure::unsupported(format!("cannot translate `{}`: {}", e.path(), e.inner())))
}

fn reply(provider: &str, content_type: &'static str, body: ProxyBody) -> Response<ProxyBody> {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if content_type == "text/event-stream" {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if let Ok(value) = HeaderValue::from_str(provider) {
        headers.insert(PROVIDER_HEADER, value);
    }
    response
}
