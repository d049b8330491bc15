//! `cargo xtask bench epp`: kvlb as Envoy's Endpoint Picker, in one run:
//!
//! - the picker's decision time, p50 and p99, from its own histogram (from
//!   the message that completes a request's headers and body to the answer
//!   handed to the gateway);
//! - the throughput of one closed-loop chat workload through Envoy round
//!   robin, then through Envoy asking kvlb, each on freshly started model
//!   servers. Prompt groups share long system prompts and each server's KV
//!   cache holds only some of them, the load where the pick matters.
//!
//! Release builds; model servers are kvlb-sim replicas.

use std::{net::SocketAddr, time::Duration};

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    chatload::{self, Outcome, Workload},
    envoy::{BodyMode, EnvoyProcess, Follow, Picker},
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name,
};

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Model servers.
    #[arg(long, default_value_t = 4)]
    endpoints: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Seconds of load per gateway.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Prompt groups sharing a system prompt.
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// Words per system prompt.
    #[arg(long, default_value_t = 1500)]
    prefix_words: usize,
    /// Tokens generated per request.
    #[arg(long, default_value_t = 16)]
    max_tokens: u32,
    /// KV-cache blocks per model server (16 tokens each).
    #[arg(long, default_value_t = 600)]
    gpu_blocks: usize,
    /// Model time runs this many times faster than wall time (faster than
    /// real time, the shared CPU rather than the model servers limits).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
}

const NET: &str = "127.120";

/// Runs the benchmark and prints its figures.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let workload = Workload { groups: args.groups, prefix_words: args.prefix_words, max_tokens: args.max_tokens };
    let duration = Duration::from_secs(args.seconds);
    let gateway: SocketAddr = format!("{NET}.0.200:10000").parse()?;

    eprintln!("bench epp: Envoy round robin, {} clients for {} s", args.clients, args.seconds);
    let round_robin = {
        let sims = servers(args);
        let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
        let _envoy = EnvoyProcess::start(gateway, &addrs, None);
        chatload::run(gateway, args.clients, duration, workload)
    };

    eprintln!("bench epp: Envoy asking kvlb, {} clients for {} s", args.clients, args.seconds);
    let sims = servers(args);
    let addrs: Vec<SocketAddr> = sims.iter().map(|s| s.addr).collect();
    let cgroup = TestCgroup::new(&unique_name("kvlb-bench-epp"));
    let mut pools = format!("pools:\n  - name: bench\n    vip: {NET}.1.1:8000\n    models: [{MODEL}]\n    endpoints:\n");
    for addr in &addrs {
        pools.push_str(&format!("      - address: \"{addr}\"\n"));
    }
    let agent = AgentProcess::start(&cgroup, &pools);
    let epp: SocketAddr = format!("{NET}.0.100:9002").parse()?;
    let proxy = ProxyProcess::start(&agent, format!("{NET}.0.100:15000").parse()?, &["--epp-addr", &epp.to_string()]);
    let envoy = EnvoyProcess::start(gateway, &addrs, Some(Picker { addr: epp, body_mode: BodyMode::FullDuplex, fail_open: false, follow: Follow::OriginalDst }));
    let kvlb = chatload::run(gateway, args.clients, duration, workload);
    let decisions = Decisions::parse(&proxy.metrics());
    drop((envoy, proxy, agent, sims));

    println!(
        "Envoy + kvlb Endpoint Picker vs Envoy round robin: {} kvlb-sim servers ({} KV blocks, time scale {}), {} clients, {} s each",
        args.endpoints, args.gpu_blocks, args.time_scale, args.clients, args.seconds
    );
    println!(
        "  workload: {} prompt groups x {} words of shared system prompt, {} tokens out",
        args.groups, args.prefix_words, args.max_tokens
    );
    println!(
        "  decision time inside the picker: p50 {:.0} us  p99 {:.0} us  over {} decisions",
        decisions.quantile(0.5) * 1e6,
        decisions.quantile(0.99) * 1e6,
        decisions.count
    );
    report("round robin", &round_robin);
    report("kvlb", &kvlb);
    println!("  throughput kvlb / round robin: {:.2}x", kvlb.rate() / round_robin.rate());
    Ok(())
}

fn servers(args: &Args) -> Vec<Sim> {
    let (blocks, scale) = (args.gpu_blocks.to_string(), args.time_scale.to_string());
    (1..=args.endpoints).map(|i| Sim::serve_on(&format!("{NET}.0.{i}"), 8000, &["--num-gpu-blocks", &blocks, "--time-scale", &scale])).collect()
}

fn report(name: &str, o: &Outcome) {
    println!(
        "  {name:<12} {:>7.1} req/s  latency p50 {:>7.1} ms  p99 {:>7.1} ms  ({} ok, {} errors)",
        o.rate(),
        o.latency_ms(0.5),
        o.latency_ms(0.99),
        o.ok,
        o.errors
    );
}

/// The picker's decision-time histogram, from its Prometheus text.
struct Decisions {
    /// `(upper bound in seconds, cumulative count)`, ascending.
    buckets: Vec<(f64, f64)>,
    count: f64,
}

impl Decisions {
    fn parse(metrics: &str) -> Self {
        let prefix = "kvlb_proxy_epp_decision_seconds_bucket{le=\"";
        let buckets: Vec<(f64, f64)> = metrics
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(prefix)?;
                let (le, count) = rest.split_once("\"}")?;
                let le = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((le, count.trim().parse().ok()?))
            })
            .collect();
        let count = buckets.last().map_or(0.0, |b| b.1);
        Self { buckets, count }
    }

    /// A quantile, interpolated linearly inside its bucket (seconds).
    fn quantile(&self, q: f64) -> f64 {
        let rank = q * self.count;
        let mut below = (0.0, 0.0);
        for &(le, cumulative) in &self.buckets {
            if cumulative >= rank && cumulative > 0.0 {
                if le.is_infinite() {
                    return below.0;
                }
                let share = (rank - below.1) / (cumulative - below.1).max(f64::MIN_POSITIVE);
                return below.0 + (le - below.0) * share;
            }
            below = (le, cumulative);
        }
        f64::NAN
    }
}
