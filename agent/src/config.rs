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
//!     endpoints:
//!       - address: 127.0.0.2:9000
//!         weight: 3          # default 1
//!       - address: 127.0.0.3:9000
//!         draining: true     # default false
//! ```

use std::{net::SocketAddr, path::Path};

use serde::Deserialize;

use crate::table::{EndpointSpec, Mode, PoolSpec, PoolTable, WhenEmpty};

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
    #[serde(default)]
    endpoints: Vec<EndpointEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointEntry {
    address: SocketAddr,
    #[serde(default = "default_weight")]
    weight: u32,
    #[serde(default)]
    draining: bool,
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
        if path == "." { fail(inner) } else { fail(format!("{path}: {inner}")) }
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
                endpoints: p
                    .endpoints
                    .into_iter()
                    .map(|e| EndpointSpec { address: e.address, weight: e.weight, draining: e.draining })
                    .collect(),
            })
            .collect(),
    };
    table.validate().map_err(|e| fail(e.to_string()))?;
    Ok(table)
}

#[cfg(test)]
mod tests;
