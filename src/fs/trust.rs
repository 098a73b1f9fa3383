//! StrictModes-style refusal of the files that steer hardend: profiles, settings and `source`
//! files. Whoever can write one of them can own the host, so hardend reads such a file only when
//! it, and the directory holding it, are owned by the trusted owner (root) and not writable by
//! group or others.
//!
//! # Invariants
//! - The checks run on what was opened (as sudo-rs's `secure_open` does): the directory is opened
//!   and checked, the file is opened from that descriptor with `O_NOFOLLOW` and checked by
//!   `fstat` of the opened descriptor, and the content is read from that same descriptor.
//! - A symlink at the file is refused; `O_NONBLOCK|O_NOCTTY` keep a FIFO or terminal planted there
//!   from blocking or becoming our controlling terminal before `fstat` refuses it.
//!
//! - [`TrustedDir`] holds a checked directory open, so that a path of several steps (a Kubernetes
//!   ConfigMap's `..data` links) is walked from descriptors that were judged, not re-resolved.
//!
//! # Known limits
//! - Only the file's own directory is checked, not every directory above it (sshd checks up to
//!   `/`); directories above the parent are opened as the path says, following symlinks.
//! - Group-writable is refused even for group 0, stricter than sudo-rs.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};
use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::fs::error::FsError;
use crate::fs::resolve::file_type_of;
use crate::fs::{sys, FileType};

/// Who must own the files hardend trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrustPolicy {
    /// The owner trusted files and their directory must have: 0 (root) in production.
    pub owner_uid: u32,
}

/// What is wrong with a file's or directory's owner or mode, if anything.
fn problem(st: &FileStat, owner_uid: u32) -> Option<String> {
    let mode = st.st_mode & 0o7777;
    if st.st_uid != owner_uid {
        Some(format!("owned by uid {}", st.st_uid))
    } else if mode & 0o020 != 0 {
        Some(format!("writable by group (mode {mode:04o})"))
    } else if mode & 0o002 != 0 {
        Some(format!("writable by others (mode {mode:04o})"))
    } else {
        None
    }
}

/// The rule a refusal quotes.
fn rule(policy: &TrustPolicy) -> String {
    let owner = if policy.owner_uid == 0 {
        "root".to_string()
    } else {
        format!("uid {}", policy.owner_uid)
    };
    format!(
        "profiles, settings and source files must be owned by {owner} and not writable by group or others"
    )
}

fn refused(path: &Path, policy: &TrustPolicy, reason: String) -> FsError {
    FsError::Refused {
        path: path.to_path_buf(),
        reason: format!("{reason}; {}", rule(policy)),
    }
}

/// Why a directory could not be opened as trusted.
enum DirError {
    Open(Errno),
    /// What is wrong with its owner or mode.
    Untrusted(String),
}

/// A directory opened once and checked, whose entries are then opened relative to the
/// descriptor: what is read is what was judged, whatever is renamed meanwhile.
#[derive(Debug)]
pub struct TrustedDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl TrustedDir {
    /// Opens `dir` (following symlinks as the path says) and checks its owner and mode. With
    /// `read_only_mount`, a directory on a read-only mount passes whatever its owner and mode:
    /// nobody can add, remove or swap entries through that mount, and only root can remount it
    /// (a Kubernetes ConfigMap volume is such a mount, its directory 0777 on the node).
    pub fn open(
        dir: &Path,
        policy: &TrustPolicy,
        read_only_mount: bool,
    ) -> Result<TrustedDir, FsError> {
        Self::open_checked(dir, policy, read_only_mount).map_err(|e| match e {
            DirError::Open(e) => FsError::nix(dir, "open directory", e),
            DirError::Untrusted(p) => refused(
                dir,
                policy,
                format!(
                    "the directory is {p}{}",
                    if read_only_mount {
                        " and not a read-only mount"
                    } else {
                        ""
                    }
                ),
            ),
        })
    }

    fn open_checked(
        dir: &Path,
        policy: &TrustPolicy,
        read_only_mount: bool,
    ) -> Result<TrustedDir, DirError> {
        let fd = sys::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
            .map_err(DirError::Open)?;
        let st = fstat(fd.as_raw_fd()).map_err(DirError::Open)?;
        if let Some(p) = problem(&st, policy.owner_uid) {
            let read_only = read_only_mount
                && fstatvfs(&fd).is_ok_and(|v| v.flags().contains(FsFlags::ST_RDONLY));
            if !read_only {
                return Err(DirError::Untrusted(p));
            }
        }
        Ok(TrustedDir {
            fd,
            path: dir.to_path_buf(),
        })
    }

    /// The directory `name` in this one, which must be a real directory (a symlink is refused,
    /// not followed) under the owner and mode rules.
    pub fn subdir(&self, name: &OsStr, policy: &TrustPolicy) -> Result<TrustedDir, FsError> {
        let path = self.path.join(name);
        // Not O_PATH: with O_PATH, O_NOFOLLOW would open a symlink itself instead of failing.
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        let fd = match sys::openat(self.fd.as_fd(), name, flags, Mode::empty()) {
            Ok(fd) => fd,
            // A symlink gives ENOTDIR or ELOOP, depending on which flag the kernel checks first.
            Err(Errno::ENOTDIR | Errno::ELOOP) => {
                let found = fstatat(
                    Some(self.fd.as_raw_fd()),
                    name,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .ok()
                .and_then(|st| file_type_of(&st));
                let reason = match found {
                    Some(FileType::Symlink) => "it is a symlink".to_string(),
                    Some(t) => format!("it is {}, not a directory", t.describe()),
                    None => "it is not a directory".to_string(),
                };
                return Err(refused(&path, policy, reason));
            }
            Err(e) => return Err(FsError::nix(&path, "open directory", e)),
        };
        let st = fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(&path, "stat directory", e))?;
        if let Some(p) = problem(&st, policy.owner_uid) {
            return Err(refused(&path, policy, format!("the directory is {p}")));
        }
        Ok(TrustedDir { fd, path })
    }

    /// The target of the symlink `name` in this directory.
    pub fn read_link(&self, name: &OsStr) -> Result<PathBuf, FsError> {
        nix::fcntl::readlinkat(Some(self.fd.as_raw_fd()), name)
            .map(PathBuf::from)
            .map_err(|e| FsError::nix(self.path.join(name), "read link", e))
    }

    /// Whether `name` exists in this directory (a dangling symlink exists).
    pub fn contains(&self, name: &OsStr) -> Result<bool, FsError> {
        match fstatat(
            Some(self.fd.as_raw_fd()),
            name,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(_) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(FsError::nix(self.path.join(name), "stat", e)),
        }
    }

    /// The content of the regular file `name` in this directory, opened with `O_NOFOLLOW`, when
    /// it is owned by `policy.owner_uid` and not writable by group or others.
    pub fn read(&self, name: &OsStr, policy: &TrustPolicy) -> Result<Vec<u8>, FsError> {
        read_at(self.fd.as_fd(), &self.path.join(name), name, policy)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens `path` (a host path) with `O_NOFOLLOW` and returns its content when the opened file is a
/// regular file owned by `policy.owner_uid` and not writable by group or others, in a directory
/// with the same properties. A missing file is an [`FsError::Io`] with `ENOENT`.
pub fn read_trusted(path: &Path, policy: &TrustPolicy) -> Result<Vec<u8>, FsError> {
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
    let dir = TrustedDir::open_checked(parent, policy, false).map_err(|e| match e {
        DirError::Open(e) => FsError::nix(path, "open directory", e),
        DirError::Untrusted(p) => refused(
            path,
            policy,
            format!("its directory {} is {p}", parent.display()),
        ),
    })?;
    read_at(dir.fd.as_fd(), path, name, policy)
}

/// The file part of [`read_trusted`]: `name` opened relative to `dir`; errors name `path`.
fn read_at(
    dir: BorrowedFd<'_>,
    path: &Path,
    name: &OsStr,
    policy: &TrustPolicy,
) -> Result<Vec<u8>, FsError> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = match sys::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(refused(path, policy, "it is a symlink".to_string())),
        Err(e) => return Err(FsError::nix(path, "open", e)),
    };
    let st = fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(path, "stat", e))?;
    match file_type_of(&st) {
        Some(FileType::Regular) => {}
        Some(t) => {
            return Err(refused(
                path,
                policy,
                format!("it is {}, not a regular file", t.describe()),
            ))
        }
        None => {
            return Err(refused(
                path,
                policy,
                "it is not a regular file".to_string(),
            ))
        }
    }
    if let Some(p) = problem(&st, policy.owner_uid) {
        return Err(refused(path, policy, p));
    }
    let mut buf = Vec::new();
    File::from(fd)
        .read_to_end(&mut buf)
        .map_err(|e| FsError::io(path, "read", e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const ROOT: TrustPolicy = TrustPolicy { owner_uid: 0 };

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// A 0755 directory with a 0644 file `x.toml` in it.
    fn setup() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        chmod(dir.path(), 0o755);
        let f = dir.path().join("x.toml");
        std::fs::write(&f, b"[profile]\n").expect("write");
        chmod(&f, 0o644);
        (dir, f)
    }

    fn refusal(f: &Path) -> String {
        match read_trusted(f, &ROOT) {
            Err(e @ FsError::Refused { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn reads_a_root_owned_0644_file() {
        let (_d, f) = setup();
        assert_eq!(read_trusted(&f, &ROOT).expect("trusted"), b"[profile]\n");
    }

    #[test]
    fn refuses_group_writable() {
        let (_d, f) = setup();
        chmod(&f, 0o664);
        let msg = refusal(&f);
        assert_eq!(
            msg,
            format!(
                "{}: refused: writable by group (mode 0664); profiles, settings and source files must be owned by root and not writable by group or others",
                f.display()
            )
        );
    }

    #[test]
    fn refuses_other_writable() {
        let (_d, f) = setup();
        chmod(&f, 0o646);
        assert!(refusal(&f).contains("writable by others (mode 0646)"));
    }

    #[test]
    fn refuses_wrong_owner() {
        let (_d, f) = setup();
        nix::unistd::chown(&f, Some(nix::unistd::Uid::from_raw(1000)), None).expect("chown");
        assert!(refusal(&f).contains("owned by uid 1000"));
        // The same file is fine for a policy trusting uid 1000 (the dir is root's, though).
        let err = read_trusted(&f, &TrustPolicy { owner_uid: 1000 }).expect_err("dir is root's");
        assert!(err.to_string().contains("its directory"), "{err}");
    }

    #[test]
    fn refuses_a_symlink() {
        let (d, f) = setup();
        let link = d.path().join("link.toml");
        std::os::unix::fs::symlink(&f, &link).expect("symlink");
        assert!(refusal(&link).contains("it is a symlink"));
    }

    #[test]
    fn refuses_a_group_writable_directory() {
        let (d, f) = setup();
        chmod(d.path(), 0o775);
        let msg = refusal(&f);
        assert!(
            msg.contains(&format!(
                "its directory {} is writable by group (mode 0775)",
                d.path().display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn refuses_a_directory_and_a_fifo() {
        let (d, _f) = setup();
        let sub = d.path().join("sub.toml");
        std::fs::create_dir(&sub).expect("mkdir");
        assert!(refusal(&sub).contains("it is a directory"));
        let fifo = d.path().join("fifo.toml");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o644)).expect("mkfifo");
        assert!(refusal(&fifo).contains("it is a FIFO"));
    }

    #[test]
    fn a_trusted_dir_refuses_what_others_can_write_and_subdirs_that_are_not_directories() {
        let (d, _f) = setup();
        chmod(d.path(), 0o777);
        let err = TrustedDir::open(d.path(), &ROOT, false).expect_err("0777");
        assert!(
            err.to_string()
                .contains("refused: the directory is writable by group (mode 0777);"),
            "{err}"
        );
        chmod(d.path(), 0o755);
        let dir = TrustedDir::open(d.path(), &ROOT, false).expect("0755");
        let real = d.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        chmod(&real, 0o755);
        std::fs::write(real.join("x.toml"), b"x").expect("write");
        chmod(&real.join("x.toml"), 0o644);
        std::os::unix::fs::symlink("real", d.path().join("link")).expect("symlink");
        std::os::unix::fs::symlink("nowhere", d.path().join("dangling")).expect("symlink");
        let sub = dir
            .subdir(OsStr::new("real"), &ROOT)
            .expect("a real directory");
        assert_eq!(sub.read(OsStr::new("x.toml"), &ROOT).expect("read"), b"x");
        for (name, reason) in [
            ("link", "it is a symlink;"),
            ("x.toml", "it is a regular file, not a directory;"),
        ] {
            let err = dir.subdir(OsStr::new(name), &ROOT).expect_err(name);
            assert!(err.to_string().contains(reason), "{err}");
        }
        chmod(&real, 0o775);
        let err = dir.subdir(OsStr::new("real"), &ROOT).expect_err("0775");
        assert!(err.to_string().contains("writable by group"), "{err}");
        assert!(dir.contains(OsStr::new("dangling")).expect("lstat"));
        assert!(!dir.contains(OsStr::new("nope")).expect("lstat"));
        assert_eq!(
            dir.read_link(OsStr::new("link")).expect("readlink"),
            Path::new("real")
        );
    }

    #[test]
    fn missing_is_enoent() {
        let (d, _f) = setup();
        let err = read_trusted(&d.path().join("nope.toml"), &ROOT).expect_err("missing");
        assert_eq!(err.errno(), Some(libc::ENOENT));
        let err = read_trusted(&d.path().join("nodir/nope.toml"), &ROOT).expect_err("missing dir");
        assert!(err.is_not_found());
    }
}
