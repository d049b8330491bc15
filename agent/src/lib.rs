//! kvlb's node agent. It keeps the kernel's connect-time load balancer (the
//! `kvlb-ebpf` programs) fed with the node's pools.
//!
//! # Layout
//! - [`table`]: the internal pool table every discovery source fills, and its
//!   validation.
//! - [`config`]: the standalone pool file (YAML) → table.
//! - [`k8s`]: Kubernetes discovery (InferencePools, KvlbPools) → table, and
//!   KvlbPool status.
//! - [`egress`]: external providers and per-model fallback chains.
//! - [`system`]: the host's cgroup v2 mount and bpffs.
//! - [`loader`]: load, attach and pin the programs; detach.
//! - [`maps`]: typed handles to the pinned maps.
//! - [`slots`]: the weighted slot table.
//! - [`reconcile`]: table → maps, make-before-break, ids recovered from the maps.
//! - [`scrape`]: model-server metrics per engine, fetched per endpoint.
//! - [`health`]: each endpoint's last metrics and readiness.
//! - [`score`]: the score model and saturation.
//! - [`state`]: pool names for the CLI.
//! - [`inspect`]: the `kvlb list` snapshot.
//! - [`status`]: live state as JSON (`kvlb status`) and Prometheus metrics.
//! - [`server`]: the agent's HTTP endpoint.
//! - [`run`]: the agent's main loop.
#![forbid(unsafe_code)]

pub mod config;
pub mod egress;
pub mod health;
pub mod inspect;
pub mod k8s;
pub mod loader;
pub mod maps;
pub mod reconcile;
pub mod run;
pub mod score;
pub mod scrape;
pub mod server;
pub mod slots;
pub mod state;
pub mod status;
pub mod system;
pub mod table;
