//! kvlb's l7 mode: the agent puts the pool's VIP in l7 mode, so the kernel
//! sends connects to the VIP to `kvlb-proxy`, which picks an endpoint per
//! request from the agent's live scores, its own in-flight counts and prompt
//! prefix affinity. The load generator runs in the agent's test cgroup and
//! keeps its connections alive; the proxy's own upstream connections come
//! from outside that cgroup, so they are not redirected.

use std::net::SocketAddr;

use kvlb_e2e::{agent::AgentProcess, cgroup::TestCgroup, proxy::ProxyProcess, unique_name};

use super::{Contender, Ctx, Started, Target, host_port, kvlb_available, pool_models};
use crate::bench::process::wait_answering;

/// The pool's VIP (nothing listens there; the kernel sends connects to the proxy).
const VIP: &str = "127.93.0.2:8000";
/// Where the proxy listens (the agent's `--proxy-addr`).
const PROXY: &str = "127.93.0.3:15000";

/// kvlb l7 mode.
pub struct KvlbL7 {
    /// Extra `kvlb-proxy` flags.
    pub proxy_args: &'static [&'static str],
}

impl Contender for KvlbL7 {
    fn id(&self) -> &'static str {
        "kvlb-l7"
    }
    fn name(&self) -> &'static str {
        "kvlb l7 (kvlb-proxy)"
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        kvlb_available()
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let cgroup = TestCgroup::new(&unique_name("kvlb-bench-l7"));
        let endpoints: String = ctx.replicas.iter().map(|r| format!("      - address: \"{}\"\n", host_port(r))).collect();
        let pools = format!("pools:\n  - name: bench\n    vip: \"{VIP}\"\n    mode: l7\n{}    endpoints:\n{endpoints}", pool_models(ctx));
        std::fs::write(ctx.dir.join("kvlb-l7-pools.yaml"), &pools)?;
        let agent = AgentProcess::start_with(&cgroup, &pools, &["--proxy-addr", PROXY]);
        let proxy_addr: SocketAddr = PROXY.parse()?;
        let proxy = ProxyProcess::start(&agent, proxy_addr, self.proxy_args);
        wait_answering(&format!("http://{PROXY}"), ctx.model, std::time::Duration::from_secs(30), || Ok(()))?;
        Ok(Started {
            target: Target::Url(format!("http://{VIP}")),
            connection: None,
            pids: agent.pid().into_iter().chain([proxy.pid()]).collect(),
            cpu_note: None,
            _guard: Box::new((proxy, agent)),
            cgroup: Some(cgroup),
        })
    }
}
