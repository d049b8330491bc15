//! `cargo xtask bench overhead`: what a request pays for the path it takes
//! to a model server, side by side in one run. A fast static backend
//! (`kvlb-static`, two endpoints in one thread) answers every chat at once,
//! so the paths are all that differ: directly, kvlb connect (the kernel
//! rewrites the VIP at `connect()`), kvlb l7 (the VIP reaches `kvlb-proxy`),
//! kvlb's Endpoint Picker behind Envoy (GIE's gateway path), and the
//! round-robin proxies people would otherwise put there (nginx, Envoy,
//! sglang-router), each limited to one worker.
//!
//! Two measurements, both with `kvlb-reqbench` over keep-alive HTTP/1.1:
//!
//! - **latency at a fixed rate** (default 1,000 requests/s of 1 KiB bodies,
//!   open loop): rounds alternate between the paths so machine noise hits
//!   them alike, and the medians of the rounds' p50 and p99 are compared
//!   with direct;
//! - **maximum rate** at a fixed concurrency (closed loop), with each
//!   contender's CPU time over the run: requests per contender CPU-second is
//!   the rate one core of it sustains, whatever else shares the machine.

use std::{path::PathBuf, process::Command};

use anyhow::Context;
use kvlb_e2e::{bins, cgroup::TestCgroup};
use serde_json::{Value, json};

use super::{
    contenders::{self, Contender, Ctx, Started, Target},
    process::Process,
    tools::cpu_seconds,
};

/// The backend's endpoints.
const BACKENDS: [&str; 2] = ["127.94.0.1:8000", "127.94.0.2:8000"];
/// The model name in every request.
const MODEL: &str = "static";

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds of the fixed-rate latency measurement.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Seconds per path per round at the fixed rate.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Requests per second of the latency measurement.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Size of each request body, in bytes.
    #[arg(long, default_value_t = 1024)]
    body_bytes: usize,
    /// Requests in flight in the maximum-rate measurement.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds per path of the maximum-rate measurement.
    #[arg(long, default_value_t = 10.0)]
    max_seconds: f64,
    /// Only these contenders besides direct (ids, comma separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Output directory (results.json, results.md, logs).
    #[arg(long, default_value = "target/bench-overhead")]
    out: PathBuf,
}

/// One path under test, started.
struct Path {
    id: &'static str,
    name: &'static str,
    url: String,
    /// A process of the contender's handles every request.
    on_request_path: bool,
    started: Option<Started>,
}

impl Path {
    fn cgroup(&self) -> Option<&TestCgroup> {
        self.started.as_ref().and_then(|s| s.cgroup.as_ref())
    }
    fn pids(&self) -> &[u32] {
        self.started.as_ref().map_or(&[], |s| &s.pids)
    }
}

/// A path's figures: medians over rounds at the fixed rate, then the
/// maximum-rate run.
struct Figures {
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    max_per_second: f64,
    max_errors: u64,
    cpu_s: Option<f64>,
    requests: f64,
}

/// Runs the benchmark and prints its table.
pub fn run(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    crate::setup::bench_peers(false)?;
    let out = crate::cmd::root().join(&args.out);
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("--out {}", out.display()))?;
    let mut backend = Command::new(bins::path("kvlb-static"));
    for addr in BACKENDS {
        backend.args(["--listen", addr]);
    }
    let mut backend = Process::spawn("kvlb-static", backend, &logs.join("kvlb-static.log"))?;
    let replicas: Vec<String> = BACKENDS.iter().map(|a| format!("http://{a}")).collect();
    let ctx = Ctx { replicas: &replicas, model: MODEL, adapters: &[], dir: &logs, python: bins::python(), with_litellm: false };
    super::process::wait_ready(&mut backend, &replicas[0], MODEL, std::time::Duration::from_secs(10))?;

    let mut paths = vec![Path { id: "direct", name: "direct (no proxy)", url: replicas[0].clone(), on_request_path: false, started: None }];
    let mut skipped = Vec::new();
    let all = contenders::overhead();
    for id in &args.only {
        anyhow::ensure!(all.iter().any(|c| c.id() == id), "--only: unknown contender {id:?} (known: {})", all.iter().map(|c| c.id()).collect::<Vec<_>>().join(", "));
    }
    for contender in all.into_iter().filter(|c| args.only.is_empty() || args.only.iter().any(|o| o == c.id())) {
        match start(contender.as_ref(), &ctx) {
            Ok(path) => paths.push(path),
            Err(reason) => {
                eprintln!("bench overhead: {} skipped: {reason}", contender.name());
                skipped.push(json!({"contender": contender.name(), "contender_id": contender.id(), "skipped": reason}));
            }
        }
    }

    let mut latency: Vec<Vec<Value>> = paths.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        for (path, samples) in paths.iter().zip(&mut latency) {
            eprintln!("bench overhead: round {round}/{}: {} at {} requests/s", args.rounds, path.name, args.rate);
            let rate = args.rate.to_string();
            samples.push(reqbench(path, args, &["--rate", &rate, "--seconds", &args.seconds.to_string()])?);
        }
    }
    let mut figures = Vec::new();
    for (path, samples) in paths.iter().zip(&latency) {
        eprintln!("bench overhead: {}: maximum rate with {} in flight", path.name, args.concurrency);
        let cpu_before: f64 = path.pids().iter().map(|&p| cpu_seconds(p)).sum();
        let max = reqbench(
            path,
            args,
            &["--connections", &args.concurrency.to_string(), "--seconds", &args.max_seconds.to_string(), "--warmup-seconds", "0"],
        )?;
        let cpu_after: f64 = path.pids().iter().map(|&p| cpu_seconds(p)).sum();
        figures.push(Figures {
            p50_us: median(samples, "p50_us"),
            p99_us: median(samples, "p99_us"),
            errors: samples.iter().map(|s| s["errors"].as_u64().unwrap_or(0)).sum(),
            max_per_second: max["per_second"].as_f64().unwrap_or(f64::NAN),
            max_errors: max["errors"].as_u64().unwrap_or(0),
            cpu_s: (path.on_request_path && !path.pids().is_empty()).then_some(cpu_after - cpu_before),
            requests: max["requests"].as_f64().unwrap_or(0.0),
        });
    }
    let table = report(args, &paths, &figures);
    println!("{table}");
    std::fs::write(out.join("results.md"), &table)?;
    let mut records: Vec<Value> = paths.iter().zip(&figures).map(|(p, f)| record(p, f, &figures[0])).collect();
    records.extend(skipped);
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&records)?)?;
    eprintln!("bench overhead: results in {}", out.display());
    Ok(())
}

/// Starts a contender in front of the backend, or says why it cannot run.
fn start(contender: &dyn Contender, ctx: &Ctx<'_>) -> Result<Path, String> {
    contender.available(ctx)?;
    let started = contender.start(ctx).map_err(|e| format!("failed to start: {e:#}"))?;
    let Target::Url(url) = &started.target else {
        return Err("it does not take a URL".into());
    };
    Ok(Path { id: contender.id(), name: contender.name(), url: url.clone(), on_request_path: contender.on_request_path(), started: Some(started) })
}

/// Runs `kvlb-reqbench` against a path (inside its cgroup when it has one).
fn reqbench(path: &Path, args: &Args, extra: &[&str]) -> anyhow::Result<Value> {
    let program = bins::path("kvlb-reqbench");
    let mut command = match path.cgroup() {
        Some(cgroup) => cgroup.command(&program),
        None => Command::new(&program),
    };
    command
        .arg(format!("{}/v1/chat/completions", path.url))
        .args(["--body-bytes", &args.body_bytes.to_string(), "--model", MODEL])
        .args(extra);
    let out = command.output().context("cannot start kvlb-reqbench")?;
    anyhow::ensure!(out.status.success(), "kvlb-reqbench against {}: {}", path.name, String::from_utf8_lossy(&out.stderr).trim());
    serde_json::from_slice(&out.stdout).context("kvlb-reqbench printed no JSON")
}

fn median(samples: &[Value], key: &str) -> f64 {
    let mut xs: Vec<f64> = samples.iter().filter_map(|s| s[key].as_f64()).collect();
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Figures {
    /// Requests per contender CPU-second in the maximum-rate run (for
    /// contenders on the request path).
    fn per_cpu_second(&self) -> Option<f64> {
        self.cpu_s.filter(|&s| s > 0.0).map(|s| self.requests / s)
    }
}

fn record(path: &Path, f: &Figures, direct: &Figures) -> Value {
    json!({
        "contender": path.name,
        "contender_id": path.id,
        "p50_us": f.p50_us,
        "p99_us": f.p99_us,
        "added_p50_us": f.p50_us - direct.p50_us,
        "added_p99_us": f.p99_us - direct.p99_us,
        "errors": f.errors + f.max_errors,
        "max_rps": f.max_per_second,
        "max_rps_ratio": f.max_per_second / direct.max_per_second,
        "contender_cpu_s": f.cpu_s,
        "requests_per_contender_cpu_s": f.per_cpu_second(),
    })
}

/// The Markdown table and the targets' verdicts.
fn report(args: &Args, paths: &[Path], figures: &[Figures]) -> String {
    let direct = &figures[0];
    let mut s = format!(
        "Latency: {} rounds x {} s at {} requests/s, {} B bodies, keep-alive (medians of the rounds). \
         Maximum rate: {} requests in flight for {} s.\n\n",
        args.rounds, args.seconds, args.rate, args.body_bytes, args.concurrency, args.max_seconds
    );
    s.push_str("| path | p50 µs | p99 µs | added p50 µs | added p99 µs | max req/s | vs direct | contender CPU s | req per contender CPU-s | errors |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (path, f) in paths.iter().zip(figures) {
        let cpu = f.cpu_s.map_or("–".into(), |c| format!("{c:.1}"));
        let per_cpu = f.per_cpu_second().map_or("–".into(), |r| format!("{r:.0}"));
        s.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:+.0} | {:+.0} | {:.0} | {:.2} | {cpu} | {per_cpu} | {} |\n",
            path.name,
            f.p50_us,
            f.p99_us,
            f.p50_us - direct.p50_us,
            f.p99_us - direct.p99_us,
            f.max_per_second,
            f.max_per_second / direct.max_per_second,
            f.errors + f.max_errors
        ));
    }
    let find = |id: &str| paths.iter().position(|p| p.id == id).map(|i| &figures[i]);
    s.push('\n');
    if let Some(l7) = find("kvlb-l7") {
        let (p50, p99) = (l7.p50_us - direct.p50_us, l7.p99_us - direct.p99_us);
        s.push_str(&format!("- kvlb l7 added latency p50 {p50:.0} µs <= 50 µs: {}\n", verdict(p50 <= 50.0)));
        s.push_str(&format!("- kvlb l7 added latency p99 {p99:.0} µs <= 250 µs: {}\n", verdict(p99 <= 250.0)));
        let per_cpu = |f: &Figures| f.per_cpu_second().unwrap_or(f64::NAN);
        match find("envoy-rr") {
            Some(envoy) => s.push_str(&format!(
                "- kvlb l7 requests per CPU-second {:.0} >= Envoy round robin's {:.0}: {}\n",
                per_cpu(l7),
                per_cpu(envoy),
                verdict(per_cpu(l7) >= per_cpu(envoy))
            )),
            None => s.push_str("- kvlb l7 against Envoy: not measured (Envoy not in this run)\n"),
        }
    }
    s
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
