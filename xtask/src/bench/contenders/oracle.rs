//! The oracle: the load generator picks each request's replica from the
//! simulators' exact state (kvlb-bench's `oracle` module); no process of
//! its own, so its CPU is inside the load generator's.

use super::{Contender, Ctx, Started, Target};

/// The exact-state oracle.
pub struct Oracle;

impl Contender for Oracle {
    fn id(&self) -> &'static str {
        "oracle"
    }
    fn name(&self) -> &'static str {
        "oracle (exact simulator state)"
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        Ok(())
    }
    fn on_request_path(&self) -> bool {
        false
    }
    fn start(&self, ctx: &Ctx<'_>) -> anyhow::Result<Started> {
        Ok(Started {
            target: Target::Oracle(ctx.replicas.to_vec()),
            connection: None,
            pids: Vec::new(),
            cpu_note: Some("runs inside the load generator"),
            _guard: Box::new(()),
            cgroup: None,
        })
    }
}
