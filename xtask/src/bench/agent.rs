//! `cargo xtask bench agent`: the agent's own cost with 16 local model
//! servers scraped every 50 ms: CPU share of one core, resident memory, and
//! how old the scores the kernel uses get (p99). Release builds.

use std::time::{Duration, Instant};

use kvlb_e2e::{agent::AgentProcess, cgroup::TestCgroup, sim::Sim, unique_name, wait_for};

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Model servers to scrape.
    #[arg(long, default_value_t = 16)]
    endpoints: usize,
    /// Seconds of the CPU measurement (no other queries to the agent).
    #[arg(long, default_value_t = 30)]
    cpu_seconds: u64,
    /// Seconds of score-age sampling.
    #[arg(long, default_value_t = 10)]
    age_seconds: u64,
}

/// Runs the benchmark and prints its figures against the targets.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let sims: Vec<Sim> = (1..=args.endpoints).map(|i| Sim::serve(&format!("127.79.0.{i}"), &[])).collect();
    let cgroup = TestCgroup::new(&unique_name("kvlb-bench-agent"));
    let mut pools = String::from("pools:\n  - name: bench\n    vip: 127.79.1.1:8000\n    endpoints:\n");
    for sim in &sims {
        pools.push_str(&format!("      - address: \"{}\"\n", sim.addr));
    }
    let agent = AgentProcess::start(&cgroup, &pools);
    let scraped = wait_for(Duration::from_secs(10), || {
        let s = agent.status();
        s["pools"][0]["endpoints"].as_array()?.iter().all(|e| e["score_age_seconds"].is_number()).then_some(())
    });
    anyhow::ensure!(scraped.is_some(), "not every endpoint was scraped:\n{}", agent.log());

    eprintln!("bench agent: {} endpoints at 50 ms; measuring CPU for {} s", args.endpoints, args.cpu_seconds);
    let cpu = |agent: &AgentProcess| agent.status()["process"]["cpu_seconds"].as_f64().unwrap_or(f64::NAN);
    let (cpu0, t0) = (cpu(&agent), Instant::now());
    std::thread::sleep(Duration::from_secs(args.cpu_seconds));
    let cpu_share = (cpu(&agent) - cpu0) / t0.elapsed().as_secs_f64();

    eprintln!("bench agent: sampling score ages for {} s", args.age_seconds);
    let mut ages = Vec::new();
    let until = Instant::now() + Duration::from_secs(args.age_seconds);
    while Instant::now() < until {
        let s = agent.status();
        ages.extend(s["pools"][0]["endpoints"].as_array().into_iter().flatten().filter_map(|e| e["score_age_seconds"].as_f64()));
        std::thread::sleep(Duration::from_millis(7));
    }
    ages.sort_by(f64::total_cmp);
    let pct = |q: f64| ages.get(((ages.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN) * 1000.0;
    let rss = agent.status()["process"]["resident_bytes"].as_f64().unwrap_or(f64::NAN) / f64::from(1 << 20);

    println!("agent with {} endpoints scraped every 50 ms (release build)", args.endpoints);
    println!("  CPU        {:>6.2} % of one core   (target <= 2 %: {})", cpu_share * 100.0, verdict(cpu_share <= 0.02));
    println!("  RSS        {rss:>6.1} MiB            (target <= 40 MiB: {})", verdict(rss <= 40.0));
    println!(
        "  score age  p50 {:.0} ms  p99 {:.0} ms over {} samples (target p99 <= 100 ms: {})",
        pct(0.5),
        pct(0.99),
        ages.len(),
        verdict(pct(0.99) <= 100.0)
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}
