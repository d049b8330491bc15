//! kvlb's connect mode: the agent attaches the eBPF programs to a test
//! cgroup and the load generator runs inside it, opening a new connection
//! per request to the pool's VIP; the kernel picks the replica at
//! `connect()` (power of two choices on live connections and the agent's
//! scores from the replicas' `/metrics`). There is no proxy hop; the
//! contender's CPU is the agent's (the kernel's share is in the client's).

use kvlb_e2e::{agent::AgentProcess, cgroup::TestCgroup, unique_name};

use super::{Contender, Ctx, Started, Target, host_port, kvlb_available};

/// The pool's VIP (nothing listens there; the kernel rewrites connects).
const VIP: &str = "127.93.0.1:8000";

/// kvlb connect mode.
pub struct KvlbConnect;

impl Contender for KvlbConnect {
    fn id(&self) -> &'static str {
        "kvlb-connect"
    }
    fn name(&self) -> &'static str {
        "kvlb connect (eBPF)"
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        kvlb_available()
    }
    fn on_request_path(&self) -> bool {
        false
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        let cgroup = TestCgroup::new(&unique_name("kvlb-bench"));
        let endpoints: String = ctx
            .replicas
            .iter()
            .map(|r| format!("      - address: \"{}\"\n", host_port(r)))
            .collect();
        let pools =
            format!("pools:\n  - name: bench\n    vip: \"{VIP}\"\n    endpoints:\n{endpoints}");
        std::fs::write(ctx.dir.join("kvlb-pools.yaml"), &pools)?;
        let agent = AgentProcess::start(&cgroup, &pools);
        let pids = agent.pid().into_iter().collect();
        Ok(Started {
            target: Target::Url(format!("http://{VIP}")),
            connection: Some("new"),
            pids,
            cpu_note: None,
            _guard: Box::new(agent),
            cgroup: Some(cgroup),
        })
    }
}
