//! Kubernetes mode end to end without a cluster: an in-memory API server
//! (kmock) the test fills with objects over HTTP, and `kvlb-agent run
//! --kubernetes` watching it.
//!
//! - [`api`]: the kmock server as a child process, and object writes.
//! - [`cluster`]: the objects tests create (Services, pods, pools, ...).
//! - [`agent`]: the agent in Kubernetes mode as a child process.

pub mod agent;
pub mod api;
pub mod cluster;
