//! The stream state machine against a routing table without the kernel: the
//! orders of answers each mode requires, and the refusals.

use std::{collections::HashMap, num::NonZeroUsize, sync::Arc, time::Duration};

use envoy_types::pb::{
    envoy::{
        config::core::v3::{HeaderMap as WireHeaders, HeaderValue, Metadata},
        extensions::filters::http::ext_proc::v3::processing_mode::BodySendMode,
        service::ext_proc::v3::{
            HttpBody, HttpHeaders, HttpTrailers, ProcessingRequest, ProcessingResponse, ProtocolConfiguration, body_mutation::Mutation,
            processing_request::Request, processing_response::Response,
        },
    },
    google::protobuf::{Struct, Value, value::Kind},
};
use kvlb_agent::{
    reconcile::AppliedPool,
    state::{RoutedPool, RoutingState},
};

use super::{Settings, exchange::Exchange};
use crate::{
    decide::{self, Decider},
    routes::{Routes, SharedRoutes},
    scores::SharedScores,
};

const POOL: &str = "pools:
  - name: llm
    vip: 127.0.0.9:8000
    models: [m]
    endpoints:
      - address: 127.0.0.1:8000
      - address: 127.0.0.2:8000
      - address: 127.0.0.3:8000
";

fn exchange(fallbacks: usize) -> Exchange {
    let table = kvlb_agent::config::parse(POOL, "pools.yaml").unwrap();
    let pools = table
        .pools
        .into_iter()
        .map(|spec| RoutedPool {
            ids: AppliedPool { name: spec.name.clone(), pool_id: 1, endpoint_ids: (10..).take(spec.endpoints.len()).collect(), proxy_endpoint_id: None },
            spec,
        })
        .collect();
    let routes = SharedRoutes::new(Routes::new(RoutingState { pools, objectives: table.objectives, ..Default::default() }));
    let settings = decide::Settings {
        failure_penalty: Duration::from_secs(5),
        session_header: None,
        prefix_blocks: NonZeroUsize::new(64).unwrap(),
        sessions: NonZeroUsize::new(64).unwrap(),
    };
    let decider = Arc::new(Decider::new(routes, SharedScores::default(), settings));
    Exchange::new(decider, Settings { max_body_bytes: 1024, fallbacks })
}

fn headers(mode: BodySendMode, end_of_stream: bool, metadata: Option<Metadata>) -> ProcessingRequest {
    let pairs = [(":method", "POST"), (":path", "/v1/completions?x=1"), ("content-type", "application/json")];
    let headers = pairs.iter().map(|(k, v)| HeaderValue { key: k.to_string(), raw_value: v.as_bytes().to_vec(), ..Default::default() }).collect();
    ProcessingRequest {
        request: Some(Request::RequestHeaders(HttpHeaders { headers: Some(WireHeaders { headers }), end_of_stream, ..Default::default() })),
        protocol_config: Some(ProtocolConfiguration { request_body_mode: mode as i32, response_body_mode: mode as i32, ..Default::default() }),
        metadata_context: metadata,
        ..Default::default()
    }
}

fn body(chunk: &str, end_of_stream: bool) -> ProcessingRequest {
    ProcessingRequest { request: Some(Request::RequestBody(HttpBody { body: chunk.into(), end_of_stream, ..Default::default() })), ..Default::default() }
}

fn destination(m: &ProcessingResponse) -> Option<String> {
    let common = match &m.response {
        Some(Response::RequestHeaders(h)) => h.response.as_ref()?,
        Some(Response::RequestBody(b)) => b.response.as_ref()?,
        _ => return None,
    };
    let h = common.header_mutation.as_ref()?.set_headers.iter().filter_map(|o| o.header.as_ref()).find(|h| h.key == super::wire::DESTINATION)?;
    Some(String::from_utf8(h.raw_value.clone()).unwrap())
}

fn chunk(m: &ProcessingResponse) -> (String, bool) {
    let Some(Response::RequestBody(b)) = &m.response else { panic!("not a request body answer: {m:?}") };
    match b.response.as_ref().and_then(|c| c.body_mutation.as_ref()).and_then(|b| b.mutation.as_ref()) {
        Some(Mutation::StreamedResponse(s)) => (String::from_utf8(s.body.clone()).unwrap(), s.end_of_stream),
        other => panic!("not a streamed chunk: {other:?}"),
    }
}

fn status(m: &ProcessingResponse) -> i32 {
    let Some(Response::ImmediateResponse(r)) = &m.response else { panic!("not an immediate response: {m:?}") };
    r.status.unwrap().code
}

#[test]
fn with_trailers_the_pick_comes_first_then_the_chunks_then_the_trailers() {
    let mut x = exchange(1);
    assert!(x.on(headers(BodySendMode::FullDuplexStreamed, false, None)).unwrap().responses.is_empty());
    assert!(x.on(body(r#"{"model":"m","#, false)).unwrap().responses.is_empty());
    assert!(x.on(body(r#""prompt":"hi"}"#, false)).unwrap().responses.is_empty());
    let trailers = ProcessingRequest { request: Some(Request::RequestTrailers(HttpTrailers::default())), ..Default::default() };
    let step = x.on(trailers).unwrap();
    assert!(step.decided && !step.close);
    let r = &step.responses;
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!(destination(&r[0]).unwrap().split(',').count(), 2, "primary and one fallback");
    assert_eq!((chunk(&r[1]), chunk(&r[2])), ((r#"{"model":"m","#.to_owned(), false), (r#""prompt":"hi"}"#.to_owned(), false)), "trailers end the body");
    assert!(matches!(r[3].response, Some(Response::RequestTrailers(_))));
}

#[test]
fn a_subset_string_limits_the_pick_and_body_mode_none_places_on_headers() {
    let subset = Value { kind: Some(Kind::StringValue("127.0.0.2:8000, not-an-endpoint".into())) };
    let fields = HashMap::from([(super::wire::SUBSET.to_owned(), subset)]);
    let metadata = Metadata { filter_metadata: HashMap::from([(super::wire::SUBSET_NAMESPACE.to_owned(), Struct { fields })]), ..Default::default() };
    let step = exchange(2).on(headers(BodySendMode::None, false, Some(metadata))).unwrap();
    assert_eq!(destination(&step.responses[0]).as_deref(), Some("127.0.0.2:8000"));
}

#[test]
fn oversized_bodies_unsupported_modes_and_observability_mode_are_refused() {
    let mut x = exchange(0);
    x.on(headers(BodySendMode::FullDuplexStreamed, false, None)).unwrap();
    let step = x.on(body(&"x".repeat(1025), false)).unwrap();
    assert!(step.close && !step.decided);
    assert_eq!(status(&step.responses[0]), 413);

    let step = exchange(0).on(headers(BodySendMode::BufferedPartial, false, None)).unwrap();
    assert_eq!(status(&step.responses[0]), 500);

    let watching = ProcessingRequest { observability_mode: true, ..headers(BodySendMode::FullDuplexStreamed, false, None) };
    assert_eq!(exchange(0).on(watching).unwrap_err().code(), tonic::Code::FailedPrecondition);
}

#[test]
fn buffered_responses_continue_and_full_duplex_ones_pass_through() {
    for (mode, streamed) in [(BodySendMode::Buffered, false), (BodySendMode::FullDuplexStreamed, true)] {
        let mut x = exchange(0);
        x.on(headers(mode, true, None)).unwrap();
        let chunk = ProcessingRequest { request: Some(Request::ResponseBody(HttpBody { body: b"data".to_vec(), end_of_stream: true, ..Default::default() })), ..Default::default() };
        let step = x.on(chunk).unwrap();
        let Some(Response::ResponseBody(b)) = &step.responses[0].response else { panic!("{step:?}") };
        assert_eq!(b.response.as_ref().is_some_and(|c| c.body_mutation.is_some()), streamed, "{mode:?}");
    }
}
