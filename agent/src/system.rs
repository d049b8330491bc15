//! What the agent needs from the host: the cgroup v2 hierarchy and bpffs.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The bpffs mount point the agent mounts when absent.
pub const BPFFS: &str = "/sys/fs/bpf";

/// The cgroup v2 mount point, read from `/proc/mounts` (on a hybrid host it is
/// not `/sys/fs/cgroup`, so it is never assumed).
pub fn cgroup2_mount() -> anyhow::Result<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    find_mount(&mounts, "cgroup2").context("no cgroup2 mount in /proc/mounts: kvlb attaches to a cgroup v2 hierarchy; mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) or pass --cgroup")
}

/// The mount point of the first filesystem of type `fstype` in a
/// `/proc/mounts` listing.
fn find_mount(mounts: &str, fstype: &str) -> Option<PathBuf> {
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_dev, dir, ty) = (fields.next()?, fields.next()?, fields.next()?);
        // Mount points escape spaces as \040.
        (ty == fstype).then(|| PathBuf::from(dir.replace("\\040", " ")))
    })
}

/// Mounts bpffs at [`BPFFS`] unless `pin_dir` is already on a bpffs.
pub fn ensure_bpffs(pin_dir: &Path) -> anyhow::Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("cannot read /proc/mounts")?;
    let on_bpffs = mounts.lines().any(|line| {
        let mut f = line.split_whitespace();
        matches!((f.next(), f.next(), f.next()), (Some(_), Some(dir), Some("bpf")) if pin_dir.starts_with(dir))
    });
    if on_bpffs {
        return Ok(());
    }
    if !pin_dir.starts_with(BPFFS) {
        bail!("pin directory {} is not on a bpffs mount; use a directory under {BPFFS}", pin_dir.display());
    }
    std::fs::create_dir_all(BPFFS).with_context(|| format!("cannot create {BPFFS}"))?;
    nix::mount::mount(Some("bpf"), BPFFS, Some("bpf"), nix::mount::MsFlags::empty(), None::<&str>)
        .with_context(|| format!("cannot mount bpffs at {BPFFS} (needs CAP_SYS_ADMIN)"))?;
    tracing::info!(path = BPFFS, "mounted bpffs");
    Ok(())
}

/// Linux capability numbers the agent needs.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails early, naming what is missing, unless this process may load BPF
/// programs (CAP_BPF, and CAP_PERFMON for the pointer arithmetic the
/// verifier allows only with it; CAP_SYS_ADMIN covers both on older kernels)
/// and attach them to cgroups (CAP_NET_ADMIN).
pub fn check_privileges() -> anyhow::Result<()> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .context("no CapEff line in /proc/self/status")?;
    let has = |cap: u32| effective & (1 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_PERFMON");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !missing.is_empty() {
        bail!("missing privileges: kvlb-agent needs {} to load and attach BPF programs; run it as root or grant them", missing.join(", "));
    }
    Ok(())
}

/// Checks that `path` is a directory of the cgroup v2 hierarchy.
pub fn check_cgroup2_dir(path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("cgroup {}: cannot open", path.display()))?;
    if !meta.is_dir() || !path.join("cgroup.procs").exists() {
        bail!("cgroup {}: not a cgroup directory", path.display());
    }
    let stat = nix::sys::statfs::statfs(path).with_context(|| format!("cgroup {}: statfs failed", path.display()))?;
    if stat.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        bail!("cgroup {}: not on a cgroup v2 filesystem (a v1 hierarchy cannot hold socket programs)", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount_in_a_hybrid_listing() {
        let mounts = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        assert_eq!(find_mount(mounts, "cgroup2"), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(find_mount("proc /proc proc rw 0 0\n", "cgroup2"), None);
    }

    #[test]
    fn unescapes_spaces_in_mount_points() {
        assert_eq!(find_mount("none /mnt/my\\040cg cgroup2 rw 0 0\n", "cgroup2"), Some(PathBuf::from("/mnt/my cg")));
    }
}
