//! The standalone pool file (YAML): its format, and its conversion into the
//! validated [`PoolTable`]. Every error names the file, the field and the
//! problem.
//!
//! ```yaml
//! pools:
//!   - name: llama
//!     vip: 127.10.0.1:8000
//!     mode: connect          # connect (default) | l7
//!     when_empty: refuse     # refuse (default) | pass
//!     scrape: true           # false: balance on live connections only
//!     models: [meta-llama/Llama-3.1-8B-Instruct]  # model names it serves (L7 routing)
//!     adapters: [sql-lora]   # LoRA adapters its endpoints serve
//!     split_weight: 100      # share among pools serving the same model (default 100)
//!     metrics:               # where and how to scrape (defaults shown)
//!       engine: vllm         # vllm | sglang | trtllm
//!       path: /metrics
//!       port: 8000           # default: each endpoint's own port
//!     scoring:
//!       preset: kvlb-default # kvlb-default | gie-default; the weights below override it
//!       queue: 1.0
//!       running: 0.25
//!       kv: 0.5
//!       conn: 0.5
//!       staleness_ms: 200
//!       saturation_queue: 5
//!       saturation_kv: 0.8
//!     endpoints:
//!       - address: 127.0.0.2:9000
//!         weight: 3          # default 1
//!       - address: 127.0.0.3:9000
//!         draining: true     # default false
//!         engine: sglang     # default: the pool's
//! objectives:                # request objective → priority, for the L7 proxy
//!   interactive: 10
//!   batch: -1                # below zero: shed first when the pool saturates
//! providers: []              # external providers for the L7 proxy (see `providers`)
//! fallbacks: {}              # per model, the order of providers and a pool
//! ```

use std::{collections::BTreeMap, net::SocketAddr, path::Path, time::Duration};

use serde::Deserialize;

use crate::{
    egress::EgressTable,
    scrape::Engine,
    score::{Preset, SaturationLimits, Weights},
    table::{EndpointSpec, Mode, PoolSpec, PoolTable, ScoringSpec, ScrapeSpec, WhenEmpty},
};

/// The embedded demo pool file `kvlb-agent demo` and the README use.
pub const DEMO: &str = include_str!("demo-pools.yaml");

/// A pool file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct ConfigError {
    /// The file (or `<embedded>`).
    pub file: String,
    /// The field and what is wrong with it.
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolFile {
    pools: Vec<PoolEntry>,
    #[serde(default)]
    objectives: BTreeMap<String, i32>,
    #[serde(default)]
    providers: Vec<providers::ProviderEntry>,
    #[serde(default)]
    fallbacks: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolEntry {
    name: String,
    vip: SocketAddr,
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    when_empty: WhenEmpty,
    #[serde(default = "yes")]
    scrape: bool,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    adapters: Vec<String>,
    #[serde(default = "default_split_weight")]
    split_weight: u32,
    #[serde(default)]
    metrics: MetricsEntry,
    #[serde(default)]
    scoring: ScoringEntry,
    #[serde(default)]
    endpoints: Vec<EndpointEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsEntry {
    #[serde(default)]
    engine: Engine,
    #[serde(default = "default_metrics_path")]
    path: String,
    port: Option<u16>,
}

impl Default for MetricsEntry {
    fn default() -> Self {
        Self { engine: Engine::default(), path: default_metrics_path(), port: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoringEntry {
    #[serde(default)]
    preset: Preset,
    queue: Option<f64>,
    running: Option<f64>,
    kv: Option<f64>,
    conn: Option<f64>,
    #[serde(default = "default_staleness_ms")]
    staleness_ms: u64,
    saturation_queue: Option<f64>,
    saturation_kv: Option<f64>,
}

impl Default for ScoringEntry {
    fn default() -> Self {
        Self {
            preset: Preset::default(),
            queue: None,
            running: None,
            kv: None,
            conn: None,
            staleness_ms: default_staleness_ms(),
            saturation_queue: None,
            saturation_kv: None,
        }
    }
}

impl ScoringEntry {
    fn into_spec(self) -> ScoringSpec {
        let preset = Weights::preset(self.preset);
        let limits = SaturationLimits::default();
        ScoringSpec {
            weights: Weights {
                preset: self.preset,
                queue: self.queue.unwrap_or(preset.queue),
                running: self.running.unwrap_or(preset.running),
                kv: self.kv.unwrap_or(preset.kv),
                conn: self.conn.unwrap_or(preset.conn),
            },
            staleness: Duration::from_millis(self.staleness_ms),
            saturation: SaturationLimits {
                queue: self.saturation_queue.unwrap_or(limits.queue),
                kv: self.saturation_kv.unwrap_or(limits.kv),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointEntry {
    address: SocketAddr,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    draining: bool,
    engine: Option<Engine>,
}

fn default_split_weight() -> u32 {
    100
}

fn yes() -> bool {
    true
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

/// GIE's scheduling staleness bound.
fn default_staleness_ms() -> u64 {
    200
}

fn default_mode() -> Mode {
    Mode::Connect
}

fn default_weight() -> u32 {
    1
}

/// Reads and validates a pool file.
pub fn load(path: &Path) -> Result<PoolTable, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError { file: file.clone(), problem: format!("cannot read: {e}") })?;
    parse(&text, &file)
}

/// Parses and validates pool-file text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<PoolTable, ConfigError> {
    let fail = |problem: String| ConfigError { file: file.to_owned(), problem };
    let de = serde_norway::Deserializer::from_str(text);
    let parsed: PoolFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde_norway names the path itself in some messages.
        if path == "." || inner.starts_with(&path) { fail(inner) } else { fail(format!("{path}: {inner}")) }
    })?;
    let table = PoolTable {
        pools: parsed
            .pools
            .into_iter()
            .map(|p| PoolSpec {
                name: p.name,
                vip: p.vip,
                mode: p.mode,
                when_empty: p.when_empty,
                scrape: p.scrape.then_some(ScrapeSpec { engine: p.metrics.engine, path: p.metrics.path, port: p.metrics.port }),
                models: p.models,
                adapters: p.adapters,
                split_weight: p.split_weight,
                scoring: p.scoring.into_spec(),
                endpoints: p
                    .endpoints
                    .into_iter()
                    .map(|e| EndpointSpec { address: e.address, weight: e.weight, draining: e.draining, engine: e.engine })
                    .collect(),
            })
            .collect(),
        objectives: parsed.objectives,
        egress: EgressTable {
            providers: parsed
                .providers
                .into_iter()
                .enumerate()
                .map(|(i, p)| p.into_spec().map_err(|(field, problem)| fail(format!("providers[{i}].{field}: {problem}"))))
                .collect::<Result<_, _>>()?,
            fallbacks: parsed.fallbacks,
        },
    };
    table.validate().map_err(|e| fail(e.to_string()))?;
    Ok(table)
}

mod providers;
#[cfg(test)]
mod tests;
