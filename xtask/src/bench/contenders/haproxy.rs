//! Least connections: HAProxy's `balance leastconn` in HTTP mode (it counts
//! the requests each server is serving), one thread, keep-alive both ways.

use std::process::Command;

use super::{Contender, Ctx, Started, find_program, host_port, start_proxy};
use crate::bench::process::free_port;

/// HAProxy least connections.
pub struct Haproxy;

impl Contender for Haproxy {
    fn id(&self) -> &'static str {
        "haproxy-leastconn"
    }
    fn name(&self) -> &'static str {
        "least connections (HAProxy)"
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        find_program("haproxy", &["/usr/sbin/haproxy"])
            .map(drop)
            .ok_or_else(|| {
                "haproxy is not installed (cargo xtask bench quality installs it)".into()
            })
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let port = free_port()?;
        let servers: String = ctx
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| format!("  server r{i} {} maxconn 1000\n", host_port(r)))
            .collect();
        let conf = format!(
            "global\n  maxconn 4000\n  nbthread 1\n\
             defaults\n  mode http\n  timeout connect 5s\n  timeout client 600s\n  timeout server 600s\n  option http-keep-alive\n  option http-no-delay\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  default_backend fleet\n\
             backend fleet\n  balance leastconn\n  http-reuse always\n{servers}"
        );
        let path = ctx.dir.join("haproxy.cfg");
        std::fs::write(&path, conf)?;
        let mut command = Command::new(
            find_program("haproxy", &["/usr/sbin/haproxy"]).unwrap_or_else(|| "haproxy".into()),
        );
        command.arg("-db").arg("-f").arg(&path);
        start_proxy(ctx, self.id(), command, format!("http://127.0.0.1:{port}"))
    }
}
