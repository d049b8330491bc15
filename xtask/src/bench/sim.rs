//! `cargo xtask bench sim`: can one simulator core carry a benchmark's
//! fleet? One `kvlb-sim fleet` process (16 replicas by default) pinned to
//! one core with one tokio worker, driven by `kvlb-loadgen` pinned to the
//! other with a fixed number of concurrent streams spread evenly over the
//! replicas. Reports the simulator's own CPU time (from /proc), its
//! `lagged_steps` (steps where model time trailed the wall clock: the
//! simulator, not the model, was the bottleneck) against all steps, and the
//! inter-token latency the client measured against the one the engine
//! modelled. Trustworthy: at most 0.1 % of steps lagged and the measured
//! mean ITL within 10 % of the model's.

use std::process::Command;

use super::{fleet::Fleet, tools};

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Replicas in the fleet.
    #[arg(long, default_value_t = 16)]
    replicas: usize,
    /// Concurrent streams in total.
    #[arg(long, default_value_t = 256)]
    streams: usize,
    /// Output tokens per request.
    #[arg(long, default_value_t = 200)]
    output_tokens: u32,
    /// Measurement length, seconds.
    #[arg(long, default_value_t = 20.0)]
    duration_s: f64,
    /// Replica profile.
    #[arg(long, default_value = "h100-8b")]
    profile: String,
    /// Core the simulator is pinned to (the load generator gets another).
    #[arg(long, default_value_t = 1)]
    sim_core: usize,
    /// Core the load generator is pinned to.
    #[arg(long, default_value_t = 0)]
    client_core: usize,
}

/// Runs the benchmark and prints a table.
pub fn run(args: &Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.replicas >= 1 && args.streams >= 1,
        "--replicas and --streams must be at least 1"
    );
    anyhow::ensure!(args.duration_s > 0.0, "--duration-s must be positive");
    anyhow::ensure!(
        args.sim_core != args.client_core,
        "--sim-core and --client-core must differ"
    );
    tools::build_release()?;
    let (sim, loadgen) = (
        tools::release_bin("kvlb-sim")?,
        tools::release_bin("kvlb-loadgen")?,
    );
    let dir = tempfile::tempdir()?;
    let trace = dir.path().join("trace.jsonl");
    // Short unique prompts, exactly `output_tokens` each: the cost is the
    // token stream, as in the decode-heavy phase of any benchmark.
    let out = args.output_tokens.to_string();
    let gen_args = [
        "sharegpt",
        "--requests",
        "1024",
        "--input-median",
        "64",
        "--input-sigma",
        "0",
        "--output-median",
        &out,
        "--output-sigma",
        "0",
        "--output-max",
        &out,
    ];
    tools::generate(&loadgen, &trace, &gen_args.map(String::from))?;
    let fleet_args: Vec<String> = [
        "--base-addr",
        "127.92.0.1",
        "--port",
        "0",
        "--profile",
        &args.profile,
    ]
    .map(String::from)
    .into();
    let fleet = Fleet::start(
        &sim,
        args.replicas,
        &fleet_args,
        Some(args.sim_core),
        &dir.path().join("sim.log"),
    )?;
    eprintln!(
        "bench sim: {} replicas on core {}, {} streams from core {}, {} s ...",
        args.replicas, args.sim_core, args.streams, args.client_core, args.duration_s
    );

    let cpu_before = tools::cpu_seconds(fleet.pid());
    let wall = std::time::Instant::now();
    let mut command = Command::new("taskset");
    command
        .args(["-c", &args.client_core.to_string()])
        .arg(&loadgen)
        .args(["run", "--trace"])
        .arg(&trace)
        .args([
            "--url",
            &fleet.urls.join(","),
            "--concurrency",
            &args.streams.to_string(),
        ])
        .args([
            "--duration-s",
            &args.duration_s.to_string(),
            "--threads",
            "1",
            "--timeout-s",
            "120",
        ]);
    let summary = tools::loadgen(command)?;
    let wall_s = wall.elapsed().as_secs_f64();
    let sim_cpu = tools::cpu_seconds(fleet.pid()) - cpu_before;

    let states = fleet.states()?;
    let stat = |key: &str| -> f64 {
        states
            .iter()
            .map(|s| s["stats"][key].as_f64().unwrap_or(0.0))
            .sum()
    };
    let lagged = stat("lagged_steps");
    let steps: f64 = states.iter().map(|s| s["steps"].as_f64().unwrap_or(0.0)).sum();
    let modelled_itl_ms = states
        .iter()
        .map(|s| s["stats"]["itl"]["sum"].as_f64().unwrap_or(0.0))
        .sum::<f64>()
        / states
            .iter()
            .map(|s| s["stats"]["itl"]["count"].as_f64().unwrap_or(0.0))
            .sum::<f64>()
            .max(1.0)
        * 1000.0;
    let f = |key: &str| summary[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "simulator benchmark: {} x {}, {} streams, {} output tokens each, {:.1} s",
        args.replicas, args.profile, args.streams, args.output_tokens, wall_s
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| requests completed / errors | {} / {} |",
        summary["completed"], summary["errors"]
    );
    println!(
        "| streamed chunks per second | {:.0} |",
        f("chunks_per_wall_s")
    );
    println!("| output tokens per second | {:.0} |", f("output_tok_s"));
    println!(
        "| simulator CPU (its core) | {:.2} s of {:.1} s = {:.0} % |",
        sim_cpu,
        wall_s,
        100.0 * sim_cpu / wall_s
    );
    println!("| lagged_steps / steps (all replicas) | {lagged:.0} / {steps:.0} |");
    println!("| ITL modelled by the engines, mean | {modelled_itl_ms:.2} ms |");
    println!(
        "| ITL measured by the client, mean / p50 / p99 | {:.2} / {:.2} / {:.2} ms |",
        f("itl_mean_ms"),
        f("itl_p50_ms"),
        f("itl_p99_ms")
    );
    println!(
        "| TTFT measured, p50 / p99 | {:.1} / {:.1} ms |",
        f("ttft_p50_ms"),
        f("ttft_p99_ms")
    );
    println!(
        "| load generator's worst send lag | {:.1} ms |",
        f("max_send_lag_ms")
    );
    let trusted =
        lagged == 0.0 && (f("itl_mean_ms") - modelled_itl_ms).abs() <= 0.1 * modelled_itl_ms;
    println!(
        "verdict: {}",
        if trusted {
            "trustworthy (at most 0.1 % of steps lagged, measured ITL within 10 % of the model)"
        } else {
            "NOT trustworthy (over 0.1 % of steps lagged, or measured ITL off the model by more than 10 %)"
        }
    );
    Ok(())
}
