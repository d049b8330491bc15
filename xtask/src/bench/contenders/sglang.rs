//! SGLang's router (PyPI `sglang-router`) with its defaults, one policy per
//! contender: `cache_aware` (approximate prefix tree of what it routed,
//! falling back to the least loaded worker when loads diverge) and
//! `power_of_two` (two random workers, the less loaded by `/get_load`) for
//! routing quality; `round_robin` for the overhead benchmark.

use super::{Contender, Ctx, Started, start_proxy};
use crate::bench::process::free_port;

/// An sglang-router policy.
pub struct Sglang {
    policy: &'static str,
    id: &'static str,
    name: &'static str,
}

impl Sglang {
    /// `--policy cache_aware`.
    pub const CACHE_AWARE: Self = Self {
        policy: "cache_aware",
        id: "sglang-cache-aware",
        name: "SGLang router cache_aware",
    };
    /// `--policy power_of_two`.
    pub const POWER_OF_TWO: Self = Self {
        policy: "power_of_two",
        id: "sglang-power-of-two",
        name: "SGLang router power_of_two",
    };
    /// `--policy round_robin`.
    pub const ROUND_ROBIN: Self = Self {
        policy: "round_robin",
        id: "sglang-rr",
        name: "SGLang router round_robin",
    };
}

impl Contender for Sglang {
    fn id(&self) -> &'static str {
        self.id
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn available(&self, ctx: &Ctx<'_>) -> Result<(), String> {
        let found = ctx.python.with_file_name("sglang-router").is_file();
        found.then_some(()).ok_or_else(|| {
            "sglang-router is not installed (tests/requirements.txt; cargo xtask setup)".into()
        })
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let port = free_port()?;
        let mut command = kvlb_e2e::bins::loopback_command(&ctx.python);
        command
            .args([
                "-m",
                "sglang_router.launch_router",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args([
                "--prometheus-host",
                "127.0.0.1",
                "--prometheus-port",
                &free_port()?.to_string(),
            ])
            .args([
                "--policy",
                self.policy,
                "--log-level",
                "warn",
                "--worker-urls",
            ])
            .args(ctx.replicas);
        start_proxy(ctx, self.id, command, format!("http://127.0.0.1:{port}"))
    }
}
