//! A gateway's side of ext_proc, message by message, for talking to an
//! Endpoint Picker directly: what Envoy sends, and readers for the answers.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use envoy_types::pb::{
    envoy::{
        config::core::v3::{HeaderMap, HeaderValue, Metadata},
        extensions::filters::http::ext_proc::v3::processing_mode::BodySendMode,
        service::ext_proc::v3::{
            CommonResponse, HttpBody, HttpHeaders, ProcessingRequest, ProcessingResponse, ProtocolConfiguration, body_mutation::Mutation,
            external_processor_client::ExternalProcessorClient, processing_request::Request, processing_response::Response,
        },
    },
    google::protobuf::{ListValue, Struct, Value, value::Kind},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

/// One ext_proc stream (one HTTP request through the gateway).
pub struct Stream {
    tx: mpsc::Sender<ProcessingRequest>,
    rx: Streaming<ProcessingResponse>,
}

/// Opens a stream to the picker at `addr`.
pub async fn open(addr: SocketAddr) -> Stream {
    let mut client = ExternalProcessorClient::connect(format!("http://{addr}")).await.expect("connect to the picker");
    let (tx, rx) = mpsc::channel(16);
    let rx = client.process(ReceiverStream::new(rx)).await.expect("open a stream").into_inner();
    Stream { tx, rx }
}

impl Stream {
    /// Sends one message.
    pub async fn send(&self, message: ProcessingRequest) {
        self.tx.send(message).await.expect("stream open");
    }

    /// The next answer (within 5 s).
    pub async fn next(&mut self) -> ProcessingResponse {
        match tokio::time::timeout(Duration::from_secs(5), self.rx.message()).await {
            Ok(Ok(Some(m))) => m,
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    /// Whether no answer arrives within `wait`.
    pub async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.rx.message()).await.is_err()
    }
}

fn config(mode: BodySendMode) -> Option<ProtocolConfiguration> {
    Some(ProtocolConfiguration { request_body_mode: mode as i32, response_body_mode: mode as i32, ..Default::default() })
}

fn headers(pairs: &[(&str, &str)], end_of_stream: bool) -> HttpHeaders {
    let headers = pairs.iter().map(|(k, v)| HeaderValue { key: k.to_string(), raw_value: v.as_bytes().to_vec(), ..Default::default() }).collect();
    HttpHeaders { headers: Some(HeaderMap { headers }), end_of_stream, ..Default::default() }
}

fn metadata(namespace: &str, key: &str, value: Value) -> Option<Metadata> {
    let fields = HashMap::from([(key.to_owned(), value)]);
    Some(Metadata { filter_metadata: HashMap::from([(namespace.to_owned(), Struct { fields })]), ..Default::default() })
}

fn string(s: &str) -> Value {
    Value { kind: Some(Kind::StringValue(s.to_owned())) }
}

/// The request headers of a POST to `path` (extra headers after), announcing
/// `mode`, with a subset hint when `subset` is given.
pub fn request_headers(path: &str, extra: &[(&str, &str)], mode: BodySendMode, subset: Option<&[&str]>) -> ProcessingRequest {
    let mut pairs = vec![(":method", "POST"), (":path", path), (":authority", "gateway"), ("content-type", "application/json")];
    pairs.extend_from_slice(extra);
    let hint = subset.map(|s| Value { kind: Some(Kind::ListValue(ListValue { values: s.iter().map(|e| string(e)).collect() })) });
    ProcessingRequest {
        request: Some(Request::RequestHeaders(headers(&pairs, false))),
        protocol_config: config(mode),
        metadata_context: hint.and_then(|h| metadata("envoy.lb.subset_hint", "x-gateway-destination-endpoint-subset", h)),
        ..Default::default()
    }
}

/// The headers of a GET without a body.
pub fn bodyless_headers(path: &str) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(Request::RequestHeaders(headers(&[(":method", "GET"), (":path", path)], true))),
        protocol_config: config(BodySendMode::FullDuplexStreamed),
        ..Default::default()
    }
}

/// A request body chunk.
pub fn request_body(chunk: &[u8], end_of_stream: bool) -> ProcessingRequest {
    ProcessingRequest { request: Some(Request::RequestBody(HttpBody { body: chunk.to_vec(), end_of_stream, ..Default::default() })), ..Default::default() }
}

/// Response headers with `status`, naming the endpoint that served.
pub fn response_headers(status: u16, served: &str) -> ProcessingRequest {
    ProcessingRequest {
        request: Some(Request::ResponseHeaders(headers(&[(":status", &status.to_string())], false))),
        metadata_context: metadata("envoy.lb", "x-gateway-destination-endpoint-served", string(served)),
        ..Default::default()
    }
}

/// A response body chunk.
pub fn response_body(chunk: &[u8], end_of_stream: bool) -> ProcessingRequest {
    ProcessingRequest { request: Some(Request::ResponseBody(HttpBody { body: chunk.to_vec(), end_of_stream, ..Default::default() })), ..Default::default() }
}

/// The common part of a headers or body answer.
pub fn common(m: &ProcessingResponse) -> CommonResponse {
    let common = match &m.response {
        Some(Response::RequestHeaders(h) | Response::ResponseHeaders(h)) => h.response.clone(),
        Some(Response::RequestBody(b) | Response::ResponseBody(b)) => b.response.clone(),
        other => panic!("expected a headers or body answer, got {other:?}"),
    };
    common.unwrap_or_default()
}

/// A header the answer sets.
pub fn set_header(m: &ProcessingResponse, name: &str) -> Option<String> {
    let mutation = common(m).header_mutation?;
    let h = mutation.set_headers.into_iter().filter_map(|o| o.header).find(|h| h.key.eq_ignore_ascii_case(name))?;
    Some(String::from_utf8(h.raw_value).expect("UTF-8 header"))
}

/// The pick in the `envoy.lb` dynamic metadata.
pub fn metadata_pick(m: &ProcessingResponse) -> Option<String> {
    let lb = m.dynamic_metadata.as_ref()?.fields.get("envoy.lb")?;
    let Some(Kind::StructValue(inner)) = &lb.kind else { return None };
    match &inner.fields.get("x-gateway-destination-endpoint")?.kind {
        Some(Kind::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A streamed body chunk answer: which direction, the bytes, end of stream.
pub fn streamed(m: &ProcessingResponse) -> (bool, Vec<u8>, bool) {
    let request = matches!(m.response, Some(Response::RequestBody(_)));
    match common(m).body_mutation.and_then(|b| b.mutation) {
        Some(Mutation::StreamedResponse(s)) => (request, s.body, s.end_of_stream),
        other => panic!("expected a streamed body chunk, got {other:?}"),
    }
}

/// An immediate response: status, JSON body, `retry-after`.
pub fn immediate(m: &ProcessingResponse) -> (u16, serde_json::Value, Option<String>) {
    let Some(Response::ImmediateResponse(r)) = &m.response else { panic!("expected an immediate response, got {m:?}") };
    let status = r.status.as_ref().map_or(0, |s| s.code as u16);
    let body = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&r.body)));
    let retry_after = r.headers.as_ref().and_then(|h| h.set_headers.iter().filter_map(|o| o.header.as_ref()).find(|h| h.key == "retry-after"));
    (status, body, retry_after.map(|h| String::from_utf8_lossy(&h.raw_value).into_owned()))
}
