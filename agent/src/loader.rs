//! Loads the kernel programs, attaches them to a cgroup v2 directory and pins
//! their links and maps, so routing outlives the agent process; and removes
//! all of it again (`kvlb-agent detach`).
//!
//! A restarted agent attaches fresh programs next to the running ones before
//! it unpins the old links, so no connect() ever runs without a program. Two
//! instances at once are harmless: the first rewrites the VIP, and the second
//! sees an endpoint address, not a VIP; the socket's counted flag keeps
//! sockops from counting twice.

use std::{
    collections::BTreeSet,
    fs,
    os::fd::AsFd,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use aya::{
    Ebpf, EbpfLoader,
    util::KernelVersion,
    programs::{CgroupAttachMode, CgroupSock, ProgramError, SockOps, links::FdLink},
};
use aya_log::EbpfLogger;
use kvlb_common::{counters, endpoint, pool, sock, vip};

use crate::system;

/// The eBPF object, built by build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/kvlb"));

/// Every pinned map, by name.
pub const MAP_NAMES: [&str; 9] = [
    vip::MAP,
    pool::MAP,
    pool::SLOTS_MAP,
    pool::COUNTERS_MAP,
    endpoint::MAP,
    endpoint::LIVE_MAP,
    endpoint::CONNS_MAP,
    sock::MAP,
    counters::MAP,
];

/// Every program, by function name, in attach order: bookkeeping first, so a
/// socket redirected by the new connect program is already seen by the new
/// sockops and release programs.
const PROGRAMS: [&str; 6] = [
    "kvlb_sock_release",
    "kvlb_sockops",
    "kvlb_getpeername4",
    "kvlb_getpeername6",
    "kvlb_connect4",
    "kvlb_connect6",
];

/// Where and how to attach.
pub struct AttachOptions {
    /// bpffs directory for map and link pins.
    pub pin_dir: PathBuf,
    /// cgroup v2 directory whose processes' sockets are balanced.
    pub cgroup: PathBuf,
    /// aya-log level for the kernel programs (0 = off, 5 = trace).
    pub log_level: u8,
}

/// Loaded and attached programs. Dropping this leaves them attached (their
/// links are pinned); only [`detach`] removes them.
pub struct Attached {
    /// Kept so the program objects (and the aya-log ring) stay valid.
    _ebpf: Ebpf,
    /// Kernel log records, when a log level was asked for.
    pub logger: Option<EbpfLogger<&'static dyn log::Log>>,
}

/// Loads, attaches and pins everything, replacing an earlier instance's links
/// without a gap. On failure nothing this call created is left behind.
pub fn attach(opts: &AttachOptions) -> anyhow::Result<Attached> {
    system::check_privileges()?;
    system::ensure_bpffs(&opts.pin_dir)?;
    system::check_cgroup2_dir(&opts.cgroup)?;
    let links_dir = opts.pin_dir.join("links");
    let mut undo = Undo { dir: (!opts.pin_dir.exists()).then(|| opts.pin_dir.clone()), pins: Vec::new() };
    let result = attach_inner(opts, &links_dir, &mut undo);
    match result {
        Ok(attached) => {
            undo.pins.clear();
            undo.dir = None;
            Ok(attached)
        }
        Err(e) => {
            undo.run();
            Err(explain_permission(e))
        }
    }
}

fn attach_inner(opts: &AttachOptions, links_dir: &Path, undo: &mut Undo) -> anyhow::Result<Attached> {
    fs::create_dir_all(links_dir).with_context(|| format!("cannot create {}", links_dir.display()))?;
    for name in MAP_NAMES {
        let path = opts.pin_dir.join(name);
        if !path.exists() {
            undo.pins.push(path);
        }
    }
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(&opts.pin_dir)
        .override_global(aya_log::LEVEL, &opts.log_level, true)
        .load(OBJECT)
        .context("cannot load the BPF object (maps)")?;
    let logger = if opts.log_level > 0 {
        Some(EbpfLogger::init(&mut ebpf).context("cannot set up kernel logging")?)
    } else {
        None
    };

    let cgroup = fs::File::open(&opts.cgroup).with_context(|| format!("cannot open cgroup {}", opts.cgroup.display()))?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let mut fresh = BTreeSet::new();
    for name in PROGRAMS {
        let link = load_and_attach(&mut ebpf, name, cgroup.as_fd())
            .with_context(|| format!("cannot load or attach program {name}"))?;
        let path = links_dir.join(format!("{name}@{stamp}"));
        link.pin(&path).with_context(|| format!("cannot pin link {}", path.display()))?;
        undo.pins.push(path.clone());
        fresh.insert(path);
    }

    // The new programs run; now let the old ones go.
    for entry in fs::read_dir(links_dir)? {
        let path = entry?.path();
        if !fresh.contains(&path) {
            fs::remove_file(&path).with_context(|| format!("cannot unpin old link {}", path.display()))?;
        }
    }
    Ok(Attached { _ebpf: ebpf, logger })
}

fn load_and_attach(ebpf: &mut Ebpf, name: &str, cgroup: std::os::fd::BorrowedFd<'_>) -> anyhow::Result<FdLink> {
    let program = ebpf.program_mut(name).with_context(|| format!("program {name} missing from the object"))?;
    let mode = attach_mode();
    let link: FdLink = match program {
        aya::programs::Program::CgroupSockAddr(p) => {
            p.load().map_err(verifier)?;
            let id = p.attach(cgroup, mode)?;
            p.take_link(id)?.try_into()?
        }
        aya::programs::Program::SockOps(p) => {
            let p: &mut SockOps = p;
            p.load().map_err(verifier)?;
            let id = p.attach(cgroup, mode)?;
            p.take_link(id)?.try_into()?
        }
        aya::programs::Program::CgroupSock(p) => {
            let p: &mut CgroupSock = p;
            p.load().map_err(verifier)?;
            let id = p.attach(cgroup, mode)?;
            p.take_link(id)?.try_into()?
        }
        other => bail!("program {name} has unexpected type {:?}", other.prog_type()),
    };
    Ok(link)
}

/// Coexisting with other cgroup programs (Cilium's at the root): on kernels
/// with cgroup bpf_links (5.7+) aya attaches through a link, which the kernel
/// always runs in multi-program mode and which rejects any flag, so the mode
/// must be `Single` (flags 0) there; older kernels get `BPF_F_ALLOW_MULTI`.
fn attach_mode() -> CgroupAttachMode {
    match KernelVersion::current() {
        Ok(v) if v >= KernelVersion::new(5, 7, 0) => CgroupAttachMode::Single,
        _ => CgroupAttachMode::AllowMultiple,
    }
}

/// Puts the verifier's log into the error, where an operator will see it.
fn verifier(e: ProgramError) -> anyhow::Error {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => {
            anyhow::anyhow!("{io_error}; verifier log:\n{verifier_log}")
        }
        other => other.into(),
    }
}

/// Turns a bare EPERM or EACCES into what to do about it.
fn explain_permission(e: anyhow::Error) -> anyhow::Error {
    let denied = e.chain().any(|c| {
        matches!(c.downcast_ref::<std::io::Error>().and_then(|io| io.raw_os_error()), Some(libc::EPERM | libc::EACCES))
            || c.to_string().contains("Operation not permitted")
            || c.to_string().contains("Permission denied")
    });
    if denied {
        e.context("permission denied: loading and attaching BPF programs needs root, or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (CAP_SYS_ADMIN to mount bpffs)")
    } else {
        e
    }
}

/// What a failed attach must take back.
struct Undo {
    dir: Option<PathBuf>,
    pins: Vec<PathBuf>,
}

impl Undo {
    fn run(&mut self) {
        for path in self.pins.drain(..) {
            let _ = fs::remove_file(path);
        }
        if let Some(dir) = self.dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Removes every link (detaching the programs) and map kvlb pinned in
/// `pin_dir`, then the directory. Idempotent.
pub fn detach(pin_dir: &Path) -> anyhow::Result<()> {
    if !pin_dir.exists() {
        return Ok(());
    }
    let links_dir = pin_dir.join("links");
    if links_dir.exists() {
        for entry in fs::read_dir(&links_dir)? {
            let path = entry?.path();
            fs::remove_file(&path).with_context(|| format!("cannot unpin {}", path.display()))?;
        }
        fs::remove_dir(&links_dir)?;
    }
    for name in MAP_NAMES {
        let path = pin_dir.join(name);
        if path.exists() {
            fs::remove_file(&path).with_context(|| format!("cannot unpin {}", path.display()))?;
        }
    }
    fs::remove_dir(pin_dir).with_context(|| format!("{} holds files kvlb did not pin; left in place", pin_dir.display()))?;
    Ok(())
}
