//! LiteLLM's proxy with `routing_strategy: least-busy` (fewest in-flight
//! requests per deployment), one worker. LiteLLM is large, so it is
//! installed (tests/requirements-litellm.txt) and run only with
//! `--with-litellm`.

use std::process::Command;

use super::{Contender, Ctx, Started, start_proxy};
use kvlb_e2e::bins::loopback_command;
use crate::bench::process::free_port;

/// LiteLLM least-busy.
pub struct Litellm;

impl Contender for Litellm {
    fn id(&self) -> &'static str {
        "litellm-least-busy"
    }
    fn name(&self) -> &'static str {
        "LiteLLM least-busy"
    }
    fn available(&self, ctx: &Ctx<'_>) -> Result<(), String> {
        if !ctx.with_litellm {
            return Err(
                "needs --with-litellm (a large install: tests/requirements-litellm.txt)".into(),
            );
        }
        ctx.python
            .with_file_name("litellm")
            .is_file()
            .then_some(())
            .ok_or_else(|| "litellm is not installed".into())
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let port = free_port()?;
        let deployments: String = ctx
            .replicas
            .iter()
            .map(|r| format!("  - model_name: \"{m}\"\n    litellm_params: {{model: \"openai/{m}\", api_base: \"{r}/v1\", api_key: none}}\n", m = ctx.model))
            .collect();
        let conf = format!(
            "model_list:\n{deployments}router_settings:\n  routing_strategy: least-busy\nlitellm_settings:\n  drop_params: false\n  request_timeout: 600\n"
        );
        let path = ctx.dir.join("litellm.yaml");
        std::fs::write(&path, conf)?;
        let mut command: Command = loopback_command(&ctx.python.with_file_name("litellm"));
        command.arg("--config").arg(&path).args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--num_workers",
            "1",
        ]);
        command
            .env("LITELLM_TELEMETRY", "False")
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True");
        start_proxy(ctx, self.id(), command, format!("http://127.0.0.1:{port}"))
    }
}
