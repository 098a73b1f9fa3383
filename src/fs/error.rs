//! The fs layer's error type.
//!
//! Every variant names the path as the profile names it (the managed path, or the host path for
//! hardend's own files) so that one `Display` line is a complete message, e.g.
//! `/etc/docker/daemon.json: ancestor symlink /lib is not trusted: /lib is owned by uid 1000`.
//! The underlying `io::Error` is kept as `source` for callers that need the errno.

use std::io;
use std::path::PathBuf;

use crate::fs::FileType;

/// An error of the symlink-safe file-system layer.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A system call failed. `op` says what hardend was doing ("open", "rename", ...).
    #[error("{}: {op}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// An ancestor symlink that the trust rule does not allow following.
    #[error("{}: ancestor symlink {} is not trusted: {reason}", path.display(), link.display())]
    UntrustedSymlink {
        path: PathBuf,
        /// The symlink, root-relative absolute (`/lib`).
        link: PathBuf,
        reason: String,
    },

    /// The object at the path is of a type the operation does not act on (a directory where a
    /// file is expected, a symlink at a managed component, a FIFO, a device).
    #[error("{}: is {}, expected {expected}", path.display(), found.describe())]
    NotAFile {
        path: PathBuf,
        found: FileType,
        /// Words for what was expected: "a regular file", "a regular file, directory or socket".
        expected: &'static str,
    },

    /// An ancestor of the path is neither a directory nor a symlink to follow.
    #[error("{}: ancestor {} is {}, expected a directory", path.display(), ancestor.display(), found.describe())]
    AncestorNotDirectory {
        path: PathBuf,
        /// The ancestor, root-relative absolute.
        ancestor: PathBuf,
        found: FileType,
    },

    /// More than 40 ancestor symlinks were followed (a loop, or a hostile tree).
    #[error("{}: too many levels of symbolic links (more than 40 followed)", path.display())]
    TooManyLinks { path: PathBuf },

    /// The path itself is not acceptable (relative, `..`, NUL byte, names the root).
    #[error("{}: invalid path: {reason}", path.display())]
    InvalidPath { path: PathBuf, reason: String },

    /// A permission mode with bits outside `0o7777`.
    #[error("{}: invalid mode {mode:#o}: only permission bits (07777) may be set", path.display())]
    InvalidMode { path: PathBuf, mode: u32 },

    /// The object changed between the lookup and the action; nothing was changed. Look it up
    /// again and retry.
    #[error("{}: changed while hardend was acting on it ({what}); nothing was changed", path.display())]
    Raced { path: PathBuf, what: String },

    /// A file hardend refuses to trust or act on, with the reason (ownership, permissions, a
    /// symlink where a file must be, hard links in a directory others can write).
    #[error("{}: refused: {reason}", path.display())]
    Refused { path: PathBuf, reason: String },
}

impl FsError {
    /// The raw OS error behind this error, when there is one (`ENOENT` for a missing file).
    /// Errors hardend detects itself carry the errno the kernel would have given for the same
    /// condition where there is an obvious one (`ELOOP`, `ENOTDIR`), else `None`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            FsError::Io { source, .. } => source.raw_os_error(),
            FsError::TooManyLinks { .. } => Some(libc::ELOOP),
            FsError::AncestorNotDirectory { .. } => Some(libc::ENOTDIR),
            FsError::UntrustedSymlink { .. }
            | FsError::NotAFile { .. }
            | FsError::InvalidPath { .. }
            | FsError::InvalidMode { .. }
            | FsError::Raced { .. }
            | FsError::Refused { .. } => None,
        }
    }

    /// Whether this is "the file (or a directory on its way) does not exist".
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(libc::ENOENT)
    }

    /// The path the error is about, as it was named to the fs layer.
    pub fn path(&self) -> &std::path::Path {
        match self {
            FsError::Io { path, .. }
            | FsError::UntrustedSymlink { path, .. }
            | FsError::NotAFile { path, .. }
            | FsError::AncestorNotDirectory { path, .. }
            | FsError::TooManyLinks { path }
            | FsError::InvalidPath { path, .. }
            | FsError::InvalidMode { path, .. }
            | FsError::Raced { path, .. }
            | FsError::Refused { path, .. } => path,
        }
    }

    /// Builds an [`FsError::Io`] from a nix errno.
    pub(crate) fn nix(
        path: impl Into<PathBuf>,
        op: &'static str,
        errno: nix::errno::Errno,
    ) -> Self {
        FsError::Io {
            path: path.into(),
            op,
            source: io::Error::from(errno),
        }
    }

    /// Builds an [`FsError::Io`] from an `io::Error`.
    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str, source: io::Error) -> Self {
        FsError::Io {
            path: path.into(),
            op,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_readable_line() {
        let e = FsError::UntrustedSymlink {
            path: "/etc/docker/daemon.json".into(),
            link: "/lib".into(),
            reason: "/lib is owned by uid 1000".into(),
        };
        assert_eq!(
            e.to_string(),
            "/etc/docker/daemon.json: ancestor symlink /lib is not trusted: /lib is owned by uid 1000"
        );
        let e = FsError::NotAFile {
            path: "/etc/x".into(),
            found: FileType::Directory,
            expected: "a regular file",
        };
        assert_eq!(
            e.to_string(),
            "/etc/x: is a directory, expected a regular file"
        );
        assert_eq!(e.errno(), None);
        let e = FsError::nix("/etc/x", "open", nix::errno::Errno::ENOENT);
        assert_eq!(e.errno(), Some(libc::ENOENT));
        assert!(e.is_not_found());
        assert!(e.to_string().starts_with("/etc/x: open: "));
    }
}
