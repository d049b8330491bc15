//! `cargo xtask bench soak`: stability under sustained load. A `kvlb-sim`
//! fleet (fast model time, so cheap on two cores), the agent and the proxy;
//! for `--minutes`, fixed-rate load through both modes at once, each from a
//! `kvlb-loadgen` inside the test cgroup:
//!
//! - l7: keep-alive clients to an l7 pool's VIP, which the kernel sends to
//!   the proxy, which picks a replica per request;
//! - connect: a new connection per request to a connect-mode pool's VIP,
//!   where the kernel picks the replica.
//!
//! The agent's and the proxy's resident memory and open descriptors are
//! sampled throughout. Targets: no failed request in either mode, RSS growth
//! under 5 % from the end of the warm-up to the end, descriptor counts flat
//! (the end within 5 %, at least 2, of the end of the warm-up).

use std::time::{Duration, Instant};

use anyhow::Context;
use kvlb_e2e::{agent::AgentProcess, bins, cgroup::TestCgroup, proxy::ProxyProcess, unique_name, wait_for};

use super::{fleet::Fleet, tools};

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Minutes of load.
    #[arg(long, default_value_t = 10)]
    minutes: u64,
    /// Minutes of warm-up at the start: growth counts from its end.
    #[arg(long, default_value_t = 1)]
    warmup_minutes: u64,
    /// Requests per second in each mode.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// Simulator replicas, half in each pool.
    #[arg(long, default_value_t = 4)]
    replicas: usize,
    /// Model time runs this many times faster than wall time.
    #[arg(long, default_value_t = 10.0)]
    time_scale: f64,
    /// Seconds between samples of memory and descriptors.
    #[arg(long, default_value_t = 10)]
    sample_seconds: u64,
    /// The proxy's prefix-index bound (kvlb-proxy --prefix-blocks), small
    /// enough that unique prompts fill it during the warm-up, so growth after
    /// it is not the index filling up.
    #[arg(long, default_value_t = 2048)]
    prefix_blocks: usize,
}

const NET: &str = "127.150";
/// The l7 pool's VIP (the kernel sends its connects to the proxy).
const L7_VIP: &str = "127.150.1.1:8000";
/// The connect-mode pool's VIP.
const CONNECT_VIP: &str = "127.150.1.2:8000";

/// Resident memory (bytes) and open descriptors of one process.
#[derive(Debug, Clone, Copy)]
struct Usage {
    rss: u64,
    fds: usize,
}

impl Usage {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let process = procfs::process::Process::new(i32::try_from(pid)?)?;
        let rss = process.status()?.vmrss.context("no VmRSS")? * 1024;
        Ok(Self { rss, fds: process.fd_count()? })
    }
}

/// One sample of the processes under test.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Seconds since the load started.
    t: f64,
    agent: Usage,
    proxy: Usage,
    /// Blocks in the proxy's prefix index.
    prefix_blocks: f64,
}

/// One process's usage in a sample.
type Pick = fn(&Sample) -> Usage;

/// What one load generator reported, and what the kernel counted for it.
struct Mode {
    name: &'static str,
    summary: serde_json::Value,
    /// Connects the kernel redirected from its VIP.
    connections: u64,
}

/// Runs the benchmark and prints the samples and the verdicts.
pub fn run(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.replicas >= 2, "--replicas must be at least 2 (half in each pool)");
    anyhow::ensure!(args.warmup_minutes < args.minutes, "--warmup-minutes must be shorter than --minutes");
    let dir = tempfile::tempdir()?;
    let (sim, loadgen) = (bins::path("kvlb-sim"), bins::path("kvlb-loadgen"));
    let fleet_args: Vec<String> = ["--base-addr", &format!("{NET}.0.1"), "--port", "8000", "--time-scale", &args.time_scale.to_string()].map(String::from).to_vec();
    let fleet = Fleet::start(&sim, args.replicas, &fleet_args, None, &dir.path().join("fleet.log"))?;
    let replicas: Vec<&str> = fleet.urls.iter().map(|u| u.trim_start_matches("http://").trim_end_matches('/')).collect();
    let (l7_replicas, connect_replicas) = replicas.split_at(args.replicas / 2);
    let pools = format!("pools:\n{}{}", pool("l7", L7_VIP, l7_replicas), pool("connect", CONNECT_VIP, connect_replicas));
    let cgroup = TestCgroup::new(&unique_name("kvlb-bench-soak"));
    let proxy_addr = format!("{NET}.0.100:15000");
    let agent = AgentProcess::start_with(&cgroup, &pools, &["--proxy-addr", &proxy_addr]);
    let proxy = ProxyProcess::start(&agent, proxy_addr.parse()?, &["--prefix-blocks", &args.prefix_blocks.to_string()]);
    let scraped = wait_for(Duration::from_secs(10), || {
        let s = agent.status();
        s["pools"].as_array()?.iter().flat_map(|p| p["endpoints"].as_array().into_iter().flatten()).all(|e| e["score_age_seconds"].is_number()).then_some(())
    });
    anyhow::ensure!(scraped.is_some(), "not every replica was scraped:\n{}", agent.log());

    let seconds = args.minutes * 60;
    let requests = (args.rate * seconds as f64 * 1.2) as usize + 100;
    let mut loads = Vec::new();
    for (seed, name, vip, connection) in [(1, "l7", L7_VIP, "keep-alive"), (2, "connect", CONNECT_VIP, "new")] {
        let trace = dir.path().join(format!("{name}.jsonl"));
        let generate = format!("sharegpt --seed {seed} --requests {requests} --input-median 64 --input-max 512 --output-median 16 --output-max 64");
        tools::generate(&loadgen, &trace, &generate.split(' ').map(String::from).collect::<Vec<_>>())?;
        let mut command = cgroup.command(&loadgen);
        command.arg("run").arg("--trace").arg(&trace).args(["--url", &format!("http://{vip}"), "--connection", connection]);
        command.args(["--qps", &args.rate.to_string(), "--duration-s", &seconds.to_string(), "--timeout-s", "60", "--threads", "1"]);
        loads.push((name, command));
    }

    eprintln!("bench soak: {} req/s in each mode for {} min ({} min warm-up); sampling every {} s", args.rate, args.minutes, args.warmup_minutes, args.sample_seconds);
    let before = (Usage::of(agent.pid().context("the agent is not running")?)?, Usage::of(proxy.pid())?);
    let (samples, summaries) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let handles: Vec<_> = loads.into_iter().map(|(name, command)| (name, scope.spawn(move || tools::loadgen(command)))).collect();
        let stopped = || handles.iter().any(|(_, h)| h.is_finished());
        let samples = sample(&agent, &proxy, seconds, args.sample_seconds, stopped)?;
        let summaries: Vec<(&'static str, serde_json::Value)> =
            handles.into_iter().map(|(name, h)| Ok((name, h.join().map_err(|_| anyhow::anyhow!("load thread panicked"))??))).collect::<anyhow::Result<_>>()?;
        Ok((samples, summaries))
    })?;
    let after = (Usage::of(agent.pid().context("the agent is not running")?)?, Usage::of(proxy.pid())?);
    let status = agent.status();
    let redirects = |vip: &str| status["pools"].as_array().into_iter().flatten().find(|p| p["vip"] == vip).and_then(|p| p["redirects"].as_u64()).unwrap_or(0);
    let modes: Vec<Mode> = summaries.into_iter().map(|(name, summary)| Mode { name, summary, connections: redirects(if name == "l7" { L7_VIP } else { CONNECT_VIP }) }).collect();
    let (proxied_ok, proxied) = (proxy.counter("kvlb_proxy_requests_total", &["pool=\"l7\"", "status=\"200\""]), proxy.counter("kvlb_proxy_requests_total", &["pool=\"l7\""]));
    drop((proxy, agent, fleet));

    report(args, &samples, &modes, before, after);
    println!("  the proxy answered {proxied_ok:.0} of {proxied:.0} l7 requests with 200");
    Ok(())
}

/// A pool of `replicas`; the l7 pool names the model (the proxy routes by it).
fn pool(mode: &str, vip: &str, replicas: &[&str]) -> String {
    let endpoints: String = replicas.iter().map(|r| format!("      - address: \"{r}\"\n")).collect();
    let models = if mode == "l7" { format!("    models: [{}]\n", kvlb_e2e::sim::MODEL) } else { String::new() };
    format!("  - name: {mode}\n    vip: \"{vip}\"\n    mode: {mode}\n{models}    endpoints:\n{endpoints}")
}

/// Samples the agent and the proxy every `every` seconds while the load
/// runs, the last sample a second before it ends; stops early if a load
/// generator has.
fn sample(agent: &AgentProcess, proxy: &ProxyProcess, seconds: u64, every: u64, stopped: impl Fn() -> bool) -> anyhow::Result<Vec<Sample>> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = Duration::ZERO;
    let last = Duration::from_secs(seconds.saturating_sub(1));
    loop {
        std::thread::sleep(next.saturating_sub(start.elapsed()));
        let prefix_blocks = proxy.counter("kvlb_proxy_prefix_index_blocks", &[]);
        samples.push(Sample { t: start.elapsed().as_secs_f64(), agent: Usage::of(agent.pid().context("the agent is not running")?)?, proxy: Usage::of(proxy.pid())?, prefix_blocks });
        if next >= last || stopped() {
            return Ok(samples);
        }
        next = (next + Duration::from_secs(every)).min(last);
        if next.as_secs().is_multiple_of(60) {
            eprintln!("bench soak: {} of {} min", next.as_secs() / 60, seconds / 60);
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn report(args: &Args, samples: &[Sample], modes: &[Mode], before: (Usage, Usage), after: (Usage, Usage)) {
    println!(
        "soak: {} min ({} min warm-up), {} req/s per mode, {} kvlb-sim replicas (time scale {}), proxy --prefix-blocks {}, release builds",
        args.minutes, args.warmup_minutes, args.rate, args.replicas, args.time_scale, args.prefix_blocks
    );
    println!("  {:>5}  {:>13}  {:>9}  {:>13}  {:>9}  {:>13}", "min", "agent RSS MiB", "agent fds", "proxy RSS MiB", "proxy fds", "prefix blocks");
    let per_minute = (60 / args.sample_seconds.max(1)).max(1) as usize;
    for (i, s) in samples.iter().enumerate() {
        if i % per_minute == 0 || i + 1 == samples.len() {
            println!("  {:>5.1}  {:>13.1}  {:>9}  {:>13.1}  {:>9}  {:>13}", s.t / 60.0, mib(s.agent.rss), s.agent.fds, mib(s.proxy.rss), s.proxy.fds, s.prefix_blocks);
        }
    }

    println!("  {:<8} {:>9} {:>10} {:>7} {:>12}  target", "mode", "requests", "completed", "errors", "connections");
    for m in modes {
        let count = |key: &str| m.summary[key].as_u64();
        let (requests, completed, errors) = (count("requests").unwrap_or(0), count("completed").unwrap_or(0), count("errors"));
        let clean = errors == Some(0) && requests > 0 && completed == requests;
        let errors = errors.map_or("?".to_owned(), |e| e.to_string());
        println!("  {:<8} {requests:>9} {completed:>10} {errors:>7} {:>12}  no errors: {} {}", m.name, m.connections, verdict(clean), m.summary["errors_by_kind"]);
    }

    let warmed = (args.warmup_minutes * 60) as f64;
    let (Some(warm), Some(end)) = (samples.iter().find(|s| s.t >= warmed).or(samples.last()), samples.last()) else { return };
    println!("  {:<15} {:>12} {:>10} {:>9}  target", "figure", "warm-up end", "end", "change");
    let processes: [(&str, Pick, Usage, Usage); 2] = [("agent", |s| s.agent, before.0, after.0), ("proxy", |s| s.proxy, before.1, after.1)];
    for (name, usage, _, _) in processes {
        let (at_warm, at_end) = (usage(warm), usage(end));
        let growth = (at_end.rss as f64 - at_warm.rss as f64) / at_warm.rss as f64;
        println!("  {:<15} {:>12.1} {:>10.1} {:>8.1}%  growth < 5 %: {}", format!("{name} RSS MiB"), mib(at_warm.rss), mib(at_end.rss), growth * 100.0, verdict(growth < 0.05));
    }
    for (name, usage, pre, post) in processes {
        let (at_warm, at_end) = (usage(warm), usage(end));
        let counts: Vec<usize> = samples.iter().filter(|s| s.t >= warm.t).map(|s| usage(s).fds).collect();
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        let flat = at_end.fds <= at_warm.fds + (at_warm.fds / 20).max(2);
        println!(
            "  {:<15} {:>12} {:>10} {:>+9}  flat: {} ({lo}..{hi} after the warm-up; {} before the load, {} after it)",
            format!("{name} open fds"),
            at_warm.fds,
            at_end.fds,
            at_end.fds as i64 - at_warm.fds as i64,
            verdict(flat),
            pre.fds,
            post.fds
        );
    }
}
