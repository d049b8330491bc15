//! `kvlb-probe`: a client for the end-to-end tests and the demo. Opens
//! connections to an address, reads each endpoint's greeting line, records
//! what getpeername() reports, and prints one JSON line per connection.
//! With `--hold` it keeps the connections open until its stdin closes.

use std::{
    io::{BufRead, BufReader, Read},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use clap::Parser;

#[derive(Parser)]
#[command(about = "Open connections and report where they landed")]
struct Args {
    /// Address to connect to (a VIP, or an endpoint).
    addr: SocketAddr,
    /// Connections to open.
    #[arg(long, default_value_t = 1)]
    count: u32,
    /// Pause between connections, in milliseconds.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Keep every connection open until stdin closes.
    #[arg(long)]
    hold: bool,
    /// Only connect (for servers that do not greet, such as model servers).
    #[arg(long)]
    connect_only: bool,
}

fn main() {
    let args = Args::parse();
    let mut held = Vec::new();
    for _ in 0..args.count {
        let (line, stream) = connect(args.addr, args.connect_only);
        println!("{line}");
        if let (true, Some(s)) = (args.hold, stream) {
            held.push(s);
        }
        if args.interval_ms > 0 {
            std::thread::sleep(Duration::from_millis(args.interval_ms));
        }
    }
    println!("{}", serde_json::json!({ "done": true }));
    if args.hold {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    }
}

/// One connection: its report line, and the stream if it opened.
fn connect(addr: SocketAddr, connect_only: bool) -> (serde_json::Value, Option<TcpStream>) {
    let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        Ok(s) => s,
        Err(e) => return (serde_json::json!({ "error": e.to_string(), "errno": e.raw_os_error() }), None),
    };
    let peer = stream.peer_addr().map(|p| p.to_string()).ok();
    if connect_only {
        return (serde_json::json!({ "endpoint": "connected", "peer": peer }), Some(stream));
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
    let mut greeting = String::new();
    let read = BufReader::new(&stream).read_line(&mut greeting);
    let line = match read {
        Ok(n) if n > 0 => serde_json::json!({ "endpoint": greeting.trim(), "peer": peer }),
        Ok(_) => serde_json::json!({ "error": "closed before greeting", "peer": peer }),
        Err(e) => serde_json::json!({ "error": e.to_string(), "peer": peer }),
    };
    (line, Some(stream))
}
