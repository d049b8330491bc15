//! kvlb-bench: benchmark workloads and the load generator behind
//! `cargo xtask bench` (docs/benchmarks.md).
//!
//! # Layout
//! - [`trace`]: the trace file format (JSON Lines, one request a line).
//! - [`generate`]: seeded workload generators that write traces.
//! - [`request`]: one streaming request and what it measured.
//! - [`sse`]: reading one OpenAI streaming chunk.
//! - [`client`]: the HTTP client, a new connection per request or a pool.
//! - [`target`]: where each request goes (URLs in turn, or the oracle).
//! - [`oracle`]: picks a simulator replica from its exact state.
//! - [`run`]: open-loop and closed-loop drivers.
//! - [`stats`]: percentiles and the JSON summary.
//! - [`cli`]: the `kvlb-loadgen` command line.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod generate;
pub mod oracle;
pub mod request;
pub mod run;
pub mod sse;
pub mod stats;
pub mod target;
pub mod trace;
