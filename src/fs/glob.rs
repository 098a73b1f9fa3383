//! Glob expansion of managed paths under a [`Root`], with the same safe walk as lookups.
//!
//! # Rules
//! - The pattern is absolute; `*`, `?` and `[...]` match within one component (`**` is `*`).
//! - Literal components are walked like ancestors: a trusted symlink there is followed.
//! - Wildcard components are matched against `readdir` of the directory (sorted; `.` and `..`
//!   skipped). As in a shell, a leading `.` must be matched literally, so hidden files and
//!   hardend's own temp files are not matched by `*`.
//! - A wildcard match that is a symlink is never descended (it would be a managed component), but
//!   a final match of any type, symlinks included, is returned: the caller reports it.
//! - A missing directory, or a non-directory where a directory is needed, means no match. Other
//!   problems (an untrusted ancestor symlink, an I/O error) are errors.
//! - The result holds managed paths (with the pattern's literal prefix), sorted, without
//!   duplicates.
//!
//! # Known limits
//! - Names that are not UTF-8 never match a wildcard (the `glob` crate matches `str`).

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ::glob::{MatchOptions, Pattern};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;

use crate::fs::error::FsError;
use crate::fs::resolve::{file_type_of, split_managed};
use crate::fs::{sys, FileType, Root};

/// One component of a pattern.
enum Comp {
    Literal(OsString),
    Wild(Pattern),
}

/// Whether a component has glob metacharacters.
fn is_wild(c: &OsStr) -> bool {
    c.as_bytes().iter().any(|b| matches!(b, b'*' | b'?' | b'['))
}

fn match_options() -> MatchOptions {
    MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    }
}

impl Root {
    /// Expands a glob pattern (absolute; wildcards within components) under the root using the
    /// same safe walk as [`Root::lookup`]. Returns the matched managed paths, sorted. A missing
    /// literal prefix gives an empty list.
    pub fn glob(&self, pattern: &str) -> Result<Vec<PathBuf>, FsError> {
        let pattern_path = Path::new(pattern);
        let comps = split_managed(pattern_path)?;
        if comps.is_empty() {
            return Err(FsError::InvalidPath {
                path: pattern_path.to_path_buf(),
                reason: "names the root directory itself".to_string(),
            });
        }
        let comps = comps
            .iter()
            .map(|c| compile(pattern_path, c))
            .collect::<Result<Vec<_>, _>>()?;

        // Candidates are managed paths known (or, after a literal, hoped) to exist.
        let mut candidates = vec![PathBuf::from("/")];
        let last = comps.len() - 1;
        for (i, comp) in comps.iter().enumerate() {
            let mut next = Vec::new();
            for dir in &candidates {
                match comp {
                    Comp::Literal(name) => next.push(dir.join(name)),
                    Comp::Wild(pat) => {
                        let Some(fd) = self.open_candidate_dir(dir)? else {
                            continue;
                        };
                        for (name, ftype) in read_dir_sorted(fd.as_fd(), dir)? {
                            let Some(s) = name.to_str() else { continue };
                            if !pat.matches_with(s, match_options()) {
                                continue;
                            }
                            // Only real directories are descended; the final match may be anything.
                            if i == last || ftype == FileType::Directory {
                                next.push(dir.join(&name));
                            }
                        }
                    }
                }
            }
            candidates = next;
        }
        let mut out = Vec::new();
        for c in candidates {
            if matches!(comps[last], Comp::Wild(_)) || self.exists_for_glob(&c)? {
                out.push(c);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Opens a candidate directory; `None` when it is missing or not a directory.
    fn open_candidate_dir(&self, dir: &Path) -> Result<Option<OwnedFd>, FsError> {
        let comps = split_managed(dir)?;
        match self.open_dir(dir, &comps) {
            Ok(found) => Ok(found.map(|(fd, _)| fd)),
            Err(FsError::AncestorNotDirectory { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether a candidate with a literal final component exists (not following it).
    fn exists_for_glob(&self, path: &Path) -> Result<bool, FsError> {
        match self.lookup(path) {
            Ok(l) => Ok(l.exists()),
            Err(FsError::AncestorNotDirectory { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn compile(pattern: &Path, c: &OsStr) -> Result<Comp, FsError> {
    if !is_wild(c) {
        return Ok(Comp::Literal(c.to_os_string()));
    }
    let invalid = |reason: String| FsError::InvalidPath {
        path: pattern.to_path_buf(),
        reason,
    };
    let s = c
        .to_str()
        .ok_or_else(|| invalid("a wildcard component must be UTF-8".to_string()))?;
    Pattern::new(s)
        .map(Comp::Wild)
        .map_err(|e| invalid(format!("bad glob component `{s}`: {}", e.msg)))
}

/// Entries of a directory (not `.`/`..`), sorted by name, each with its type as `lstat` sees it.
fn read_dir_sorted(fd: BorrowedFd<'_>, path: &Path) -> Result<Vec<(OsString, FileType)>, FsError> {
    let entries = sys::read_dir(fd).map_err(|e| FsError::nix(path, "read directory", e))?;
    let mut out = Vec::with_capacity(entries.len());
    for (name, d_type) in entries {
        let ftype = match d_type {
            libc::DT_DIR => FileType::Directory,
            libc::DT_REG => FileType::Regular,
            libc::DT_LNK => FileType::Symlink,
            libc::DT_SOCK => FileType::Socket,
            libc::DT_FIFO => FileType::Fifo,
            libc::DT_CHR => FileType::CharDevice,
            libc::DT_BLK => FileType::BlockDevice,
            // Some file systems do not fill d_type.
            _ => match fstatat(
                Some(fd.as_raw_fd()),
                name.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => file_type_of(&st).unwrap_or(FileType::Regular),
                Err(Errno::ENOENT) => continue,
                Err(e) => return Err(FsError::nix(path.join(&name), "stat", e)),
            },
        };
        out.push((name, ftype));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn put(base: &Path, rel: &str) {
        let p = base.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, rel).expect("write");
    }

    /// etc/docker/certs.d with two registries, a link to a directory, a plain file, a hidden dir.
    fn certs_tree() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = dir.path();
        put(b, "etc/docker/certs.d/reg1:5000/ca.crt");
        put(b, "etc/docker/certs.d/reg2/client.cert");
        put(b, "etc/docker/certs.d/reg2/client.key");
        put(b, "etc/docker/certs.d/file.txt");
        put(b, "etc/docker/certs.d/.hidden/ca.crt");
        put(b, "outside/secret.key");
        symlink("client.key", b.join("etc/docker/certs.d/reg2/linkfile")).expect("symlink");
        symlink("/outside", b.join("etc/docker/certs.d/linkdir")).expect("symlink");
        for d in ["", "etc", "etc/docker", "etc/docker/certs.d"] {
            std::fs::set_permissions(b.join(d), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let root = Root::open(b, 0).expect("root");
        (dir, root)
    }

    fn paths(v: &[&str]) -> Vec<PathBuf> {
        v.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn two_wildcard_levels() {
        let (_d, root) = certs_tree();
        let got = root.glob("/etc/docker/certs.d/*/*").expect("glob");
        // linkdir (a symlink to a directory) is not descended; file.txt is not a directory;
        // .hidden needs a literal dot; the final symlink is returned for the caller to report.
        assert_eq!(
            got,
            paths(&[
                "/etc/docker/certs.d/reg1:5000/ca.crt",
                "/etc/docker/certs.d/reg2/client.cert",
                "/etc/docker/certs.d/reg2/client.key",
                "/etc/docker/certs.d/reg2/linkfile",
            ])
        );
    }

    #[test]
    fn final_wildcard_returns_links_and_files() {
        let (_d, root) = certs_tree();
        let got = root.glob("/etc/docker/certs.d/*").expect("glob");
        assert_eq!(
            got,
            paths(&[
                "/etc/docker/certs.d/file.txt",
                "/etc/docker/certs.d/linkdir",
                "/etc/docker/certs.d/reg1:5000",
                "/etc/docker/certs.d/reg2",
            ])
        );
        let got = root
            .glob("/etc/docker/certs.d/reg?/client.[ck]e*")
            .expect("glob");
        assert_eq!(
            got,
            paths(&[
                "/etc/docker/certs.d/reg2/client.cert",
                "/etc/docker/certs.d/reg2/client.key"
            ])
        );
        let got = root.glob("/etc/docker/certs.d/.*/ca.crt").expect("glob");
        assert_eq!(got, paths(&["/etc/docker/certs.d/.hidden/ca.crt"]));
    }

    #[test]
    fn literal_final_component_after_a_wildcard() {
        let (_d, root) = certs_tree();
        let got = root.glob("/etc/docker/certs.d/*/ca.crt").expect("glob");
        assert_eq!(got, paths(&["/etc/docker/certs.d/reg1:5000/ca.crt"]));
        // No wildcard at all: the path itself when it exists.
        assert_eq!(
            root.glob("/etc/docker/certs.d/file.txt").expect("glob"),
            paths(&["/etc/docker/certs.d/file.txt"])
        );
        assert!(root
            .glob("/etc/docker/certs.d/nope")
            .expect("glob")
            .is_empty());
    }

    #[test]
    fn missing_prefix_and_non_directories_give_nothing() {
        let (_d, root) = certs_tree();
        assert!(root.glob("/etc/kubernetes/*").expect("glob").is_empty());
        assert!(root
            .glob("/etc/docker/certs.d/file.txt/*")
            .expect("glob")
            .is_empty());
        assert!(root
            .glob("/etc/docker/certs.d/*/nope/*")
            .expect("glob")
            .is_empty());
    }

    #[test]
    fn literal_merged_usr_link_is_followed_and_untrusted_is_an_error() {
        let (d, root) = certs_tree();
        put(d.path(), "usr/lib/systemd/system/docker.service");
        put(d.path(), "usr/lib/systemd/system/docker.socket");
        put(d.path(), "usr/lib/systemd/system/ssh.service");
        symlink("usr/lib", d.path().join("lib")).expect("symlink");
        let got = root.glob("/lib/systemd/system/docker.*").expect("glob");
        assert_eq!(
            got,
            paths(&[
                "/lib/systemd/system/docker.service",
                "/lib/systemd/system/docker.socket"
            ])
        );
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o775)).expect("chmod");
        let err = root
            .glob("/lib/systemd/system/docker.*")
            .expect_err("untrusted");
        assert!(matches!(err, FsError::UntrustedSymlink { .. }), "{err}");
    }

    #[test]
    fn bad_patterns_are_invalid() {
        let (_d, root) = certs_tree();
        for p in ["etc/*", "/etc/../*", "/etc/[", "/"] {
            let err = root.glob(p).expect_err(p);
            assert!(matches!(err, FsError::InvalidPath { .. }), "{p}: {err}");
        }
    }
}
