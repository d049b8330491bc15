//! The proxy's client limits, each enforced: `--max-connections` (the next
//! connection waits in the accept queue until one closes) and `--max-streams`
//! (advertised as SETTINGS_MAX_CONCURRENT_STREAMS, honoured by a conforming
//! client, and extra streams refused to one that ignores it). Needs root.

use std::{
    io::Write,
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    proxy::ProxyProcess,
    sim::{MODEL, Sim},
    unique_name,
};

struct Setup {
    _cg: TestCgroup,
    sim: Sim,
    _agent: AgentProcess,
    proxy: ProxyProcess,
}

/// One simulator on `net.0.1` in an l7 pool, and a proxy on `net.0.100`
/// with `proxy_args`.
fn setup(tag: &str, net: &str, sim_args: &[&str], proxy_args: &[&str]) -> Setup {
    let cg = TestCgroup::new(&unique_name(tag));
    let sim = Sim::serve(&format!("{net}.0.1"), sim_args);
    let proxy_addr: SocketAddr = format!("{net}.0.100:15000").parse().unwrap();
    let pools = format!("pools:\n  - name: llm\n    vip: \"{net}.1.1:8000\"\n    mode: l7\n    models: [{MODEL}]\n    endpoints:\n      - address: \"{}\"\n", sim.addr);
    let agent = AgentProcess::start_with(&cg, &pools, &["--proxy-addr", &proxy_addr.to_string()]);
    let proxy = ProxyProcess::start(&agent, proxy_addr, proxy_args);
    Setup { _cg: cg, sim, _agent: agent, proxy }
}

fn chat_body(max_tokens: u32) -> String {
    serde_json::json!({ "model": MODEL, "max_tokens": max_tokens, "ignore_eos": true, "messages": [{ "role": "user", "content": "limits" }] }).to_string()
}

/// An HTTP/1.1 keep-alive connection to the proxy.
async fn http1(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.expect("handshake");
    tokio::spawn(conn);
    send
}

/// `GET /v1/models` on a connection; its status.
async fn models(send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>) -> u16 {
    let req = hyper::Request::get("/v1/models").header("host", "kvlb").body(Empty::new()).unwrap();
    let response = send.send_request(req).await.expect("response");
    let status = response.status().as_u16();
    response.into_body().collect().await.expect("body");
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_beyond_max_connections_waits_until_one_closes() {
    let s = setup("kvlb-lim-conns", "127.131", &["--time-scale", "100"], &["--max-connections", "2"]);
    let addr = s.proxy.addr;
    let (mut first, mut second) = (http1(addr).await, http1(addr).await);
    assert_eq!((models(&mut first).await, models(&mut second).await), (200, 200));

    // The kernel completes the third handshake (the listen backlog), but the
    // proxy does not accept it while two are open.
    let mut third = http1(addr).await;
    let waiting = tokio::spawn(async move { models(&mut third).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a third connection was served with --max-connections 2");
    assert_eq!((models(&mut first).await, models(&mut second).await), (200, 200), "the two open connections keep working");
    assert!(!waiting.is_finished(), "a third connection was served with --max-connections 2");

    drop(first);
    let served = tokio::time::timeout(Duration::from_secs(10), waiting).await;
    assert_eq!(served.expect("the third connection is served once one closes").expect("task"), 200);
    assert_eq!(models(&mut second).await, 200);
}

/// Requests the simulator is running or has queued now.
fn sim_requests(sim: SocketAddr) -> f64 {
    let page = ureq::get(&format!("http://{sim}/metrics")).call().and_then(|r| r.into_body().read_to_string()).expect("sim metrics");
    page.lines()
        .filter(|l| l.starts_with("vllm:num_requests_running") || l.starts_with("vllm:num_requests_waiting"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_client_gets_max_streams_advertised_and_its_extra_streams_wait() {
    let s = setup("kvlb-lim-h2", "127.132", &[], &["--max-streams", "2"]);
    let tcp = tokio::net::TcpStream::connect(s.proxy.addr).await.expect("connect");
    let (client, mut conn) = h2::client::handshake(tcp).await.expect("h2c handshake");
    // The server's SETTINGS precede its answer to a ping.
    let mut ping = conn.ping_pong().expect("ping handle");
    tokio::select! {
        r = &mut conn => panic!("the connection ended: {r:?}"),
        pong = ping.ping(h2::Ping::opaque()) => drop(pong.expect("pong")),
    }
    assert_eq!(conn.max_concurrent_send_streams(), 2, "SETTINGS_MAX_CONCURRENT_STREAMS");
    tokio::spawn(conn);

    // Four long requests at once on the one connection: two run, two wait
    // in the client until a stream closes.
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut client = client.ready().await.expect("ready");
                let req = http::Request::post("http://kvlb/v1/chat/completions").header("content-type", "application/json").body(()).unwrap();
                let (response, mut body) = client.send_request(req, false).expect("send");
                body.send_data(Bytes::from(chat_body(200)), true).expect("body");
                let response = response.await.expect("response");
                let status = response.status().as_u16();
                let mut stream = response.into_body();
                while let Some(chunk) = stream.data().await {
                    let chunk = chunk.expect("chunk");
                    let _ = stream.flow_control().release_capacity(chunk.len());
                }
                status
            })
        })
        .collect();
    let sim = s.sim.addr;
    let most = tokio::task::spawn_blocking(move || {
        let mut most = 0.0f64;
        let mut quiet = 0;
        // Until the simulator has been idle for half a second after load.
        while quiet < 25 {
            let now = sim_requests(sim);
            most = most.max(now);
            quiet = if now == 0.0 && most > 0.0 { quiet + 1 } else { 0 };
            std::thread::sleep(Duration::from_millis(20));
        }
        most
    });
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(tokio::time::timeout(Duration::from_secs(60), r).await.expect("request finished").expect("task"));
    }
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(tokio::time::timeout(Duration::from_secs(60), most).await.expect("sampling ended").expect("task"), 2.0, "requests at the simulator at once");
}

/// Raw HTTP/2 frames, for a client that breaks the rules on purpose.
mod frames {
    use std::io::{Read, Write};

    /// DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY frame types.
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
    /// Flags.
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;

    /// Writes one frame.
    pub fn write(w: &mut impl Write, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
        let mut frame = vec![len[1], len[2], len[3], kind, flags];
        frame.extend_from_slice(&stream.to_be_bytes());
        frame.extend_from_slice(payload);
        w.write_all(&frame).expect("write frame");
    }

    /// Reads one frame: type, flags, stream, payload.
    pub fn read(r: &mut impl Read) -> (u8, u8, u32, Vec<u8>) {
        let mut head = [0u8; 9];
        r.read_exact(&mut head).expect("read a frame header (nothing within the read timeout)");
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        r.read_exact(&mut payload).expect("read frame payload");
        (head[3], head[4], u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff, payload)
    }

    /// A request header block of HPACK literals without indexing (short
    /// names and values, no Huffman coding).
    pub fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut block = Vec::new();
        for (name, value) in fields {
            block.push(0x00);
            block.push(u8::try_from(name.len()).unwrap());
            block.extend_from_slice(name.as_bytes());
            block.push(u8::try_from(value.len()).unwrap());
            block.extend_from_slice(value.as_bytes());
        }
        block
    }
}

#[test]
fn streams_beyond_max_streams_are_refused_to_a_client_that_ignores_the_limit() {
    let s = setup("kvlb-lim-refuse", "127.133", &["--time-scale", "100"], &["--max-streams", "2"]);
    let mut conn = TcpStream::connect(s.proxy.addr).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    frames::write(&mut conn, frames::SETTINGS, 0, 0, &[]);
    let settings = loop {
        match frames::read(&mut conn) {
            (frames::SETTINGS, flags, 0, payload) if flags & frames::ACK == 0 => break payload,
            _ => continue,
        }
    };
    let advertised: Vec<(u16, u32)> = settings.chunks(6).map(|p| (u16::from_be_bytes([p[0], p[1]]), u32::from_be_bytes([p[2], p[3], p[4], p[5]]))).collect();
    assert!(advertised.contains(&(0x3, 2)), "SETTINGS_MAX_CONCURRENT_STREAMS = 2 in {advertised:?}");
    frames::write(&mut conn, frames::SETTINGS, frames::ACK, 0, &[]);

    // Three requests whose bodies are still to come: three open streams.
    let headers = frames::header_block(&[(":method", "POST"), (":scheme", "http"), (":path", "/v1/chat/completions"), (":authority", "kvlb"), ("content-type", "application/json")]);
    for stream in [1, 3, 5] {
        frames::write(&mut conn, frames::HEADERS, frames::END_HEADERS, stream, &headers);
    }
    loop {
        match frames::read(&mut conn) {
            (frames::RST_STREAM, _, 5, code) => {
                assert_eq!(code, 7u32.to_be_bytes(), "the third stream is refused with REFUSED_STREAM");
                break;
            }
            (frames::RST_STREAM | frames::GOAWAY, _, stream, payload) => panic!("stream {stream} reset or connection closed: {payload:?}"),
            _ => continue,
        }
    }

    // The two streams within the limit are served.
    let body = chat_body(1);
    for stream in [1, 3] {
        frames::write(&mut conn, frames::DATA, frames::END_STREAM, stream, body.as_bytes());
    }
    let mut ended = Vec::new();
    while ended.len() < 2 {
        match frames::read(&mut conn) {
            (frames::HEADERS | frames::DATA, flags, stream, _) if flags & frames::END_STREAM != 0 => ended.push(stream),
            (frames::RST_STREAM | frames::GOAWAY, _, stream, payload) => panic!("stream {stream} reset or connection closed: {payload:?}"),
            _ => continue,
        }
    }
    ended.sort_unstable();
    assert_eq!(ended, vec![1, 3]);
    assert_eq!(s.proxy.counter("kvlb_proxy_requests_total", &["status=\"200\""]), 2.0, "{}", s.proxy.metrics());
}

#[test]
fn the_prefix_index_holds_at_most_prefix_blocks() {
    let s = setup("kvlb-lim-prefix", "127.134", &["--time-scale", "100"], &["--prefix-blocks", "8"]);
    let client = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    for i in 0..4 {
        // About 13 blocks of 64 bytes each, none shared with another request.
        let content = format!("request {i}: {}", "a question that shares nothing ".repeat(28));
        let body = serde_json::json!({ "model": MODEL, "max_tokens": 1, "messages": [{ "role": "user", "content": content }] }).to_string();
        let response = client.post(&format!("http://{}/v1/chat/completions", s.proxy.addr)).header("content-type", "application/json").send(body).expect("POST");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(s.proxy.counter("kvlb_proxy_prefix_index_blocks", &[]), 8.0, "{}", s.proxy.metrics());
}
