//! `kvlb-proxy`: the L7 proxy for pools in l7 mode.

use std::{io::IsTerminal, net::SocketAddr, num::NonZeroUsize, path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use clap::Parser;
use kvlb_common::DEFAULT_PIN_DIR;
use kvlb_proxy::{
    decide::{self, Decider},
    epp,
    proxy::{self, Proxy},
    routes, scores,
    server::{self, Limits},
    upstream::Upstreams,
};

#[derive(Parser)]
#[command(version, about = "kvlb's L7 proxy: model-, prefix- and load-aware routing for pools in l7 mode")]
struct Cli {
    /// Where clients connect (the agent's --proxy-addr: l7 VIPs are sent here).
    #[arg(long, env = "KVLB_PROXY_ADDR", default_value = "127.0.0.1:15000")]
    listen: SocketAddr,
    /// The agent's state file (routing table).
    #[arg(long, env = "KVLB_STATE_FILE", default_value = "/run/kvlb/kvlb.json")]
    state_file: PathBuf,
    /// bpffs directory the agent pinned into (scores are read from there).
    #[arg(long, env = "KVLB_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    /// Where to serve /metrics ("off" for nowhere).
    #[arg(long, default_value = "127.0.0.1:15090")]
    metrics_addr: String,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 16 << 20)]
    max_body_bytes: usize,
    /// Other endpoints tried after a connect failure or a 5xx before the first byte.
    #[arg(long, default_value_t = 2)]
    retries: usize,
    /// Give up connecting to an endpoint after this long.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    connect_timeout: Duration,
    /// Give up on an endpoint that sends no response headers for this long.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    response_timeout: Duration,
    /// Time a client has to send its request head (slow-loris guard; also the idle keep-alive limit).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    header_read_timeout: Duration,
    /// Largest request head, in bytes.
    #[arg(long, default_value_t = 64 << 10)]
    max_header_bytes: usize,
    /// Client connections served at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Concurrent HTTP/2 streams per client connection.
    #[arg(long, default_value_t = 256)]
    max_streams: u32,
    /// Prompt blocks (64 bytes of prompt each) the prefix index remembers; about 130 bytes of memory a block once full (34 MB at the default).
    #[arg(long, default_value_t = NonZeroUsize::new(1 << 18).expect("non-zero"))]
    prefix_blocks: NonZeroUsize,
    /// Header that pins a session to an endpoint ("" to turn off).
    #[arg(long, default_value = "x-session-id")]
    session_header: String,
    /// Where to serve the Endpoint Picker (Envoy ext_proc, gRPC) for gateways ("off" for nowhere).
    #[arg(long, env = "KVLB_EPP_ADDR", default_value = "off")]
    epp_addr: String,
    /// Endpoints the Endpoint Picker lists after the primary, as ordered fallbacks (0 suits ORIGINAL_DST clusters).
    #[arg(long, default_value_t = 0)]
    epp_fallbacks: usize,
    /// Worker threads serving requests (0: one per CPU).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// How often the scores are re-read from the maps.
    #[arg(long, default_value = "10ms", value_parser = humantime::parse_duration)]
    scores_interval: Duration,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cli = Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if cli.threads > 0 {
        runtime.worker_threads(cli.threads);
    }
    let runtime = match runtime.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kvlb-proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlb-proxy: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let session_header = match cli.session_header.as_str() {
        "" => None,
        name => Some(name.parse().map_err(|_| anyhow::anyhow!("--session-header: {name:?} is not a header name"))?),
    };
    let metrics_addr = address_or_off("--metrics-addr", &cli.metrics_addr, "127.0.0.1:15090")?;
    let epp_addr = address_or_off("--epp-addr", &cli.epp_addr, "0.0.0.0:9002")?;
    let routes = routes::watch(cli.state_file.clone(), Duration::from_millis(500))?;
    let scores = scores::watch(&cli.pin_dir, cli.scores_interval, routes.clone())?;
    let decider = Arc::new(Decider::new(
        routes,
        scores,
        decide::Settings {
            failure_penalty: Duration::from_secs(5),
            session_header,
            prefix_blocks: cli.prefix_blocks,
            sessions: NonZeroUsize::new(1 << 16).expect("non-zero"),
        },
    ));
    let settings = proxy::Settings { max_body_bytes: cli.max_body_bytes, retries: cli.retries };
    let proxy = Arc::new(Proxy::new(decider.clone(), Upstreams::new(cli.connect_timeout, cli.response_timeout), settings));
    let listener = tokio::net::TcpListener::bind(cli.listen).await.map_err(|e| anyhow::anyhow!("--listen {}: {e}", cli.listen))?;
    if let Some(addr) = metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: {e}"))?;
        tracing::info!(addr = %metrics.local_addr()?, "metrics listening");
        tokio::spawn(server::serve_metrics(metrics, decider.clone()));
    }
    let epp = match epp_addr {
        Some(addr) => {
            let grpc = tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("--epp-addr {addr}: {e}"))?;
            tracing::info!(addr = %grpc.local_addr()?, fallbacks = cli.epp_fallbacks, "endpoint picker listening");
            let settings = epp::Settings { max_body_bytes: cli.max_body_bytes, fallbacks: cli.epp_fallbacks };
            futures::future::Either::Left(epp::serve(grpc, decider, settings))
        }
        None => futures::future::Either::Right(std::future::pending()),
    };
    tracing::info!(addr = %listener.local_addr()?, "kvlb-proxy ready");
    let limits = Limits {
        max_connections: cli.max_connections,
        max_header_bytes: cli.max_header_bytes,
        header_read_timeout: cli.header_read_timeout,
        max_streams: cli.max_streams,
    };
    tokio::select! {
        () = server::serve(listener, proxy, limits) => Ok(()),
        r = epp => r.map_err(|e| anyhow::anyhow!("endpoint picker: {e:#}")),
        r = tokio::signal::ctrl_c() => r.map_err(Into::into),
    }
}

/// An address flag that may also be "off".
fn address_or_off(flag: &str, value: &str, example: &str) -> anyhow::Result<Option<SocketAddr>> {
    match value {
        "off" => Ok(None),
        a => a.parse().map(Some).map_err(|_| anyhow::anyhow!("{flag}: {a:?} is not an address like {example}, or off")),
    }
}
