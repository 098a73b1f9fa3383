//! Atomic replacement of a directory entry: temp file, owner and mode, write, fsync, rename, fsync
//! of the directory.
//!
//! # Invariants
//! - The temp file is created with `O_CREAT|O_EXCL|O_NOFOLLOW` under a random name starting with
//!   [`TEMP_PREFIX`] in the target's own directory (so `renameat` is atomic), mode 0600 until
//!   its owner and mode are set, and it is removed on every error path.
//! - Owner is set before mode (chown clears setuid/setgid), and both before the content is
//!   written, so the file is never visible with the wrong owner or a wider mode.
//! - `renameat` replaces whatever non-directory sits at the name, a symlink included, without
//!   ever opening it: nothing is written through a link.
//!
//! # Known limits
//! - Extended attributes, ACLs and SELinux labels of a replaced file are not copied; the new file
//!   gets the directory's defaults.
//! - Writing only when the content differs is the caller's decision (it has the old content).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{renameat, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::{fchown, unlinkat, Gid, Uid, UnlinkatFlags};

use crate::fs::error::FsError;
use crate::fs::resolve::checked_mode;
use crate::fs::sys;

/// Names of hardend's temp files start with this (watchers and globs can skip them).
pub const TEMP_PREFIX: &str = ".hardend-tmp-";

/// How often a fresh temp name is tried when the name exists (someone planted it).
const TEMP_TRIES: u32 = 16;

/// A fresh temp name: the prefix and 64 bits from the std hasher's per-process random keys, a
/// counter and the clock. O_EXCL makes a collision an EEXIST, never an overwrite.
fn temp_name() -> OsString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    OsString::from(format!("{TEMP_PREFIX}{:016x}", h.finish()))
}

/// Removes the temp entry on drop unless disarmed (after a successful rename).
struct TempGuard<'a> {
    dir: BorrowedFd<'a>,
    name: OsString,
    armed: bool,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the error that got us here is the one worth reporting.
            let _ = unlinkat(
                Some(self.dir.as_raw_fd()),
                self.name.as_os_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// fsync of a directory, given any descriptor of it (an `O_PATH` one included: fsync needs a
/// real descriptor, so `.` is opened from it).
pub(crate) fn fsync_dir(dir: BorrowedFd<'_>, path: &Path) -> Result<(), FsError> {
    let fd = sys::openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        Mode::empty(),
    )
    .map_err(|e| FsError::nix(path, "open directory for fsync", e))?;
    File::from(fd)
        .sync_all()
        .map_err(|e| FsError::io(path, "fsync directory", e))
}

/// The atomic write behind [`write_file_atomic_at`], `Lookup::write_atomic` and
/// [`write_state_file`]. `owner` `None` leaves the temp file owned by the caller. Errors name
/// `path`.
pub(crate) fn write_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    content: &[u8],
    owner: Option<(u32, u32)>,
    mode: Mode,
    path: &Path,
) -> Result<(), FsError> {
    let mut tries = 0;
    let (fd, guard) = loop {
        let tmp = temp_name();
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        match sys::openat(dir, tmp.as_os_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR) {
            Ok(fd) => {
                let guard = TempGuard {
                    dir,
                    name: tmp,
                    armed: true,
                };
                break (fd, guard);
            }
            Err(Errno::EEXIST) if tries < TEMP_TRIES => tries += 1,
            Err(e) => return Err(FsError::nix(path, "create temp file", e)),
        }
    };
    if let Some((uid, gid)) = owner {
        fchown(
            fd.as_raw_fd(),
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
        )
        .map_err(|e| FsError::nix(path, "chown temp file", e))?;
    }
    nix::sys::stat::fchmod(fd.as_raw_fd(), mode)
        .map_err(|e| FsError::nix(path, "chmod temp file", e))?;
    let mut file = File::from(fd);
    file.write_all(content)
        .map_err(|e| FsError::io(path, "write temp file", e))?;
    file.sync_all()
        .map_err(|e| FsError::io(path, "fsync temp file", e))?;
    drop(file);
    rename_into_place(guard, name, path, "rename temp file into place")
}

/// Renames the guarded temp entry over `name`, disarms the guard and fsyncs the directory.
fn rename_into_place(
    mut guard: TempGuard<'_>,
    name: &OsStr,
    path: &Path,
    op: &'static str,
) -> Result<(), FsError> {
    let dir = guard.dir;
    renameat(
        Some(dir.as_raw_fd()),
        guard.name.as_os_str(),
        Some(dir.as_raw_fd()),
        name,
    )
    .map_err(|e| FsError::nix(path, op, e))?;
    guard.armed = false;
    fsync_dir(dir, path)
}

/// Atomically replaces `name` in `dir` by a symlink to `target` (temp symlink + rename).
pub(crate) fn symlink_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    target: &Path,
    path: &Path,
) -> Result<(), FsError> {
    let mut tries = 0;
    let guard = loop {
        let tmp = temp_name();
        match nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), tmp.as_os_str()) {
            Ok(()) => {
                break TempGuard {
                    dir,
                    name: tmp,
                    armed: true,
                }
            }
            Err(Errno::EEXIST) if tries < TEMP_TRIES => tries += 1,
            Err(e) => return Err(FsError::nix(path, "create temp symlink", e)),
        }
    };
    rename_into_place(guard, name, path, "rename temp symlink into place")
}

/// Atomically replaces (or creates) `name` in the directory `dir` with a regular file holding
/// `content`, owned by `uid:gid`, with permission bits `mode` (at most `0o7777`).
pub fn write_file_atomic_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    content: &[u8],
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<(), FsError> {
    let path = Path::new(name);
    let mode = checked_mode(path, mode)?;
    write_at(dir, name, content, Some((uid, gid)), mode, path)
}

/// Atomic write of one of hardend's own state files (store index, status) at a host path: temp,
/// fsync, rename, fsync of the directory; `mode` as given, owner left as the caller's.
/// The directory is opened normally (links in the state dir path are the operator's choice).
pub fn write_state_file(path: &Path, content: &[u8], mode: u32) -> Result<(), FsError> {
    let Some(name) = path.file_name() else {
        return Err(FsError::InvalidPath {
            path: path.to_path_buf(),
            reason: "names no file".to_string(),
        });
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mode = checked_mode(path, mode)?;
    let dir = sys::open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|e| FsError::nix(path, "open state directory", e))?;
    write_at(dir.as_fd(), name, content, None, mode, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .collect()
    }

    #[test]
    fn state_file_is_written_with_mode_and_no_temp_left() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("status.json");
        write_state_file(&p, b"{}", 0o600).expect("write");
        write_state_file(&p, b"{\"a\":1}", 0o644).expect("rewrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"{\"a\":1}");
        let md = std::fs::metadata(&p).expect("stat");
        assert_eq!(md.permissions().mode() & 0o7777, 0o644);
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn write_at_sets_owner_and_mode_including_setuid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = std::fs::File::open(dir.path()).expect("open dir");
        write_file_atomic_at(d.as_fd(), OsStr::new("f"), b"x", 1000, 1001, 0o4750).expect("write");
        let md = std::fs::symlink_metadata(dir.path().join("f")).expect("stat");
        assert_eq!(
            (md.uid(), md.gid(), md.mode() & 0o7777),
            (1000, 1001, 0o4750)
        );
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn failed_rename_removes_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let d = std::fs::File::open(dir.path()).expect("open dir");
        // Renaming a file over a directory fails (EISDIR): the temp file must not stay behind.
        let err = write_file_atomic_at(d.as_fd(), OsStr::new("sub"), b"x", 0, 0, 0o644)
            .expect_err("over a dir");
        assert_eq!(err.errno(), Some(libc::EISDIR));
        assert!(temp_files(dir.path()).is_empty());
        assert!(dir.path().join("sub").is_dir());
    }

    #[test]
    fn bad_mode_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = write_state_file(&dir.path().join("x"), b"", 0o17777).expect_err("bad mode");
        assert!(matches!(err, FsError::InvalidMode { .. }));
    }
}
