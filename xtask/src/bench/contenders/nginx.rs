//! Round robin: nginx's default upstream balancing, one worker, streaming
//! unbuffered, keep-alive to the replicas.

use std::process::Command;

use super::{Contender, Ctx, Started, find_program, host_port, start_proxy};
use crate::bench::process::free_port;

/// nginx round robin.
pub struct Nginx;

impl Contender for Nginx {
    fn id(&self) -> &'static str {
        "nginx-rr"
    }
    fn name(&self) -> &'static str {
        "round robin (nginx)"
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        find_program("nginx", &["/usr/sbin/nginx"])
            .map(drop)
            .ok_or_else(|| "nginx is not installed (cargo xtask bench quality installs it)".into())
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let port = free_port()?;
        let dir = ctx.dir.join("nginx");
        std::fs::create_dir_all(&dir)?;
        let servers: String = ctx
            .replicas
            .iter()
            .map(|r| format!("    server {};\n", host_port(r)))
            .collect();
        let d = dir.display();
        let conf = format!(
            "daemon off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  client_max_body_size 16m;\n  client_body_buffer_size 1m;\n\
               upstream fleet {{\n{servers}    keepalive 512;\n  }}\n\
               server {{\n    listen 127.0.0.1:{port} backlog=4096;\n    location / {{\n      proxy_pass http://fleet;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n      proxy_request_buffering off;\n      proxy_read_timeout 600s;\n    }}\n  }}\n}}\n"
        );
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf)?;
        let mut command = Command::new(
            find_program("nginx", &["/usr/sbin/nginx"]).unwrap_or_else(|| "nginx".into()),
        );
        command
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(dir.join("error.log"));
        start_proxy(ctx, self.id(), command, format!("http://127.0.0.1:{port}"))
    }
}
