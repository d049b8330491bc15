//! Least privilege and hygiene checks on what the agent leaves on the host.
//! Needs root.

use std::os::unix::fs::PermissionsExt;

use kvlb_e2e::{agent::AgentProcess, cgroup::TestCgroup, unique_name};

#[test]
fn pinned_maps_and_links_are_readable_by_root_only() {
    let cg = TestCgroup::new(&unique_name("kvlb-sec-pins"));
    let agent = AgentProcess::start(&cg, "pools:\n  - name: a\n    vip: 127.110.1.1:80\n    scrape: false\n");
    let mut pins = Vec::new();
    for entry in std::fs::read_dir(&agent.pin_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            pins.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            pins.push(path);
        }
    }
    assert!(pins.len() >= 9 + 6, "every map and link is pinned: {pins:?}");
    for pin in pins {
        let mode = std::fs::metadata(&pin).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", pin.display());
    }
    let state = std::fs::metadata(agent.state_file()).unwrap().permissions().mode() & 0o022;
    assert_eq!(state, 0, "the state file is not writable by others");
}
