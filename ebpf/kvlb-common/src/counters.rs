//! `KVLB_COUNTERS`: per-CPU event counters, a per-CPU array of `u64`.

/// Map name, also its pin file name.
pub const MAP: &str = "KVLB_COUNTERS";

/// One slot of `KVLB_COUNTERS`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// A connect to a VIP was rewritten to an endpoint.
    Redirects = 0,
    /// A connect to a VIP found no eligible endpoint and was refused.
    NoEndpointRefused,
    /// A connect to a VIP found no eligible endpoint and passed unchanged.
    NoEndpointPassed,
    /// A pick ignored a pool's scores because they were stale.
    StaleFallbacks,
    /// Runs of the `connect4` program.
    RunsConnect4,
    /// Runs of the `connect6` program.
    RunsConnect6,
    /// Runs of the `getpeername4` program.
    RunsGetpeername4,
    /// Runs of the `getpeername6` program.
    RunsGetpeername6,
    /// Runs of the `sockops` program.
    RunsSockops,
    /// Runs of the `sock_release` program.
    RunsSockRelease,
}

impl Counter {
    /// Every counter, in slot order.
    pub const ALL: [Counter; 10] = [
        Counter::Redirects,
        Counter::NoEndpointRefused,
        Counter::NoEndpointPassed,
        Counter::StaleFallbacks,
        Counter::RunsConnect4,
        Counter::RunsConnect6,
        Counter::RunsGetpeername4,
        Counter::RunsGetpeername6,
        Counter::RunsSockops,
        Counter::RunsSockRelease,
    ];

    /// Number of slots in the map.
    pub const COUNT: u32 = Self::ALL.len() as u32;

    /// A stable snake_case name for CLIs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Redirects => "redirects",
            Counter::NoEndpointRefused => "no_endpoint_refused",
            Counter::NoEndpointPassed => "no_endpoint_passed",
            Counter::StaleFallbacks => "stale_fallbacks",
            Counter::RunsConnect4 => "runs_connect4",
            Counter::RunsConnect6 => "runs_connect6",
            Counter::RunsGetpeername4 => "runs_getpeername4",
            Counter::RunsGetpeername6 => "runs_getpeername6",
            Counter::RunsSockops => "runs_sockops",
            Counter::RunsSockRelease => "runs_sock_release",
        }
    }
}
