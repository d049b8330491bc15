//! GIE's default scoring as a gateway runs it: Envoy asks kvlb's Endpoint
//! Picker (ext_proc, full-duplex streamed bodies) for every request and
//! sends it where the picker says (an ORIGINAL_DST cluster), the way the
//! Gateway API Inference Extension's reference setup works. The pool uses
//! the agent's `gie-default` scoring preset (GIE's queue and KV-cache
//! weighting; the picker adds prefix affinity), so this is GIE's default
//! policy with kvlb's scrapes, one gRPC hop per request included.

use std::net::SocketAddr;

use kvlb_e2e::{
    agent::AgentProcess,
    cgroup::TestCgroup,
    envoy::{BodyMode, EnvoyProcess, Follow, Picker},
    proxy::ProxyProcess,
    unique_name,
};

use super::{Contender, Ctx, Started, Target, host_port, kvlb_available, pool_models};
use crate::bench::process::wait_answering;

/// The pool's VIP (the agent needs one; the gateway does not use it).
const VIP: &str = "127.93.0.4:8000";
/// kvlb-proxy: its L7 listener (unused) and the Endpoint Picker.
const PROXY: &str = "127.93.0.5:15000";
const PICKER: &str = "127.93.0.5:9002";
/// Envoy, the gateway clients use.
const GATEWAY: &str = "127.93.0.6:10000";

/// GIE default scoring by kvlb's picker behind Envoy.
pub struct GieDefault;

impl Contender for GieDefault {
    fn id(&self) -> &'static str {
        "gie-default"
    }
    fn name(&self) -> &'static str {
        "GIE default scoring (kvlb EPP + Envoy)"
    }
    fn available(&self, ctx: &Ctx<'_>) -> Result<(), String> {
        kvlb_available()?;
        super::envoy::installed(ctx)
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let cgroup = TestCgroup::new(&unique_name("kvlb-bench-gie"));
        let replicas = ctx.replicas.iter().map(|r| host_port(r).parse()).collect::<Result<Vec<SocketAddr>, _>>()?;
        let endpoints: String = replicas.iter().map(|r| format!("      - address: \"{r}\"\n")).collect();
        let pools = format!(
            "pools:\n  - name: bench\n    vip: \"{VIP}\"\n{}    scoring:\n      preset: gie-default\n    endpoints:\n{endpoints}",
            pool_models(ctx)
        );
        std::fs::write(ctx.dir.join("gie-default-pools.yaml"), &pools)?;
        let agent = AgentProcess::start(&cgroup, &pools);
        let proxy = ProxyProcess::start(&agent, PROXY.parse()?, &["--epp-addr", PICKER]);
        let picker = Picker { addr: PICKER.parse()?, body_mode: BodyMode::FullDuplex, fail_open: false, follow: Follow::OriginalDst };
        let gateway = EnvoyProcess::start(GATEWAY.parse()?, &replicas, Some(picker));
        wait_answering(&format!("http://{GATEWAY}"), ctx.model, std::time::Duration::from_secs(30), || Ok(()))?;
        Ok(Started {
            target: Target::Url(format!("http://{GATEWAY}")),
            connection: None,
            pids: agent.pid().into_iter().chain([proxy.pid(), gateway.pid()]).collect(),
            cpu_note: None,
            _guard: Box::new((gateway, proxy, agent, cgroup)),
            cgroup: None,
        })
    }
}
