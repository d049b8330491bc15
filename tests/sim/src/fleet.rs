//! Replicas: an engine plus its HTTP listener, one or many per process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, bail};
use axum::serve::ListenerExt;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::{api, engine::Engine, engine::EngineConfig};

/// One running replica.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Position in the fleet.
    pub index: usize,
    /// Address the replica listens on.
    pub addr: SocketAddr,
    /// Its engine, for in-process ground truth.
    pub engine: Engine,
}

/// The line a replica announces itself with on start.
#[derive(Debug, Serialize)]
pub struct ReplicaLine<'a> {
    /// Position in the fleet.
    pub replica: usize,
    /// Base URL.
    pub url: String,
    /// Profile name.
    pub profile: &'a str,
    /// Served model.
    pub model: &'a str,
    /// Metric names in use.
    pub metrics_flavor: crate::metrics::MetricsFlavor,
}

impl Replica {
    /// Starts an engine and serves it on `addr` (port 0 picks a free port).
    pub async fn start(
        index: usize,
        config: EngineConfig,
        addr: SocketAddr,
        max_body_bytes: usize,
    ) -> anyhow::Result<Self> {
        let engine = Engine::start(config)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding replica {index} to {addr}"))?;
        let addr = listener.local_addr()?;
        // Token chunks are small writes; Nagle would hold them back.
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::warn!(%error, "could not set TCP_NODELAY");
            }
        });
        let router = api::router(engine.clone(), &format!("r{index}"), max_body_bytes);
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, %addr, "replica server stopped");
            }
        });
        Ok(Self {
            index,
            addr,
            engine,
        })
    }

    /// The announcement line (JSON) for this replica.
    pub fn line(&self) -> ReplicaLine<'_> {
        let config = self.engine.config();
        ReplicaLine {
            replica: self.index,
            url: format!("http://{}", self.addr),
            profile: config.profile.name,
            model: &config.model,
            metrics_flavor: config.metrics_flavor,
        }
    }
}

/// Starts one replica per config, on the matching address.
pub async fn start_fleet(
    configs: Vec<EngineConfig>,
    addrs: &[SocketAddr],
    max_body_bytes: usize,
) -> anyhow::Result<Vec<Replica>> {
    let mut replicas = Vec::with_capacity(configs.len());
    for (index, (config, &addr)) in configs.into_iter().zip(addrs).enumerate() {
        replicas.push(Replica::start(index, config, addr, max_body_bytes).await?);
    }
    Ok(replicas)
}

/// Listen addresses of `n` replicas: `base`, `base+1`, ... on `port`, or
/// `base` on `port`, `port+1`, ... with `consecutive_ports` (port 0 lets the
/// OS pick every port).
pub fn replica_addrs(
    base: Ipv4Addr,
    port: u16,
    n: usize,
    consecutive_ports: bool,
) -> anyhow::Result<Vec<SocketAddr>> {
    (0..n)
        .map(|i| {
            let offset = u32::try_from(i)?;
            if consecutive_ports {
                let port = match port {
                    0 => 0,
                    p => match u16::try_from(offset).ok().and_then(|o| p.checked_add(o)) {
                        Some(p) => p,
                        None => bail!("port {p} + {i} is out of range"),
                    },
                };
                Ok(SocketAddr::new(IpAddr::V4(base), port))
            } else {
                match u32::from(base).checked_add(offset) {
                    Some(ip) => Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
                    None => bail!("address {base} + {i} is out of range"),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lays_out_addresses_or_ports() {
        let addrs = replica_addrs(Ipv4Addr::new(127, 0, 1, 1), 8000, 3, false).unwrap();
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["127.0.1.1:8000", "127.0.1.2:8000", "127.0.1.3:8000"]
        );
        let addrs = replica_addrs(Ipv4Addr::LOCALHOST, 9000, 2, true).unwrap();
        assert_eq!(addrs[1].to_string(), "127.0.0.1:9001");
        assert!(replica_addrs(Ipv4Addr::LOCALHOST, 65535, 2, true).is_err());
    }
}
