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
//! # Known limits
//! - Only the file's own directory is checked, not every directory above it (sshd checks up to
//!   `/`); directories above the parent are opened as the path says, following symlinks.
//! - Group-writable is refused even for group 0, stricter than sudo-rs.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, FileStat, Mode};

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

/// Opens `path` (a host path) with `O_NOFOLLOW` and returns its content when the opened file is a
/// regular file owned by `policy.owner_uid` and not writable by group or others, in a directory
/// with the same properties. A missing file is an [`FsError::Io`] with `ENOENT`.
pub fn read_trusted(path: &Path, policy: &TrustPolicy) -> Result<Vec<u8>, FsError> {
    let owner = if policy.owner_uid == 0 {
        "root".to_string()
    } else {
        format!("uid {}", policy.owner_uid)
    };
    let rule = format!(
        "profiles, settings and source files must be owned by {owner} and not writable by group or others"
    );
    let refused = |reason: String| FsError::Refused {
        path: path.to_path_buf(),
        reason: format!("{reason}; {rule}"),
    };
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

    let dir = sys::open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())
        .map_err(|e| FsError::nix(path, "open directory", e))?;
    let dst = fstat(dir.as_raw_fd()).map_err(|e| FsError::nix(path, "stat directory", e))?;
    if let Some(p) = problem(&dst, policy.owner_uid) {
        return Err(refused(format!(
            "its directory {} is {p}",
            parent.display()
        )));
    }

    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = match sys::openat(dir.as_fd(), name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(refused("it is a symlink".to_string())),
        Err(e) => return Err(FsError::nix(path, "open", e)),
    };
    let st = fstat(fd.as_raw_fd()).map_err(|e| FsError::nix(path, "stat", e))?;
    match file_type_of(&st) {
        Some(FileType::Regular) => {}
        Some(t) => {
            return Err(refused(format!(
                "it is {}, not a regular file",
                t.describe()
            )))
        }
        None => return Err(refused("it is not a regular file".to_string())),
    }
    if let Some(p) = problem(&st, policy.owner_uid) {
        return Err(refused(p));
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
    fn missing_is_enoent() {
        let (d, _f) = setup();
        let err = read_trusted(&d.path().join("nope.toml"), &ROOT).expect_err("missing");
        assert_eq!(err.errno(), Some(libc::ENOENT));
        let err = read_trusted(&d.path().join("nodir/nope.toml"), &ROOT).expect_err("missing dir");
        assert!(err.is_not_found());
    }
}
