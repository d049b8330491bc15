//! A child cgroup of the cgroup v2 hierarchy, created per test and removed on
//! drop (its processes killed first), so programs are never attached at the
//! root and tests do not see each other.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// A test's own cgroup.
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// Creates `<cgroup2 mount>/<name>`.
    pub fn new(name: &str) -> Self {
        let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
        let root = mounts
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
            })
            .expect("a cgroup2 mount in /proc/mounts (the tests need cgroup v2 and root)");
        let path = root.join(name);
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("create cgroup {}: {e} (tests run as root)", path.display()));
        Self { path }
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command that runs `program` inside this cgroup: a shell moves itself
    /// in, then execs the program, so no other process is affected.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"echo $$ > "$0" && exec "$@""#)
            .arg(self.path.join("cgroup.procs"))
            .arg(program);
        cmd
    }

    /// Pids currently in the cgroup.
    pub fn pids(&self) -> Vec<u32> {
        std::fs::read_to_string(self.path.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        // cgroup.kill (5.14+) kills every process inside; then the directory
        // can go. Retry briefly while the kills land.
        let _ = std::fs::write(self.path.join("cgroup.kill"), "1");
        for _ in 0..100 {
            if std::fs::remove_dir(&self.path).is_ok() || !self.path.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("warning: could not remove test cgroup {}", self.path.display());
    }
}
