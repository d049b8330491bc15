//! kvlb's L7 proxy, on the path only for pools that need a per-request
//! decision (keep-alive and HTTP/2 clients, model routing, prefix affinity),
//! and the Endpoint Picker that gives a gateway the same decision.
//!
//! # Layout
//! - [`server`]: accepting clients (HTTP/1.1 and h2c) with limits.
//! - [`proxy`]: one HTTP request, start to end.
//! - [`epp`]: the Endpoint Picker (Envoy ext_proc) for gateways.
//! - [`decide`]: the decision both share: pool, admission, ranking.
//! - [`egress`]: external providers (OpenAI-compatible, Anthropic translated).
//! - [`request`]: the few body fields routing reads.
//! - [`routes`]: the agent's routing table (state file), indexed by model.
//! - [`scores`]: the agent's live scores, read from the pinned maps.
//! - [`pin`]: opening a pinned map read-only (the crate's only `unsafe`).
//! - [`picker`]: ranking a pool's endpoints by load and prefix affinity.
//! - [`prefix`]: chained block hashes and the bounded prefix index.
//! - [`admission`]: priority shedding under saturation.
//! - [`inflight`]: the proxy's own in-flight counts.
//! - [`upstream`]: sending to endpoints.
//! - [`tap`]: streaming responses through while noting TTFB and usage.
//! - [`metrics`]: the proxy's Prometheus series.
//! - [`body`], [`error`]: body types and OpenAI-style errors.
// `unsafe` is denied everywhere but in `pin`, which makes one bpf(2) call.
#![deny(unsafe_code)]

pub mod admission;
pub mod body;
pub mod decide;
pub mod egress;
pub mod epp;
pub mod error;
pub mod inflight;
pub mod metrics;
pub mod pin;
pub mod picker;
pub mod prefix;
pub mod proxy;
pub mod request;
pub mod routes;
pub mod scores;
pub mod server;
pub mod tap;
pub mod upstream;
