//! `kvlb-connbench`: opens and closes TCP connections to one address as fast
//! as one thread can for a fixed time, and prints the connect() latency
//! distribution and the rate as JSON. Closes with SO_LINGER 0 (a reset), so
//! no TIME_WAIT piles up and ports never run out.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use clap::Parser;
use socket2::{Domain, Socket, Type};

#[derive(Parser)]
#[command(about = "Measure TCP connection setup against one address")]
struct Args {
    /// Address to connect to.
    addr: SocketAddr,
    /// How long to run, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
}

fn main() {
    let args = Args::parse();
    // Nanoseconds, from 1 ns to 10 s, 3 significant digits.
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram");
    let mut errors = 0u64;
    let start = Instant::now();
    let deadline = start + Duration::from_millis(args.duration_ms);
    let target = socket2::SockAddr::from(args.addr);
    while Instant::now() < deadline {
        let socket = Socket::new(Domain::for_address(args.addr), Type::STREAM, None).expect("socket");
        let _ = socket.set_linger(Some(Duration::ZERO));
        let t = Instant::now();
        match socket.connect(&target) {
            Ok(()) => latency.saturating_record(t.elapsed().as_nanos() as u64),
            Err(_) => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "connects": latency.len(),
            "errors": errors,
            "per_second": latency.len() as f64 / secs,
            "p50_us": us(0.5),
            "p90_us": us(0.9),
            "p99_us": us(0.99),
        })
    );
}
