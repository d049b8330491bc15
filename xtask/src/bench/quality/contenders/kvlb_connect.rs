//! kvlb's connect mode: the agent attaches the eBPF programs to a test
//! cgroup and the load generator runs inside it, opening a new connection
//! per request to the pool's VIP; the kernel picks the replica at
//! `connect()` (power of two choices on live connections and the agent's
//! scores from the replicas' `/metrics`). There is no proxy hop; the
//! contender's CPU is the agent's (the kernel's share is in the client's).

use kvlb_e2e::{agent::AgentProcess, cgroup::TestCgroup, unique_name};

use super::{Contender, Ctx, Started, Target, host_port};

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
        let root = procfs::process::Process::myself()
            .and_then(|p| p.uid())
            .is_ok_and(|uid| uid == 0);
        if !root {
            return Err("needs root (eBPF programs on a test cgroup)".into());
        }
        let agent = std::env::current_exe().map(|e| e.with_file_name("kvlb-agent"));
        agent
            .is_ok_and(|a| a.is_file())
            .then_some(())
            .ok_or_else(|| "kvlb-agent is not built (cargo build --bins)".into())
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
        let pin_dir = agent.pin_dir.display().to_string();
        let pids = agent_pid(&pin_dir).into_iter().collect();
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

/// The agent process whose command line names `pin_dir`.
fn agent_pid(pin_dir: &str) -> Option<u32> {
    procfs::process::all_processes()
        .ok()?
        .filter_map(Result::ok)
        .find_map(|p| {
            let cmdline = p.cmdline().ok()?;
            (cmdline.iter().any(|a| a.ends_with("kvlb-agent"))
                && cmdline.iter().any(|a| a == pin_dir))
            .then_some(p.pid as u32)
        })
}
