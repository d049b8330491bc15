//! One ext_proc stream, that is one HTTP request through the gateway, as a
//! state machine: messages from the gateway in, the picker's answers out.
//!
//! - Request headers are kept. In `FULL_DUPLEX_STREAMED` mode nothing is
//!   answered until the body is complete (its end, or the trailers); then the
//!   header answer carrying the pick goes first and the body chunks follow
//!   unchanged, as the protocol requires. In `BUFFERED` mode the headers are
//!   answered at once and the pick rides on the answer to the one body
//!   message. A request without a body (or with body mode `NONE`) is placed
//!   on its headers alone.
//! - Response headers tell which endpoint served (the `envoy.lb` metadata);
//!   if it was a fallback, the primary failed. Response body chunks pass
//!   through. The request's in-flight slot is held until the response ends
//!   or the stream does.

use std::{borrow::Cow, net::SocketAddr, sync::Arc};

use envoy_types::pb::envoy::{
    extensions::filters::http::ext_proc::v3::processing_mode::BodySendMode,
    service::ext_proc::v3::{HttpBody, HttpHeaders, ProcessingRequest, ProcessingResponse, processing_request::Request},
};
use http::HeaderMap;

use super::{Settings, wire};
use crate::{
    decide::{Ask, Decider, Decision},
    error::ApiError,
    inflight::InflightGuard,
    request::{self, Api},
};

/// What one gateway message produced.
#[derive(Debug, Default)]
pub struct Step {
    /// Answers to send, in order.
    pub responses: Vec<ProcessingResponse>,
    /// This message completed the request and the pick was made (or refused).
    pub decided: bool,
    /// The gateway answers the client itself now; the stream can end.
    pub close: bool,
}

/// A request placed on an endpoint.
struct Placed {
    decision: Decision,
    /// Where the request is (believed to be) served, and its in-flight slot.
    at: usize,
    slot: Option<InflightGuard>,
}

/// One stream's state.
pub struct Exchange {
    decider: Arc<Decider>,
    settings: Settings,
    request_mode: BodySendMode,
    response_mode: BodySendMode,
    headers: HeaderMap,
    path: String,
    subset: Option<Vec<SocketAddr>>,
    chunks: Vec<Vec<u8>>,
    body_len: usize,
    placed: Option<Placed>,
}

/// A message the protocol does not allow here; the stream ends with it.
pub type ProtocolError = tonic::Status;

impl Exchange {
    /// A new stream deciding with `decider`.
    pub fn new(decider: Arc<Decider>, settings: Settings) -> Self {
        Self {
            decider,
            settings,
            // GIE's mode, for gateways that do not announce theirs.
            request_mode: BodySendMode::FullDuplexStreamed,
            response_mode: BodySendMode::FullDuplexStreamed,
            headers: HeaderMap::new(),
            path: String::new(),
            subset: None,
            chunks: Vec::new(),
            body_len: 0,
            placed: None,
        }
    }

    /// Handles one message from the gateway.
    pub fn on(&mut self, message: ProcessingRequest) -> Result<Step, ProtocolError> {
        if message.observability_mode {
            return Err(tonic::Status::failed_precondition("observability_mode is on, so the pick would be ignored: turn it off for the Endpoint Picker"));
        }
        if let Some(config) = message.protocol_config {
            self.request_mode = BodySendMode::try_from(config.request_body_mode).unwrap_or(BodySendMode::None);
            self.response_mode = BodySendMode::try_from(config.response_body_mode).unwrap_or(BodySendMode::None);
        }
        let metadata = message.metadata_context.as_ref();
        match message.request {
            Some(Request::RequestHeaders(h)) => Ok(self.on_request_headers(&h, wire::subset(metadata))),
            Some(Request::RequestBody(b)) => self.on_request_body(b),
            Some(Request::RequestTrailers(_)) => Ok(self.on_request_trailers()),
            Some(Request::ResponseHeaders(h)) => Ok(self.on_response_headers(&h, wire::served(metadata))),
            Some(Request::ResponseBody(b)) => Ok(self.on_response_body(b)),
            Some(Request::ResponseTrailers(_)) => {
                self.release();
                Ok(answer(wire::continue_trailers(false)))
            }
            None => Err(tonic::Status::invalid_argument("a ProcessingRequest must carry request or response headers, body or trailers")),
        }
    }

    fn on_request_headers(&mut self, h: &HttpHeaders, subset: Option<Vec<SocketAddr>>) -> Step {
        self.headers = wire::headers(h);
        self.path = wire::path(h);
        self.subset = subset;
        if h.end_of_stream || self.request_mode == BodySendMode::None {
            return self.place(|pick| vec![pick.on_headers()]);
        }
        match self.request_mode {
            BodySendMode::FullDuplexStreamed => Step::default(),
            BodySendMode::Buffered => answer(wire::continue_request_headers()),
            other => refuse(ApiError::gateway_misconfigured(format!(
                "the Endpoint Picker reads request bodies in FULL_DUPLEX_STREAMED or BUFFERED mode, not {}",
                other.as_str_name()
            ))),
        }
    }

    fn on_request_body(&mut self, b: HttpBody) -> Result<Step, ProtocolError> {
        if self.placed.is_some() {
            return Err(tonic::Status::failed_precondition("request body after the request was complete"));
        }
        self.body_len += b.body.len();
        if self.body_len > self.settings.max_body_bytes {
            return Ok(refuse(ApiError::too_large(self.settings.max_body_bytes)));
        }
        self.chunks.push(b.body);
        match self.request_mode {
            BodySendMode::Buffered => Ok(self.place_with_body(false, |pick, _| vec![pick.on_buffered_body()])),
            _ if b.end_of_stream => Ok(self.place_with_body(true, |pick, chunks| with_chunks(pick.on_headers(), chunks, true))),
            _ => Ok(Step::default()),
        }
    }

    fn on_request_trailers(&mut self) -> Step {
        if self.placed.is_some() || self.request_mode != BodySendMode::FullDuplexStreamed {
            return answer(wire::continue_trailers(true));
        }
        let mut step = self.place_with_body(true, |pick, chunks| with_chunks(pick.on_headers(), chunks, false));
        if !step.close {
            step.responses.push(wire::continue_trailers(true));
        }
        step
    }

    fn on_response_headers(&mut self, h: &HttpHeaders, served: Option<SocketAddr>) -> Step {
        let status = wire::status(h);
        if let Some(placed) = &mut self.placed {
            let ranked = &placed.decision.ranked;
            if let Some(at) = served.and_then(|addr| ranked.iter().position(|u| u.addr == addr)).filter(|&at| at != placed.at) {
                // The gateway went down the fallback list: the primary failed.
                self.decider.failed(&ranked[placed.at]);
                self.decider.served(&placed.decision, &ranked[at]);
                placed.slot = Some(self.decider.start(&ranked[at]));
                placed.at = at;
            }
            let answered = placed.decision.ranked[placed.at];
            let endpoint = served.unwrap_or(answered.addr);
            tracing::debug!(pool = %placed.decision.pool, %endpoint, status, "response");
            self.decider.metrics.responded(&placed.decision.model, &placed.decision.pool, &endpoint.to_string(), status);
            if status >= 500 && endpoint == answered.addr {
                self.decider.failed(&answered);
            }
        }
        if h.end_of_stream {
            self.release();
        }
        answer(wire::continue_response_headers())
    }

    fn on_response_body(&mut self, b: HttpBody) -> Step {
        if b.end_of_stream {
            self.release();
        }
        match self.response_mode {
            BodySendMode::FullDuplexStreamed => answer(wire::streamed_chunk(false, b.body, b.end_of_stream)),
            _ => answer(wire::continue_response_body()),
        }
    }

    /// The response is over: the endpoint's in-flight slot goes back.
    fn release(&mut self) {
        if let Some(placed) = &mut self.placed {
            placed.slot = None;
        }
    }

    /// Places the request with its body, handing the held chunks to `answer`;
    /// a body `streamed` through the picker gets its length set again.
    fn place_with_body(&mut self, streamed: bool, answer: impl FnOnce(&wire::Pick, Vec<Vec<u8>>) -> Vec<ProcessingResponse>) -> Step {
        let chunks = std::mem::take(&mut self.chunks);
        let outcome = {
            let body: Cow<'_, [u8]> = match chunks.as_slice() {
                [one] => Cow::Borrowed(one),
                many => Cow::Owned(many.concat()),
            };
            self.decide(Some(&body))
        };
        self.finish(outcome, streamed.then_some(self.body_len), |pick| answer(pick, chunks))
    }

    /// Places a request without a body.
    fn place(&mut self, answer: impl FnOnce(&wire::Pick) -> Vec<ProcessingResponse>) -> Step {
        let outcome = self.decide(None);
        self.finish(outcome, None, answer)
    }

    fn decide(&self, body: Option<&[u8]>) -> Result<Decision, ApiError> {
        let fields = match body {
            Some(body) => {
                let api = Api::from_path(&self.path).ok_or_else(|| ApiError::not_found(&self.path))?;
                Some(request::parse(api, body)?)
            }
            None => None,
        };
        let ask = Ask {
            model: fields.as_ref().map(|f| f.model.as_ref()),
            prompt: fields.as_ref().map_or(&b""[..], |f| f.prompt.as_bytes()),
            headers: &self.headers,
            subset: self.subset.as_deref(),
        };
        self.decider.decide(&ask)
    }

    fn finish(&mut self, outcome: Result<Decision, ApiError>, content_length: Option<usize>, answer: impl FnOnce(&wire::Pick) -> Vec<ProcessingResponse>) -> Step {
        let decision = match outcome {
            Ok(d) => d,
            Err(e) => return Step { decided: true, ..refuse(e) },
        };
        let endpoints: Vec<String> = decision.ranked.iter().take(1 + self.settings.fallbacks).map(|u| u.addr.to_string()).collect();
        let pick = wire::Pick { endpoints: endpoints.join(","), content_length };
        tracing::debug!(pool = %decision.pool, model = %decision.model, endpoints = %pick.endpoints, "picked");
        let primary = decision.ranked[0];
        self.decider.served(&decision, &primary);
        self.placed = Some(Placed { slot: Some(self.decider.start(&primary)), at: 0, decision });
        Step { responses: answer(&pick), decided: true, close: false }
    }
}

fn answer(response: ProcessingResponse) -> Step {
    Step { responses: vec![response], ..Step::default() }
}

fn refuse(error: ApiError) -> Step {
    Step { responses: vec![wire::immediate(&error)], decided: false, close: true }
}

/// The header answer, then every held chunk passed back; the last one ends
/// the body unless trailers follow.
fn with_chunks(headers: ProcessingResponse, chunks: Vec<Vec<u8>>, ends: bool) -> Vec<ProcessingResponse> {
    let last = chunks.len().saturating_sub(1);
    let mut out = Vec::with_capacity(chunks.len() + 1);
    out.push(headers);
    out.extend(chunks.into_iter().enumerate().map(|(i, chunk)| wire::streamed_chunk(true, chunk, ends && i == last)));
    out
}
