//! Opening a pinned BPF map read-only: the proxy needs only read permission
//! on the agent's pins, and cannot write the maps.
//!
//! aya 0.14's `MapData::from_pin` always opens read-write (BPF_OBJ_GET with
//! no flags), which needs write permission on the pin and gives a descriptor
//! that can change the kernel's picks. Here the same call asks for
//! `BPF_F_RDONLY`: the kernel checks read permission on the pin, and refuses
//! every update or delete through the descriptor with EPERM. Lookups and key
//! iteration need no capability on kernels 6.5 and later, even with
//! `kernel.unprivileged_bpf_disabled` set.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{FromRawFd, OwnedFd},
        unix::ffi::OsStrExt,
    },
    path::Path,
};

use aya::maps::MapData;
use aya_obj::generated::{BPF_F_RDONLY, bpf_attr__bindgen_ty_5 as ObjAttr, bpf_cmd};

/// Opens the map pinned at `path` read-only.
pub fn open_read_only(path: &Path) -> io::Result<MapData> {
    let fd = obj_get_read_only(path)?;
    MapData::from_fd(fd).map_err(io::Error::other)
}

/// BPF_OBJ_GET with `file_flags = BPF_F_RDONLY`: a new descriptor for the
/// object pinned at `path`.
#[expect(unsafe_code, reason = "the bpf(2) system call has no safe wrapper that takes file_flags in aya 0.14")]
fn obj_get_read_only(path: &Path) -> io::Result<OwnedFd> {
    let pathname = CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let attr = ObjAttr { pathname: pathname.as_ptr() as u64, bpf_fd: 0, file_flags: BPF_F_RDONLY, path_fd: 0 };
    // The kernel zero-fills what it is not given, so passing the fields up to
    // `path_fd` (unused) leaves out the struct's trailing padding.
    let size = std::mem::offset_of!(ObjAttr, path_fd);
    // SAFETY: `attr` is a valid `bpf_attr` prefix of `size` bytes for
    // BPF_OBJ_GET and `pathname` outlives the call; the kernel only reads them.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, bpf_cmd::BPF_OBJ_GET as libc::c_long, &raw const attr, size) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(io::Error::other)?;
    // SAFETY: BPF_OBJ_GET returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use aya::maps::{HashMap, Map, MapError};

    use super::*;

    /// A directory of its own on bpffs (which allows no dots in names).
    /// Needs root and bpffs at /sys/fs/bpf, as every kernel test here does.
    fn bpffs_dir() -> tempfile::TempDir {
        tempfile::Builder::new().prefix("kvlb-pin-test-").tempdir_in("/sys/fs/bpf").expect("a directory on bpffs")
    }

    #[test]
    fn a_map_opened_read_only_reads_and_refuses_writes() {
        let dir = bpffs_dir();
        let path = dir.path().join("map");
        let mut created = HashMap::<MapData, u32, u64>::create(8, 0).expect("create a map");
        created.insert(1, 42, 0).expect("write through the read-write handle");
        created.pin(&path).expect("pin");
        let hash_map = |data| -> HashMap<MapData, u32, u64> { Map::HashMap(data).try_into().expect("a hash map") };
        let writable = hash_map(MapData::from_pin(&path).expect("open read-write"));

        let mut read_only = hash_map(open_read_only(&path).expect("open read-only"));
        assert_eq!(read_only.get(&1, 0).expect("read"), 42);
        assert_eq!(read_only.keys().collect::<Result<Vec<_>, _>>().expect("iterate"), vec![1]);
        for refused in [read_only.insert(1, 7, 0), read_only.insert(2, 7, 0), read_only.remove(&1)] {
            match refused {
                Err(MapError::SyscallError(e)) => assert_eq!(e.io_error.raw_os_error(), Some(libc::EPERM), "{e}"),
                other => panic!("a write through a read-only descriptor must fail with EPERM: {other:?}"),
            }
        }
        assert_eq!(writable.get(&1, 0).expect("read"), 42, "the value is unchanged");
        assert!(writable.get(&2, 0).is_err(), "nothing was inserted");
    }

    #[test]
    fn a_missing_pin_is_an_error_naming_the_cause() {
        let dir = bpffs_dir();
        let err = open_read_only(&dir.path().join("absent")).expect_err("no such pin");
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
    }
}
