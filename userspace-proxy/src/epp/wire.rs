//! The ext_proc messages of the Endpoint Picker protocol: reading the
//! gateway's headers and metadata (subset hint, served endpoint), and
//! building the answers (the pick as a header and as `envoy.lb` metadata,
//! body chunks passed back, immediate error responses).

use std::{collections::HashMap, net::SocketAddr};

use envoy_types::pb::{
    envoy::{
        config::core::v3::{HeaderValue, HeaderValueOption, Metadata, header_value_option::HeaderAppendAction},
        r#type::v3::HttpStatus,
        service::ext_proc::v3::{
            BodyMutation, BodyResponse, CommonResponse, HeaderMutation, HeadersResponse, HttpHeaders, ImmediateResponse, ProcessingResponse,
            StreamedBodyResponse, TrailersResponse, body_mutation::Mutation, processing_response::Response,
        },
    },
    google::protobuf::{Struct, Value, value::Kind},
};
use http::{HeaderMap, HeaderName, HeaderValue as HttpHeaderValue, header};

use crate::error::ApiError;

/// The header (and metadata key) carrying the pick: primary, then fallbacks.
pub const DESTINATION: &str = "x-gateway-destination-endpoint";
/// The dynamic metadata namespace of the pick and of the served endpoint.
pub const LB_NAMESPACE: &str = "envoy.lb";
/// The metadata namespace of the subset hint.
pub const SUBSET_NAMESPACE: &str = "envoy.lb.subset_hint";
/// The subset hint's key: the endpoints the pick must come from.
pub const SUBSET: &str = "x-gateway-destination-endpoint-subset";
/// The served endpoint's key, sent with the response.
pub const SERVED: &str = "x-gateway-destination-endpoint-served";

fn entries(wire: &HttpHeaders) -> &[HeaderValue] {
    wire.headers.as_ref().map_or(&[], |h| h.headers.as_slice())
}

fn value(h: &HeaderValue) -> &[u8] {
    if h.raw_value.is_empty() { h.value.as_bytes() } else { &h.raw_value }
}

/// The regular headers the gateway sent; pseudo-headers and entries that
/// are not valid HTTP are left out.
pub fn headers(wire: &HttpHeaders) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(entries(wire).len());
    for h in entries(wire) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(h.key.as_bytes()), HttpHeaderValue::from_bytes(value(h))) {
            map.append(name, value);
        }
    }
    map
}

/// A pseudo-header (`:path`, `:status`…), if sent.
pub fn pseudo<'a>(wire: &'a HttpHeaders, name: &str) -> Option<&'a str> {
    entries(wire).iter().find(|h| h.key == name).and_then(|h| std::str::from_utf8(value(h)).ok())
}

/// The path of a request, without its query.
pub fn path(wire: &HttpHeaders) -> String {
    let full = pseudo(wire, ":path").unwrap_or("/");
    full.split('?').next().unwrap_or(full).to_owned()
}

/// A response's status code, from its `:status` (0 if missing).
pub fn status(wire: &HttpHeaders) -> u16 {
    pseudo(wire, ":status").and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// The endpoints of the subset hint, if the gateway sent one (a list of
/// `ip:port` strings, or one comma-separated string). Entries that are not
/// `ip:port` cannot name an endpoint and are dropped.
pub fn subset(metadata: Option<&Metadata>) -> Option<Vec<SocketAddr>> {
    let value = metadata?.filter_metadata.get(SUBSET_NAMESPACE)?.fields.get(SUBSET)?;
    let texts: Vec<&str> = match value.kind.as_ref()? {
        Kind::ListValue(list) => list.values.iter().filter_map(|v| match &v.kind {
            Some(Kind::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
        .collect(),
        Kind::StringValue(s) => s.split(',').collect(),
        _ => Vec::new(),
    };
    Some(texts.into_iter().filter_map(|t| t.trim().parse().ok()).collect())
}

/// The endpoint that served the response, from the `envoy.lb` metadata.
pub fn served(metadata: Option<&Metadata>) -> Option<SocketAddr> {
    match &metadata?.filter_metadata.get(LB_NAMESPACE)?.fields.get(SERVED)?.kind {
        Some(Kind::StringValue(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn set(name: &str, value: &str) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue { key: name.to_owned(), raw_value: value.as_bytes().to_vec(), ..Default::default() }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        ..Default::default()
    }
}

/// The pick: `endpoints` (primary first) in the destination header, the
/// body length when the body passes through here, and the same list as
/// `envoy.lb` metadata; the route is recomputed for the new header.
pub struct Pick {
    /// `ip:port[,ip:port…]`.
    pub endpoints: String,
    /// The request body's length, set as `content-length` when the body was
    /// streamed through the picker.
    pub content_length: Option<usize>,
}

impl Pick {
    fn common(&self) -> CommonResponse {
        let mut set_headers = vec![set(DESTINATION, &self.endpoints)];
        if let Some(n) = self.content_length {
            set_headers.push(set(header::CONTENT_LENGTH.as_str(), &n.to_string()));
        }
        CommonResponse {
            header_mutation: Some(HeaderMutation { set_headers, remove_headers: Vec::new() }),
            clear_route_cache: true,
            ..Default::default()
        }
    }

    fn metadata(&self) -> Struct {
        let inner = Struct { fields: HashMap::from([(DESTINATION.to_owned(), string(&self.endpoints))]) };
        Struct { fields: HashMap::from([(LB_NAMESPACE.to_owned(), Value { kind: Some(Kind::StructValue(inner)) })]) }
    }

    /// The answer to the request headers.
    pub fn on_headers(&self) -> ProcessingResponse {
        ProcessingResponse {
            response: Some(Response::RequestHeaders(HeadersResponse { response: Some(self.common()) })),
            dynamic_metadata: Some(self.metadata()),
            ..Default::default()
        }
    }

    /// The answer to a buffered request body.
    pub fn on_buffered_body(&self) -> ProcessingResponse {
        ProcessingResponse {
            response: Some(Response::RequestBody(BodyResponse { response: Some(self.common()) })),
            dynamic_metadata: Some(self.metadata()),
            ..Default::default()
        }
    }
}

fn string(s: &str) -> Value {
    Value { kind: Some(Kind::StringValue(s.to_owned())) }
}

/// "Continue unchanged" for request headers.
pub fn continue_request_headers() -> ProcessingResponse {
    ProcessingResponse { response: Some(Response::RequestHeaders(HeadersResponse::default())), ..Default::default() }
}

/// "Continue unchanged" for response headers.
pub fn continue_response_headers() -> ProcessingResponse {
    ProcessingResponse { response: Some(Response::ResponseHeaders(HeadersResponse::default())), ..Default::default() }
}

/// "Continue unchanged" for a (not full-duplex) response body chunk.
pub fn continue_response_body() -> ProcessingResponse {
    ProcessingResponse { response: Some(Response::ResponseBody(BodyResponse::default())), ..Default::default() }
}

/// "Continue unchanged" for request or response trailers.
pub fn continue_trailers(request: bool) -> ProcessingResponse {
    let trailers = TrailersResponse::default();
    let response = if request { Response::RequestTrailers(trailers) } else { Response::ResponseTrailers(trailers) };
    ProcessingResponse { response: Some(response), ..Default::default() }
}

/// A body chunk passed back in full-duplex streaming mode.
pub fn streamed_chunk(request: bool, body: Vec<u8>, end_of_stream: bool) -> ProcessingResponse {
    let mutation = BodyMutation { mutation: Some(Mutation::StreamedResponse(StreamedBodyResponse { body, end_of_stream, ..Default::default() })) };
    let body = BodyResponse { response: Some(CommonResponse { body_mutation: Some(mutation), ..Default::default() }) };
    let response = if request { Response::RequestBody(body) } else { Response::ResponseBody(body) };
    ProcessingResponse { response: Some(response), ..Default::default() }
}

/// The gateway answers the client itself with `error` (OpenAI's JSON
/// format, with `retry-after` when the error has one).
pub fn immediate(error: &ApiError) -> ProcessingResponse {
    let mut set_headers = vec![set(header::CONTENT_TYPE.as_str(), "application/json")];
    if let Some(secs) = error.retry_after {
        set_headers.push(set(header::RETRY_AFTER.as_str(), &secs.to_string()));
    }
    let immediate = ImmediateResponse {
        status: Some(HttpStatus { code: i32::from(error.status.as_u16()) }),
        headers: Some(HeaderMutation { set_headers, remove_headers: Vec::new() }),
        body: error.body().to_vec(),
        details: format!("kvlb_{}", error.code),
        ..Default::default()
    };
    ProcessingResponse { response: Some(Response::ImmediateResponse(immediate)), ..Default::default() }
}
