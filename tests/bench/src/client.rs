//! The HTTP client and its connection mode.

use std::time::Duration;

/// How the client holds connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConnectionMode {
    /// A new TCP connection for every request, closed after it (what kvlb's
    /// connect mode balances).
    New,
    /// A keep-alive pool: connections are reused across requests.
    KeepAlive,
}

/// A client for `mode` that never uses a proxy.
pub fn build(mode: ConnectionMode) -> anyhow::Result<reqwest::Client> {
    let idle = match mode {
        ConnectionMode::New => 0,
        ConnectionMode::KeepAlive => usize::MAX,
    };
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(idle)
        .pool_idle_timeout(Duration::from_secs(90))
        .connect_timeout(Duration::from_secs(10))
        .build()?)
}
