//! `kvlb-agent`: the node agent.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use kvlb_agent::{config, k8s, loader, run, state, system};
use kvlb_common::DEFAULT_PIN_DIR;

#[derive(Parser)]
#[command(version, about = "kvlb's node agent: connect-time load balancing to LLM pool VIPs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load and attach the programs, apply the pools (a pool file, or
    /// Kubernetes discovery), follow their changes.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions kvlb defines (YAML).
    Crd,
    /// Validate a pool file without touching the kernel.
    Check {
        /// The pool file (YAML).
        pools: PathBuf,
    },
    /// Remove every program, link and map kvlb pinned.
    Detach {
        /// bpffs directory the agent pinned into.
        #[arg(long, env = "KVLB_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
        pin_dir: PathBuf,
    },
}

/// The options of `kvlb-agent run`.
#[derive(Args)]
struct RunArgs {
    /// The pool file (YAML).
    #[arg(long, env = "KVLB_POOLS", required_unless_present = "kubernetes", conflicts_with = "kubernetes")]
    pools: Option<PathBuf>,
    /// Take the pools from Kubernetes: KvlbPools, InferencePools and the pods they select on this node.
    #[arg(long, requires = "node_name")]
    kubernetes: bool,
    /// This node's name (downward API spec.nodeName); only its pods become endpoints.
    #[arg(long, env = "NODE_NAME")]
    node_name: Option<String>,
    /// The agent's namespace, for its status Lease and DaemonSet [default: the service account's].
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: Option<String>,
    /// The agent's DaemonSet: when it is gone at SIGTERM (helm uninstall), the agent detaches.
    #[arg(long, env = "KVLB_DAEMONSET")]
    daemonset: Option<String>,
    /// cgroup v2 directory to attach to; in Kubernetes the kubepods cgroup, so kvlb runs before a root-attached Cilium [default: the cgroup2 mount from /proc/mounts].
    #[arg(long, env = "KVLB_CGROUP")]
    cgroup: Option<PathBuf>,
    /// bpffs directory for pinned maps and links.
    #[arg(long, env = "KVLB_PIN_DIR", default_value = DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    /// Kernel-side log level: off, error, warn, info, debug, trace.
    #[arg(long, default_value = "off", value_parser = parse_level)]
    bpf_log: u8,
    /// How often to check the pool file for changes and remove drained endpoints (e.g. 1s, 200ms).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    watch_interval: Duration,
    /// How long a removed endpoint with open connections stays draining.
    #[arg(long, default_value = "600s", value_parser = parse_duration)]
    drain_grace: Duration,
    /// Time between scrapes of each endpoint, and between score rounds.
    #[arg(long, default_value = "50ms", value_parser = parse_duration)]
    scrape_interval: Duration,
    /// Give up on one scrape after this long.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    scrape_timeout: Duration,
    /// Largest metrics page read, in bytes; a larger one is an error.
    #[arg(long, default_value_t = 4 << 20)]
    scrape_max_bytes: usize,
    /// Failed scrapes in a row after which an endpoint gets no new connections.
    #[arg(long, default_value_t = 3)]
    not_ready_after: u32,
    /// Where to serve /metrics and /status ("off" for nowhere).
    #[arg(long, env = "KVLB_METRICS_ADDR", default_value = "127.0.0.1:9464", value_parser = parse_addr)]
    metrics_addr: Listen,
    /// Where kvlb-proxy listens: connections to pools in l7 mode go there ("off": no l7 pools).
    #[arg(long, env = "KVLB_PROXY_ADDR", default_value = "127.0.0.1:15000", value_parser = parse_addr)]
    proxy_addr: Listen,
}

fn parse_level(s: &str) -> Result<u8, String> {
    ["off", "error", "warn", "info", "debug", "trace"]
        .iter()
        .position(|l| *l == s)
        .map(|p| p as u8)
        .ok_or_else(|| format!("{s:?} is not one of off, error, warn, info, debug, trace"))
}

/// A listen address, or none.
#[derive(Clone, Copy)]
struct Listen(Option<std::net::SocketAddr>);

fn parse_addr(s: &str) -> Result<Listen, String> {
    if s == "off" {
        return Ok(Listen(None));
    }
    s.parse().map(|a| Listen(Some(a))).map_err(|_| format!("{s:?} is not an address like 127.0.0.1:9464, or off"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?} is not a duration like 500ms or 2s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        _ => Err(format!("{s:?} is not a duration like 500ms or 2s")),
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match execute(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvlb-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn execute(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run(args) => {
            let RunArgs {
                pools,
                kubernetes,
                node_name,
                namespace,
                daemonset,
                cgroup,
                pin_dir,
                bpf_log,
                watch_interval,
                drain_grace,
                scrape_interval,
                scrape_timeout,
                scrape_max_bytes,
                not_ready_after,
                metrics_addr,
                proxy_addr,
            } = *args;
            let cgroup = match cgroup {
                Some(c) => c,
                None => system::cgroup2_mount()?,
            };
            let state_file = state::path_for(&pin_dir);
            let source = match (pools, kubernetes, node_name) {
                (_, true, Some(node_name)) if !node_name.is_empty() => {
                    run::PoolSource::Kubernetes(k8s::KubeOptions { node_name, namespace, daemonset, state_file: state_file.clone() })
                }
                (_, true, _) => anyhow::bail!("--node-name (or NODE_NAME) must not be empty with --kubernetes"),
                (Some(pools), false, _) => run::PoolSource::File(pools),
                (None, false, _) => anyhow::bail!("give --pools FILE or --kubernetes"),
            };
            let opts = run::RunOptions {
                source,
                state_file,
                attach: loader::AttachOptions { pin_dir, cgroup, log_level: bpf_log },
                watch_interval,
                drain_grace,
                scrape: run::ScrapeOptions {
                    interval: scrape_interval,
                    timeout: scrape_timeout,
                    max_bytes: scrape_max_bytes,
                    fail_threshold: not_ready_after,
                },
                metrics_addr: metrics_addr.0,
                proxy_addr: proxy_addr.0,
            };
            tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run::run(opts))
        }
        Command::Check { pools } => {
            let table = config::load(&pools)?;
            println!("{}: {} pools, {} endpoints: valid", pools.display(), table.pools.len(), table.pools.iter().map(|p| p.endpoints.len()).sum::<usize>());
            Ok(())
        }
        Command::Crd => {
            print!("{}", k8s::crd::crds_yaml()?);
            Ok(())
        }
        Command::Detach { pin_dir } => {
            run::detach(&pin_dir, &state::path_for(&pin_dir))?;
            println!("detached: removed {}", pin_dir.display());
            Ok(())
        }
    }
}
