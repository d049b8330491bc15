//! `cargo xtask bench connect`: connection setup through a pool VIP (the
//! kernel rewrites it at connect()) against connecting to the endpoint
//! directly, side by side in one run. Rounds alternate between the modes so
//! machine noise hits all of them alike; the medians of the rounds are
//! compared.

use std::{
    net::{SocketAddr, TcpListener},
    process::Command,
};

use kvlb_e2e::{agent::AgentProcess, bins, cgroup::TestCgroup, unique_name};

/// Options.
#[derive(clap::Args)]
pub struct Args {
    /// Rounds per mode.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Length of one round, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    round_ms: u64,
}

struct Sample {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Runs the benchmark and prints a table with ratios.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let listener = listen("127.78.0.1:0".parse()?)?;
    let endpoint = listener.local_addr()?;
    // The server only has to complete handshakes: the kernel does that; a
    // thread accepts and drops so the backlog never fills.
    std::thread::spawn(move || for conn in listener.incoming() { drop(conn) });
    let vip: SocketAddr = "127.78.1.1:8000".parse()?;
    let cgroup = TestCgroup::new(&unique_name("kvlb-bench"));
    let _agent = AgentProcess::start(
        &cgroup,
        &format!("pools:\n  - name: bench\n    vip: \"{vip}\"\n    scrape: false\n    endpoints:\n      - address: \"{endpoint}\"\n"),
    );

    let modes: [(&str, SocketAddr, bool); 3] = [
        ("direct, no kvlb in the cgroup", endpoint, false),
        ("direct, kvlb attached (not a VIP)", endpoint, true),
        ("VIP via kvlb connect4", vip, true),
    ];
    let mut samples: Vec<Vec<Sample>> = modes.iter().map(|_| Vec::new()).collect();
    for round in 0..args.rounds {
        eprint!("\rbench connect: round {}/{} ", round + 1, args.rounds);
        for (i, (_, addr, in_cgroup)) in modes.iter().enumerate() {
            samples[i].push(measure(*addr, in_cgroup.then_some(&cgroup), args.round_ms)?);
        }
    }
    eprintln!();
    let median = |xs: &mut Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let summary: Vec<(f64, f64, f64)> = samples
        .iter()
        .map(|s| {
            (
                median(&mut s.iter().map(|x| x.per_second).collect()),
                median(&mut s.iter().map(|x| x.p50_us).collect()),
                median(&mut s.iter().map(|x| x.p99_us).collect()),
            )
        })
        .collect();
    let (base_cps, base_p50, _) = summary[0];
    println!("connection setup, one client thread, {} rounds x {} ms (medians)", args.rounds, args.round_ms);
    println!("{:<36} {:>12} {:>10} {:>10} {:>10} {:>12}", "mode", "connects/s", "p50 us", "p99 us", "cps ratio", "p50 added us");
    for ((name, _, _), (cps, p50, p99)) in modes.iter().zip(&summary) {
        println!("{name:<36} {cps:>12.0} {p50:>10.1} {p99:>10.1} {:>10.3} {:>12.2}", cps / base_cps, p50 - base_p50);
    }
    let (vip_cps, vip_p50, _) = summary[2];
    println!(
        "targets: cps ratio >= 0.95 ({}), added p50 <= 2 us ({})",
        verdict(vip_cps / base_cps >= 0.95),
        verdict(vip_p50 - base_p50 <= 2.0)
    );
    Ok(())
}

/// A listener with a deep accept queue, so bursts of handshakes never wait
/// for the accepting thread.
fn listen(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn measure(addr: SocketAddr, cgroup: Option<&TestCgroup>, ms: u64) -> anyhow::Result<Sample> {
    let bench = bins::path("kvlb-connbench");
    let mut cmd = match cgroup {
        Some(cg) => cg.command(&bench),
        None => Command::new(&bench),
    };
    let out = cmd.arg(addr.to_string()).args(["--duration-ms", &ms.to_string()]).output()?;
    anyhow::ensure!(out.status.success(), "kvlb-connbench failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    anyhow::ensure!(v["errors"] == 0, "connection errors against {addr}: {v}");
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Sample { per_second: f("per_second"), p50_us: f("p50_us"), p99_us: f("p99_us") })
}
