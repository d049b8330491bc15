//! Contenders kvlb will have and does not yet: listed as skipped with the
//! reason, never dropped silently. When one is built it gets its own module.

use super::{Contender, Ctx, Started};

/// A contender that does not exist yet.
pub struct NotBuilt {
    id: &'static str,
    name: &'static str,
}

impl NotBuilt {
    /// kvlb's L7 mode (`kvlb-proxy`).
    pub const KVLB_L7: Self = Self {
        id: "kvlb-l7",
        name: "kvlb l7 (kvlb-proxy)",
    };
    /// GIE's default scoring (queue 2, KV 2, prefix 3) by kvlb's Endpoint
    /// Picker behind Envoy.
    pub const GIE_DEFAULT: Self = Self {
        id: "gie-default",
        name: "GIE default scoring (kvlb EPP + Envoy)",
    };
}

impl Contender for NotBuilt {
    fn id(&self) -> &'static str {
        self.id
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn available(&self, _: &Ctx<'_>) -> Result<(), String> {
        Err("not built yet".into())
    }
    fn start(&self, _: &Ctx<'_>) -> anyhow::Result<Started> {
        anyhow::bail!("{} is not built yet", self.name)
    }
}
