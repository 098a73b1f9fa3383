//! The symlink-safe file-system layer.
//!
//! Every managed path is resolved under a [`Root`] (the host `/` or an offline `--root`) one
//! component at a time, acting on file descriptors, never on path strings:
//! - the managed component itself is never followed: a symlink there is reported as such;
//! - an ancestor symlink (merged-/usr `/lib -> usr/lib`) is followed only when the link and every
//!   directory passed on the way are owned by the trusted owner (root) and not writable by group
//!   or others; absolute link targets resolve inside the root, as `RESOLVE_IN_ROOT` does;
//! - writes are atomic: a temp file in the same directory gets owner and mode, is fsynced and
//!   renamed over the target, then the directory is fsynced.
//!
//! Submodules: `resolve` ([`Root`], [`Lookup`]), `glob` ([`Root::glob`]), `write` (atomic
//! replacement), `trust` (StrictModes-style refusal of profiles and settings), `accounts`
//! (owner/group names of the root), `error` ([`FsError`]). The only `unsafe` code is in `sys`.

#![deny(unsafe_code)]

mod accounts;
mod error;
mod glob;
mod resolve;
mod sys;
mod trust;
mod write;

pub use accounts::Accounts;
pub use error::FsError;
pub use resolve::{Lookup, Root};
pub use trust::{read_trusted, TrustPolicy, TrustedDir};
pub use write::{write_file_atomic_at, write_state_file, TEMP_PREFIX};

/// What kind of file system object sits at a path (never following a symlink there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    Socket,
    Fifo,
    CharDevice,
    BlockDevice,
}

impl FileType {
    /// Words for messages: "a directory", "a symlink".
    pub fn describe(self) -> &'static str {
        match self {
            FileType::Regular => "a regular file",
            FileType::Directory => "a directory",
            FileType::Symlink => "a symlink",
            FileType::Socket => "a socket",
            FileType::Fifo => "a FIFO",
            FileType::CharDevice => "a character device",
            FileType::BlockDevice => "a block device",
        }
    }
}

/// Metadata of the object at a path, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub file_type: FileType,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid, setgid and sticky (`& 0o7777`).
    pub mode: u32,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}
