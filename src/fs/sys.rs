//! The fs layer's only `unsafe` code: taking ownership of descriptors that nix 0.29 returns as
//! raw integers, and the `fchmodat2` system call, which nix does not wrap.
//!
//! Every function here is safe to call; each `unsafe` block says why its invariant holds.

#![allow(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow};
use nix::sys::stat::Mode;
use nix::NixPath;

/// Takes ownership of a descriptor that an open call has just returned.
///
/// Only called with the `Ok` value of a nix open function, never with anything else.
fn own(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` is the return value of a successful open(2)/openat(2)/openat2(2) made a
    // moment ago by this thread: it is a valid open descriptor, and nothing else knows its number
    // yet, so the OwnedFd is its only owner and will be the only one to close it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `open(2)`; `O_CLOEXEC` is always added.
pub(crate) fn open<P: ?Sized + NixPath>(
    path: &P,
    flags: OFlag,
    mode: Mode,
) -> nix::Result<OwnedFd> {
    nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, mode).map(own)
}

/// `openat(2)` relative to `dir`; `O_CLOEXEC` is always added.
pub(crate) fn openat<P: ?Sized + NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    flags: OFlag,
    mode: Mode,
) -> nix::Result<OwnedFd> {
    nix::fcntl::openat(Some(dir.as_raw_fd()), path, flags | OFlag::O_CLOEXEC, mode).map(own)
}

/// `openat2(2)` relative to `dir`.
pub(crate) fn openat2<P: ?Sized + NixPath>(
    dir: BorrowedFd<'_>,
    path: &P,
    how: OpenHow,
) -> nix::Result<OwnedFd> {
    nix::fcntl::openat2(dir.as_raw_fd(), path, how).map(own)
}

/// The `fchmodat2` system call number: new system calls share one number on every architecture
/// that uses the generic table (x86_64, aarch64, riscv64, ...), and libc 0.2 only exports it for
/// some of them.
#[cfg(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "x86",
    target_arch = "arm",
    target_arch = "s390x",
    target_arch = "powerpc64",
    target_arch = "loongarch64"
))]
const SYS_FCHMODAT2: libc::c_long = 452;

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)` (Linux 6.6+): chmod of exactly the inode `fd` refers
/// to, which may be an `O_PATH` descriptor (where `fchmod` fails with `EBADF`). Sockets need
/// this: they cannot be opened for real. `ENOSYS` on older kernels or other architectures.
pub(crate) fn fchmod_path_fd(fd: BorrowedFd<'_>, mode: Mode) -> nix::Result<()> {
    #[cfg(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "s390x",
        target_arch = "powerpc64",
        target_arch = "loongarch64"
    ))]
    {
        let empty: &std::ffi::CStr = c"";
        // SAFETY: fchmodat2 takes (int dirfd, const char *path, mode_t mode, unsigned flags).
        // `fd` is a live descriptor borrowed for the duration of the call, `empty` is a valid
        // NUL-terminated static string the kernel only reads, and the kernel keeps no pointer
        // after returning. Unknown flags or an unknown syscall give an error return, nothing else.
        let res = unsafe {
            libc::syscall(
                SYS_FCHMODAT2,
                fd.as_raw_fd(),
                empty.as_ptr(),
                libc::c_uint::from(mode.bits()),
                libc::c_uint::try_from(libc::AT_EMPTY_PATH)
                    .expect("AT_EMPTY_PATH is a small positive flag"),
            )
        };
        Errno::result(res).map(drop)
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "riscv64",
        target_arch = "x86",
        target_arch = "arm",
        target_arch = "s390x",
        target_arch = "powerpc64",
        target_arch = "loongarch64"
    )))]
    {
        let _ = (fd, mode);
        Err(Errno::ENOSYS)
    }
}

/// A `DIR*` stream, closed on drop.
struct DirStream(std::ptr::NonNull<libc::DIR>);

impl Drop for DirStream {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful fdopendir and is closed exactly once, here;
        // closedir also closes the descriptor fdopendir took over.
        unsafe { libc::closedir(self.0.as_ptr()) };
    }
}

/// The entries of the directory `dir` refers to (any descriptor of it, `O_PATH` included),
/// without `.` and `..`, each with its `d_type` (`DT_UNKNOWN` where the file system does not
/// say). Order is the file system's. (nix's `Dir` needs a crate feature the project does not
/// enable; this is the same fdopendir/readdir loop.)
pub(crate) fn read_dir(dir: BorrowedFd<'_>) -> nix::Result<Vec<(std::ffi::OsString, u8)>> {
    use std::os::fd::IntoRawFd;
    use std::os::unix::ffi::OsStrExt;

    // A real descriptor of the same directory: readdir cannot use an O_PATH one.
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )?
    .into_raw_fd();
    // SAFETY: `fd` is an open directory descriptor that we own (just released from its OwnedFd);
    // on success fdopendir takes ownership of it, on failure it stays ours and is closed below.
    let dirp = unsafe { libc::fdopendir(fd) };
    let Some(dirp) = std::ptr::NonNull::new(dirp) else {
        let e = Errno::last();
        // SAFETY: fdopendir failed, so `fd` is still open, owned by us, and closed once here.
        unsafe { libc::close(fd) };
        return Err(e);
    };
    let stream = DirStream(dirp);
    let mut out = Vec::new();
    loop {
        // readdir returns NULL both at the end and on error; only errno tells them apart.
        Errno::clear();
        // SAFETY: `stream.0` is a live DIR* (closed only when `stream` drops), used by this
        // thread only.
        let ent = unsafe { libc::readdir(stream.0.as_ptr()) };
        if ent.is_null() {
            return match Errno::last_raw() {
                0 => Ok(out),
                e => Err(Errno::from_raw(e)),
            };
        }
        // SAFETY: `ent` is non-null and points to a dirent that stays valid until the next
        // readdir or closedir on this stream; both happen after this block. `d_name` is
        // NUL-terminated by the kernel/libc.
        let (name, d_type) = unsafe {
            let ent = &*ent;
            let name = std::ffi::CStr::from_ptr(ent.d_name.as_ptr());
            (
                std::ffi::OsStr::from_bytes(name.to_bytes()).to_os_string(),
                ent.d_type,
            )
        };
        if name != "." && name != ".." {
            out.push((name, d_type));
        }
    }
}
