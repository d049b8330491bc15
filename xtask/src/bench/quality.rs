//! `cargo xtask bench quality`: routing quality side by side. For each
//! workload (a seeded trace) and contender (a routing policy in front of a
//! fresh `kvlb-sim` fleet), the load generator replays the trace open-loop
//! at each load point; every record holds TTFT, ITL, E2E, throughput,
//! goodput, errors, prefix hits and the contender's CPU. Contenders that
//! cannot run here are recorded as skipped with the reason. Writes
//! `results.json`, `results.md` and one TTFT-p90-against-QPS SVG per
//! workload to `--out`.

mod plan;
mod plot;
mod report;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::{
    contenders::{self, Contender, Ctx, Started, Target},
    fleet::Fleet,
    tools,
};

/// The model every replica serves.
const MODEL: &str = "meta-llama/Llama-3.1-8B-Instruct";

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Full mode: four workloads, more load points (under 30 minutes on 2
    /// cores); default is quick mode (under 5 minutes).
    #[arg(long)]
    full: bool,
    /// Output directory (results.json, results.md, plots, logs).
    #[arg(long, default_value = "target/bench-quality")]
    out: PathBuf,
    /// Replicas in the fleet.
    #[arg(long, default_value_t = 8)]
    replicas: usize,
    /// Replica profile (kvlb-sim profiles).
    #[arg(long, default_value = "l4-8b")]
    profile: String,
    /// Model time runs this many times faster than wall time.
    #[arg(long, default_value_t = 3.0)]
    time_scale: f64,
    /// TTFT objective for goodput, model milliseconds.
    #[arg(long, default_value_t = 1000.0)]
    ttft_slo_ms: f64,
    /// Only these contenders (ids, comma separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these workloads (names, comma separated).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Also run LiteLLM (installs tests/requirements-litellm.txt first).
    #[arg(long)]
    with_litellm: bool,
    /// Seed of the traces.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the benchmark.
pub fn run(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    anyhow::ensure!(args.time_scale > 0.0, "--time-scale must be positive");
    let all = contenders::all();
    for id in &args.only {
        anyhow::ensure!(
            all.iter().any(|c| c.id() == id),
            "--only: unknown contender {id:?} (known: {})",
            ids(&all)
        );
    }
    let contenders: Vec<Box<dyn Contender>> = all
        .into_iter()
        .filter(|c| args.only.is_empty() || args.only.iter().any(|o| o == c.id()))
        .collect();
    let workloads: Vec<plan::Workload> = plan::workloads(args.full)
        .into_iter()
        .filter(|w| args.workloads.is_empty() || args.workloads.iter().any(|n| n == w.name))
        .collect();
    anyhow::ensure!(
        !workloads.is_empty(),
        "--workloads: none of {:?} exists in this mode",
        args.workloads
    );

    crate::setup::bench_peers(args.with_litellm)?;
    tools::build_release()?;
    let (sim, loadgen) = (
        tools::release_bin("kvlb-sim")?,
        tools::release_bin("kvlb-loadgen")?,
    );
    let out = crate::cmd::root().join(&args.out);
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("--out {}", out.display()))?;
    let python = kvlb_e2e::bins::python();

    let total: usize = workloads
        .iter()
        .map(|w| w.qps.len() * contenders.len())
        .sum();
    let bars = MultiProgress::new();
    let overall = bars.add(ProgressBar::new(total as u64));
    overall.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:40}] {pos}/{len} load points, {elapsed} (eta {eta})",
        )?
        .progress_chars("=> "),
    );
    overall.set_prefix("bench quality");
    let status = bars.add(ProgressBar::new_spinner());
    status.enable_steady_tick(Duration::from_millis(200));

    let mut records = Vec::new();
    for workload in &workloads {
        let trace = out.join(format!("trace-{}.jsonl", workload.name));
        let mut gen_args = workload.generate.clone();
        gen_args.extend([
            "--seed".into(),
            args.seed.to_string(),
            "--model".into(),
            MODEL.into(),
        ]);
        tools::generate(&loadgen, &trace, &gen_args)?;
        let requests = std::fs::read_to_string(&trace)?.lines().count();
        for contender in &contenders {
            let base = json!({"workload": workload.name, "contender": contender.name(), "contender_id": contender.id()});
            let ctx_dir = logs.join(format!("{}-{}", workload.name, contender.id()));
            std::fs::create_dir_all(&ctx_dir)?;
            let mut fleet_args: Vec<String> = [
                "--base-addr",
                "127.91.0.1",
                "--port",
                "0",
                "--model",
                MODEL,
                "--profile",
                &args.profile,
            ]
            .map(String::from)
            .into();
            fleet_args.extend(["--time-scale".into(), args.time_scale.to_string()]);
            fleet_args.extend(workload.fleet.iter().cloned());
            status.set_message(format!(
                "{} · {}: starting",
                workload.name,
                contender.name()
            ));
            let started = Fleet::start(
                &sim,
                args.replicas,
                &fleet_args,
                None,
                &ctx_dir.join("fleet.log"),
            )
            .and_then(|fleet| {
                let ctx = Ctx {
                    replicas: &fleet.urls,
                    model: MODEL,
                    adapters: &workload.adapters,
                    dir: &ctx_dir,
                    python: python.clone(),
                    with_litellm: args.with_litellm,
                };
                if let Err(reason) = contender.available(&ctx) {
                    return Ok(Err(reason));
                }
                Ok(Ok((contender.start(&ctx)?, fleet)))
            });
            let (started, fleet) = match started {
                Ok(Ok(pair)) => pair,
                Ok(Err(reason)) => {
                    for &qps in &workload.qps {
                        records.push(with(&base, json!({"qps": qps, "skipped": reason})));
                        overall.inc(1);
                    }
                    say(
                        &bars,
                        format!(
                            "{} · {}: skipped ({reason})",
                            workload.name,
                            contender.name()
                        ),
                    )?;
                    continue;
                }
                Err(e) => {
                    for &qps in &workload.qps {
                        records.push(with(&base, json!({"qps": qps, "failed": format!("{e:#}")})));
                        overall.inc(1);
                    }
                    say(
                        &bars,
                        format!(
                            "{} · {}: failed to start: {e:#}",
                            workload.name,
                            contender.name()
                        ),
                    )?;
                    continue;
                }
            };
            for &qps in &workload.qps {
                status.set_message(format!(
                    "{} · {} · {qps} QPS ({requests} requests)",
                    workload.name,
                    contender.name()
                ));
                let point = Point {
                    loadgen: &loadgen,
                    trace: &trace,
                    requests,
                    qps,
                    workload,
                    args,
                };
                let record = match measure(&point, &started, &fleet) {
                    Ok(measured) => with(&base, measured),
                    Err(e) => with(&base, json!({"qps": qps, "failed": format!("{e:#}")})),
                };
                say(&bars, report::one_line(&record))?;
                records.push(record);
                overall.inc(1);
            }
            drop(started);
            drop(fleet);
        }
    }
    status.finish_and_clear();
    overall.finish();
    let meta = report::Meta::collect(
        &format!(
            "cargo xtask bench quality{}",
            std::env::args()
                .skip(3)
                .map(|a| format!(" {a}"))
                .collect::<String>()
        ),
        args.replicas,
        &args.profile,
        args.time_scale,
        args.ttft_slo_ms,
    );
    report::write(&out, &meta, &workloads, &records)?;
    plot::write(&out, &workloads, &records)?;
    println!("{}", std::fs::read_to_string(out.join("results.md"))?);
    println!("results: {}", out.display());
    Ok(())
}

/// Prints a line above the progress bars, or plainly when stderr is not a
/// terminal (the bars are hidden then, and so would the line be).
fn say(bars: &MultiProgress, line: String) -> std::io::Result<()> {
    if bars.is_hidden() {
        eprintln!("{line}");
        Ok(())
    } else {
        bars.println(line)
    }
}

fn ids(all: &[Box<dyn Contender>]) -> String {
    all.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
}

/// `base` with `more`'s fields added.
fn with(base: &Value, more: Value) -> Value {
    let mut record = base.clone();
    if let (Some(r), Value::Object(m)) = (record.as_object_mut(), more) {
        r.extend(m);
    }
    record
}

/// One load point to measure.
struct Point<'a> {
    loadgen: &'a Path,
    trace: &'a Path,
    requests: usize,
    qps: f64,
    workload: &'a plan::Workload,
    args: &'a Args,
}

/// Replays the trace at one load point against a started contender.
fn measure(point: &Point<'_>, started: &Started, fleet: &Fleet) -> anyhow::Result<Value> {
    fleet.flush()?;
    let cpu = || {
        started
            .pids
            .iter()
            .map(|&p| tools::cpu_seconds(p))
            .sum::<f64>()
    };
    let (cpu_before, fleet_before, lagged_before) = (
        cpu(),
        tools::cpu_seconds(fleet.pid()),
        fleet.stat_sum("lagged_steps")?,
    );
    let connection = started.connection.unwrap_or(point.workload.connection);
    // Sending takes requests / qps model seconds; allow half as much again.
    let send_s = point.requests as f64 / point.qps / point.args.time_scale * 1.5 + 10.0;
    let mut command = match &started.cgroup {
        Some(cgroup) => cgroup.command(point.loadgen),
        None => Command::new(point.loadgen),
    };
    command.args(["run", "--trace"]).arg(point.trace);
    match &started.target {
        Target::Url(url) => command.args(["--url", url]),
        Target::Oracle(urls) => command.args(["--oracle", &urls.join(",")]),
    };
    command
        .args([
            "--qps",
            &point.qps.to_string(),
            "--connection",
            connection,
            "--time-scale",
            &point.args.time_scale.to_string(),
        ])
        .args([
            "--ttft-slo-ms",
            &point.args.ttft_slo_ms.to_string(),
            "--timeout-s",
            "120",
            "--duration-s",
            &format!("{send_s:.0}"),
        ]);
    let summary = tools::loadgen(command)?;
    let mut record = json!({
        "qps": point.qps,
        "connection": connection,
        "contender_cpu_s": if started.pids.is_empty() { Value::Null } else { json!(cpu() - cpu_before) },
        "fleet_cpu_s": tools::cpu_seconds(fleet.pid()) - fleet_before,
        "lagged_steps": fleet.stat_sum("lagged_steps")? - lagged_before,
    });
    if let Some(note) = started.cpu_note {
        record["cpu_note"] = json!(note);
    }
    Ok(with(&summary, record))
}
