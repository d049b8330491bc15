//! Endpoint servers: each accepts on its address, writes its name and a
//! newline, and keeps the connection open until the client closes it, so
//! tests can tell where a connection landed and hold it live.

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpListener},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

/// A running endpoint server; stops on drop.
pub struct EndpointServer {
    /// Its name, the first line every client reads.
    pub name: String,
    /// Where it listens.
    pub addr: SocketAddr,
    accepted: Arc<AtomicU64>,
    open: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl EndpointServer {
    /// Listens on `addr` (port 0 picks a free port) and serves in a thread.
    pub fn start(name: &str, addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind endpoint {name} on {addr}: {e}"));
        listener.set_nonblocking(true).expect("nonblocking listener");
        let addr = listener.local_addr().expect("local addr");
        let accepted = Arc::new(AtomicU64::new(0));
        let open = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (greeting, count, live, halt) = (format!("{name}\n"), accepted.clone(), open.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        live.fetch_add(1, Ordering::Relaxed);
                        let (greeting, live) = (greeting.clone(), live.clone());
                        std::thread::spawn(move || {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.write_all(greeting.as_bytes());
                            // Hold the connection until the client closes it.
                            let mut sink = [0u8; 64];
                            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                            live.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Self { name: name.to_owned(), addr, accepted, open, stop }
    }

    /// Connections open right now (accepted and not yet closed by the client).
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for EndpointServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
