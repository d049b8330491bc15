//! kvlb-sim: a model-server simulator for testing and benchmarking LLM load
//! balancing without GPUs.
//!
//! Each replica runs a vLLM-shaped engine (continuous batching, a paged KV
//! cache with prefix caching and LRU eviction, preemption by recompute, LoRA
//! slots) whose step time comes from a hardware/model [`profile`], behind the
//! OpenAI and SGLang HTTP APIs real routers talk to. docs/simulator.md
//! describes the model, its parameters and its differences from vLLM.
//!
//! # Layout
//! - [`engine`]: the step loop, scheduler and request lifecycle; [`Engine`]
//!   is the in-process handle (submit, exact state snapshot, KV events).
//! - [`kv_cache`]: block pool, chained block hashes, free-block LRU.
//! - [`kv_events`]: block stored/removed events.
//! - [`profile`]: named GPU + model profiles and the step-time model.
//! - [`tokenizer`]: the deterministic approximate tokenizer.
//! - [`clock`]: model time and the time-scale factor.
//! - [`metrics`]: `/metrics` with vLLM, SGLang or TensorRT-LLM names.
//! - [`api`]: the HTTP routes of one replica.
//! - [`fleet`]: replicas (engine + listener), one or many per process.
//! - [`cli`]: the `kvlb-sim` command line.

#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod engine;
pub mod fleet;
pub mod kv_cache;
pub mod kv_events;
pub mod metrics;
pub mod profile;
pub mod tokenizer;

pub use engine::{Engine, EngineConfig, EngineState};
pub use fleet::Replica;
