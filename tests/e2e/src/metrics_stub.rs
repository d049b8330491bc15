//! A metrics endpoint that misbehaves in one chosen way, to show a bad model
//! server cannot stall or bloat the agent.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    time::Duration,
};

/// How the stub answers every request.
#[derive(Clone, Copy, Debug)]
pub enum Misbehaviour {
    /// 200 with bytes that are not Prometheus text.
    Garbage,
    /// 200 with an empty body.
    Empty,
    /// 500.
    ServerError,
    /// 200 with this many bytes of Prometheus-looking text.
    Huge(usize),
    /// Accepts and never answers.
    Silent,
}

/// Starts a stub on `addr` (port 0 for any) and returns where it listens.
pub fn start(addr: SocketAddr, how: Misbehaviour) -> SocketAddr {
    let listener = TcpListener::bind(addr).expect("bind metrics stub");
    let local = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let (status, body): (&str, Vec<u8>) = match how {
                    Misbehaviour::Garbage => ("200 OK", b"{{{ this is not prometheus }}}\n\x00\xff".to_vec()),
                    Misbehaviour::Empty => ("200 OK", Vec::new()),
                    Misbehaviour::ServerError => ("500 Internal Server Error", b"boom".to_vec()),
                    Misbehaviour::Huge(n) => ("200 OK", "vllm:num_requests_waiting 1\n".repeat(n / 28 + 1).into_bytes()),
                    Misbehaviour::Silent => {
                        std::thread::sleep(Duration::from_secs(3600));
                        return;
                    }
                };
                let head = format!("HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n", body.len());
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    local
}
