//! The backup store: the original of every target hardend changes, saved before the first change,
//! so that `hardend rollback` can put it back byte for byte.
//!
//! # Layout
//!
//! Under the state directory (`--state-dir`, a host path, default `/var/lib/hardend`):
//!
//! ```text
//! <state>/                          created 0700 when missing (an existing one is left as it is)
//! <state>/backups/                  0700; also the lock (flock) that serialises every change
//! <state>/backups/objects/<sha256>  0600: original content of a regular file, named by the
//!                                   lowercase hex SHA-256 of that content
//! <state>/backups/index.json        0600: what each original was (below)
//! ```
//!
//! # `index.json`
//!
//! ```json
//! {
//!   "version": 1,
//!   "entries": [
//!     {
//!       "root": "/",
//!       "path": "/etc/docker/daemon.json",
//!       "controls": ["cis-docker-2.2", "cis-docker-2.9"],
//!       "original": { "type": "file", "sha256": "5f70bf18…", "uid": 0, "gid": 0, "mode": "0644" },
//!       "saved_at": "2025-03-01T09:30:00.123456789Z"
//!     },
//!     { "root": "/", "path": "/etc/docker", "controls": ["cis-docker-2.2"],
//!       "original": { "type": "created-dir" }, "saved_at": "…" }
//!   ]
//! }
//! ```
//!
//! - `version`: `1`. Another version is refused with an error (never rewritten by guesswork).
//! - `entries`: at most one per (`root`, `path`), in the order they were saved. `root` is the
//!   root the target resolves under (`/` or the `--root` directory); `path` is the target as
//!   [`Root::lookup`] takes it; `controls` are the controls that changed it, the first first.
//! - `original.type`, with its fields:
//!   `absent` (nothing was there); `file` (`sha256` of the object, `uid`, `gid`, `mode`);
//!   `directory` (`uid`, `gid`, `mode`); `other` (`file_type`: `socket`, `fifo`, `char-device`
//!   or `block-device`; `uid`, `gid`, `mode`); `symlink` (`target`, the link text);
//!   `created-dir` (a missing parent directory that hardend created). Modes are four octal
//!   digits in a string, including setuid, setgid and sticky bits.
//! - `saved_at`: RFC 3339, UTC.
//!
//! # Invariants
//!
//! - The first original wins: saving a target again only adds the control to its entry.
//! - An object is durable before the index that names it is written, and the index is durable
//!   (written atomically with [`crate::fs::write_state_file`]) before [`Store::save_original`] returns, so a
//!   crash between the backup and the change leaves the original recoverable.
//! - Every change takes an exclusive `flock` on `<state>/backups`, re-reads the index, changes
//!   it, and rewrites it: the daemon, a `hardend apply` and several [`Store`] values (several
//!   roots) may share one state directory.
//! - A corrupt or unreadable index is an error naming the file; it is never reset.
//! - An object is re-hashed before it is restored; one that does not match its name is refused.
//! - A rollback drops an entry from the index only once its target is restored (or already was
//!   as the original), rewriting the index after each entry: a second rollback has nothing to
//!   do, and an interrupted one can be run again. Objects no entry refers to are then removed.
//!
//! # Limits
//!
//! - Paths and link targets must be valid UTF-8 (JSON strings); others cannot be recorded and
//!   the save fails with an error naming the index.
//! - Extended attributes, ACLs, SELinux labels and timestamps are not saved.
//! - Directories, sockets, FIFOs and devices keep only owner and mode: one that disappeared is
//!   not re-created (an error for that entry).
//! - Restoring content replaces the file by rename, so hard links to the changed file are not
//!   re-joined.
//! - A directory hardend created is removed only when empty; one that is not stays recorded, so
//!   a later rollback can remove it.

mod index;
mod objects;

use std::collections::HashSet;
use std::fs::{DirBuilder, File};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::fs::{FileType, FsError, Lookup, Meta, Root};

use index::Index;
pub use index::{Entry, Original, INDEX_VERSION};
use objects::{sha256_hex, Objects};

/// Errors of the backup store. Each names the state file or the target it concerns (a wrapped
/// [`FsError`] already names its path in its message, so those messages do not repeat it).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create state directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state directory {path} is not a directory (a symlink or another file is there)")]
    NotADirectory { path: PathBuf },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read backup index {path}: {source}")]
    ReadIndex {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("backup index {path} is corrupt (fix or move it away; it is not reset): {source}")]
    ParseIndex {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("backup index {path} is corrupt (fix or move it away; it is not reset): {message}")]
    InvalidIndex { path: PathBuf, message: String },
    #[error("backup index {path} has version {found}; this hardend reads version {supported}")]
    UnsupportedVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },
    #[error("cannot encode backup index {path} (paths must be UTF-8): {source}")]
    EncodeIndex {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write backup index: {source}")]
    WriteIndex {
        path: PathBuf,
        #[source]
        source: FsError,
    },
    #[error("cannot write backup object: {source}")]
    WriteObject {
        path: PathBuf,
        #[source]
        source: FsError,
    },
    #[error("cannot read backup object {path} (the original of {target}): {source}")]
    ReadObject {
        path: PathBuf,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "backup object {path} is corrupt: its content hashes to {actual}, not to its name; \
         refusing to restore {target} from it"
    )]
    CorruptObject {
        path: PathBuf,
        target: PathBuf,
        actual: String,
    },
    #[error("cannot save the original: {source}")]
    ReadTarget {
        target: PathBuf,
        #[source]
        source: FsError,
    },
    #[error("cannot look up the target: {source}")]
    LookupTarget {
        target: PathBuf,
        #[source]
        source: FsError,
    },
    #[error("cannot restore the original: {source}")]
    Restore {
        target: PathBuf,
        #[source]
        source: FsError,
    },
    #[error("cannot restore {target}: it was {was} and is now {now}; left as it is")]
    TypeChanged {
        target: PathBuf,
        was: String,
        now: &'static str,
    },
    #[error(
        "cannot remove {target}: it did not exist before, and is now a directory that is not \
         empty; left as it is"
    )]
    NotEmpty { target: PathBuf },
}

/// The outcome of restoring one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub path: PathBuf,
    pub controls: Vec<String>,
    /// What was done: `restored content, owner and mode`, `restored owner and mode`,
    /// `removed (did not exist)`, `re-created symlink`, `removed created directory`,
    /// `kept created directory (not empty)`, `unchanged` (already the original), or
    /// `not restored` (with `error`).
    pub action: String,
    /// Why the entry could not be restored; it then stays in the index.
    pub error: Option<String>,
}

/// The backup store of one state directory. See the module documentation.
pub struct Store {
    backups_dir: PathBuf,
    index_path: PathBuf,
    objects: Objects,
    /// The index as last read or written by this value.
    index: Index,
    /// The index file's identity when `index` was read or written: while it is unchanged, the
    /// file need not be read again (the daemon saves thousands of originals in a burst).
    index_stamp: Option<IndexStamp>,
    /// A 64-bit hash of (root, path, control) for every entry of `index`: the fast path of a
    /// save asks this in constant time and without a second copy of every path.
    recorded: HashSet<u64>,
    /// `index` was dropped by [`Store::release_index`] and must be read before use.
    index_released: bool,
}

/// What identifies one version of the index file: it is only ever replaced by rename, so a
/// new version has a new inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexStamp {
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

fn recorded_key(root: &Path, path: &Path, control: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (root, path, control).hash(&mut h);
    h.finish()
}

fn index_stamp(path: &Path) -> Option<IndexStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(IndexStamp {
        ino: m.ino(),
        len: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    })
}

/// What restoring one entry came to.
enum Outcome {
    /// The target is (again) as the original: drop the entry.
    Done(&'static str),
    /// Nothing wrong, but the entry must stay (a created directory that is not empty).
    Keep(&'static str),
}

impl Store {
    /// Opens the store in `state_dir`, creating the layout (mode 0700) where missing, and reads
    /// the index. A corrupt index is an error naming the file.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        let backups_dir = state_dir.join("backups");
        let objects_dir = backups_dir.join("objects");
        ensure_dir(state_dir, false)?;
        ensure_dir(&backups_dir, true)?;
        ensure_dir(&objects_dir, true)?;
        let mut store = Store {
            index_path: backups_dir.join("index.json"),
            backups_dir,
            objects: Objects::new(objects_dir),
            index: Index::new(),
            index_stamp: None,
            index_released: false,
            recorded: HashSet::new(),
        };
        let _lock = store.lock()?;
        store.refresh()?;
        Ok(store)
    }

    /// Records the original of `lookup` (under `root`) for `control`, unless the target already
    /// has an entry, which then only gains `control`. The original's content (an object) and then
    /// the index are durable when this returns.
    pub fn save_original(
        &mut self,
        root: &Root,
        lookup: &Lookup,
        control: &str,
    ) -> Result<(), StoreError> {
        self.save_originals(root, &[(lookup, control)])
    }

    /// [`Store::save_original`] for many targets at once: one lock, and at most one durable
    /// index write for all of them.
    pub fn save_originals(
        &mut self,
        root: &Root,
        items: &[(&Lookup, &str)],
    ) -> Result<(), StoreError> {
        // Fast path: every target already recorded, and nobody changed the index since.
        let all_known = items.iter().all(|(l, c)| {
            self.recorded
                .contains(&recorded_key(root.path(), &l.path, c))
        });
        let unchanged =
            self.index_stamp.is_some() && self.index_stamp == index_stamp(&self.index_path);
        if !(all_known && unchanged) {
            let _lock = self.lock()?;
            self.refresh()?;
            let mut index = self.index.clone();
            let mut changed = false;
            for (lookup, control) in items {
                if let Some(entry) = index.find_mut(root.path(), &lookup.path) {
                    if !entry.controls.iter().any(|c| c == control) {
                        entry.controls.push((*control).to_owned());
                        changed = true;
                    }
                } else {
                    let original = self.capture(lookup)?;
                    index.entries.push(Entry {
                        root: root.path().to_owned(),
                        path: lookup.path.clone(),
                        controls: vec![(*control).to_owned()],
                        original,
                        saved_at: now_rfc3339(),
                    });
                    changed = true;
                }
            }
            if changed {
                self.commit(index)?;
            }
        }
        // A fault-injection hook for the crash test: it stops the process right after the
        // backup is durable and before the caller changes the target. Release builds never
        // honour it.
        if cfg!(debug_assertions)
            && std::env::var_os("HARDEND_FAULT").is_some_and(|v| v == "after-backup")
        {
            std::process::abort();
        }
        Ok(())
    }

    /// Records the directories that applying `control` created (the result of
    /// [`Root::create_parents`]), so that rollback removes them again, innermost first and only
    /// when empty. A directory that already has an entry only gains `control`.
    pub fn record_created_dirs(
        &mut self,
        root: &Root,
        dirs: &[PathBuf],
        control: &str,
    ) -> Result<(), StoreError> {
        if dirs.is_empty() {
            return Ok(());
        }
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path)?;
        let saved_at = now_rfc3339();
        for dir in dirs {
            match index.find_mut(root.path(), dir) {
                Some(entry) => {
                    if !entry.controls.iter().any(|c| c == control) {
                        entry.controls.push(control.to_owned());
                    }
                }
                None => index.entries.push(Entry {
                    root: root.path().to_owned(),
                    path: dir.clone(),
                    controls: vec![control.to_owned()],
                    original: Original::CreatedDir,
                    saved_at: saved_at.clone(),
                }),
            }
        }
        self.commit(index)
    }

    /// The entries for targets under `root`, in the order they were saved, as this value last
    /// read or wrote the index (another process's later changes show after its next operation).
    pub fn entries(&self, root: &Path) -> Vec<&Entry> {
        self.index
            .entries
            .iter()
            .filter(|e| e.root == root)
            .collect()
    }

    /// Restores the originals under `root`: all of them, or those of entries naming one of
    /// `controls`. Targets are restored deepest first (created directories last, innermost
    /// first); a target already as its original is left untouched. Each entry restored is
    /// dropped from the index, which is rewritten after each one; an entry that fails stays
    /// (its [`Restored::error`] says why) and the others proceed. The error return is for the
    /// store itself (lock, index).
    pub fn rollback(
        &mut self,
        root: &Root,
        controls: Option<&[String]>,
    ) -> Result<Vec<Restored>, StoreError> {
        let _lock = self.lock()?;
        let mut index = Index::load(&self.index_path)?;
        self.index = index.clone();

        let mut selected: Vec<Entry> = index
            .entries
            .iter()
            .filter(|e| e.root == root.path())
            .filter(|e| controls.is_none_or(|wanted| e.has_any_control(wanted)))
            .cloned()
            .collect();
        // Newest first, then (stable) deepest first, created directories after everything else:
        // a file goes before the directory it was created in.
        selected.reverse();
        selected.sort_by_key(|e| {
            (
                matches!(e.original, Original::CreatedDir),
                std::cmp::Reverse(e.path.components().count()),
            )
        });

        let mut results = Vec::with_capacity(selected.len());
        for entry in selected {
            let (action, error) = match self.restore(root, &entry) {
                Ok(Outcome::Done(action)) => {
                    index.remove(&entry.root, &entry.path);
                    index.save(&self.index_path)?;
                    self.index = index.clone();
                    (action, None)
                }
                Ok(Outcome::Keep(action)) => (action, None),
                Err(e) => ("not restored", Some(e.to_string())),
            };
            results.push(Restored {
                path: entry.path,
                controls: entry.controls,
                action: action.to_owned(),
                error,
            });
        }
        self.objects.collect_garbage(&index);
        Ok(results)
    }

    /// Brings one target back to its original.
    fn restore(&self, root: &Root, entry: &Entry) -> Result<Outcome, StoreError> {
        let target = &entry.path;
        let lookup = root
            .lookup(target)
            .map_err(|source| StoreError::LookupTarget {
                target: target.clone(),
                source,
            })?;
        let restore_err = |source| StoreError::Restore {
            target: target.clone(),
            source,
        };
        let type_changed = |now: &Meta| StoreError::TypeChanged {
            target: target.clone(),
            was: entry.original.describe(),
            now: now.file_type.describe(),
        };
        let current = lookup.entry;
        match &entry.original {
            Original::Absent => match current {
                None => Ok(Outcome::Done("unchanged")),
                Some(meta) if meta.file_type == FileType::Directory => {
                    if lookup.remove_empty_dir().map_err(restore_err)? {
                        Ok(Outcome::Done("removed (did not exist)"))
                    } else {
                        Err(StoreError::NotEmpty {
                            target: target.clone(),
                        })
                    }
                }
                Some(_) => {
                    lookup.remove().map_err(restore_err)?;
                    Ok(Outcome::Done("removed (did not exist)"))
                }
            },
            Original::File {
                sha256,
                uid,
                gid,
                mode,
            } => {
                if let Some(meta) = current {
                    match meta.file_type {
                        FileType::Regular => {
                            let content = lookup.read().map_err(restore_err)?;
                            if sha256_hex(&content) == *sha256 {
                                return restore_owner_mode(&lookup, &meta, *uid, *gid, *mode)
                                    .map_err(restore_err);
                            }
                        }
                        // A directory cannot be replaced by rename; it is not ours to empty.
                        FileType::Directory => return Err(type_changed(&meta)),
                        _ => {}
                    }
                }
                let content = self.objects.get(sha256, target)?;
                lookup
                    .write_atomic(&content, *uid, *gid, *mode)
                    .map_err(restore_err)?;
                Ok(Outcome::Done("restored content, owner and mode"))
            }
            Original::Directory { uid, gid, mode } => match current {
                Some(meta) if meta.file_type == FileType::Directory => {
                    restore_owner_mode(&lookup, &meta, *uid, *gid, *mode).map_err(restore_err)
                }
                Some(meta) => Err(type_changed(&meta)),
                None => Err(StoreError::TypeChanged {
                    target: target.clone(),
                    was: entry.original.describe(),
                    now: "absent",
                }),
            },
            Original::Other {
                file_type,
                uid,
                gid,
                mode,
            } => match current {
                Some(meta) if file_type_name(meta.file_type) == file_type => {
                    restore_owner_mode(&lookup, &meta, *uid, *gid, *mode).map_err(restore_err)
                }
                Some(meta) => Err(type_changed(&meta)),
                None => Err(StoreError::TypeChanged {
                    target: target.clone(),
                    was: entry.original.describe(),
                    now: "absent",
                }),
            },
            Original::Symlink { target: link } => {
                if let Some(meta) = current {
                    // A directory cannot be replaced by rename; it is not ours to empty.
                    if meta.file_type == FileType::Directory {
                        return Err(type_changed(&meta));
                    }
                    if meta.file_type == FileType::Symlink
                        && lookup.read_link().map_err(restore_err)? == *link
                    {
                        return Ok(Outcome::Done("unchanged"));
                    }
                }
                lookup.replace_with_symlink(link).map_err(restore_err)?;
                Ok(Outcome::Done("re-created symlink"))
            }
            Original::CreatedDir => match current {
                None => Ok(Outcome::Done("unchanged")),
                Some(meta) if meta.file_type == FileType::Directory => {
                    if lookup.remove_empty_dir().map_err(restore_err)? {
                        Ok(Outcome::Done("removed created directory"))
                    } else {
                        Ok(Outcome::Keep("kept created directory (not empty)"))
                    }
                }
                Some(meta) => Err(type_changed(&meta)),
            },
        }
    }

    /// What `lookup` is now, as an original to save (content goes into an object first).
    fn capture(&self, lookup: &Lookup) -> Result<Original, StoreError> {
        let Some(meta) = lookup.entry else {
            return Ok(Original::Absent);
        };
        let read_err = |source| StoreError::ReadTarget {
            target: lookup.path.clone(),
            source,
        };
        let (uid, gid, mode) = (meta.uid, meta.gid, meta.mode);
        Ok(match meta.file_type {
            FileType::Regular => {
                let content = lookup.read().map_err(read_err)?;
                let sha256 = self.objects.put(&content)?;
                Original::File {
                    sha256,
                    uid,
                    gid,
                    mode,
                }
            }
            FileType::Directory => Original::Directory { uid, gid, mode },
            FileType::Symlink => Original::Symlink {
                target: lookup.read_link().map_err(read_err)?,
            },
            other @ (FileType::Socket
            | FileType::Fifo
            | FileType::CharDevice
            | FileType::BlockDevice) => Original::Other {
                file_type: file_type_name(other).to_owned(),
                uid,
                gid,
                mode,
            },
        })
    }

    /// Writes `index` atomically and makes it the current one.
    fn commit(&mut self, index: Index) -> Result<(), StoreError> {
        index.save(&self.index_path)?;
        self.index = index;
        self.index_stamp = index_stamp(&self.index_path);
        self.remember();
        Ok(())
    }

    fn remember(&mut self) {
        self.recorded = self
            .index
            .entries
            .iter()
            .flat_map(|e| e.controls.iter().map(|c| recorded_key(&e.root, &e.path, c)))
            .collect();
    }

    /// Reads the index again unless this value already has the version on disk.
    fn refresh(&mut self) -> Result<(), StoreError> {
        let stamp = index_stamp(&self.index_path);
        if stamp.is_none() || stamp != self.index_stamp || self.index_released {
            self.index = Index::load(&self.index_path)?;
            self.index_stamp = stamp;
            self.index_released = false;
            self.remember();
        }
        Ok(())
    }

    /// Drops the in-memory copy of the index, keeping only what the fast path of a save needs
    /// (the hashes of recorded targets and the index file's identity): a long-running daemon
    /// managing 10,000 files need not hold every original's record. The next save that must
    /// record something new reads the index again, under the lock, as it would anyway;
    /// [`Store::entries`] shows nothing until then.
    pub fn release_index(&mut self) {
        self.index = Index::new();
        self.index_released = true;
    }

    /// Takes the exclusive lock on the backups directory; released when the guard drops.
    fn lock(&self) -> Result<Flock<File>, StoreError> {
        let lock_err = |source| StoreError::Lock {
            path: self.backups_dir.clone(),
            source,
        };
        let mut dir = File::open(&self.backups_dir).map_err(lock_err)?;
        loop {
            match Flock::lock(dir, FlockArg::LockExclusive) {
                Ok(guard) => return Ok(guard),
                Err((file, Errno::EINTR)) => dir = file,
                Err((_, errno)) => return Err(lock_err(io::Error::from(errno))),
            }
        }
    }
}

/// Sets owner and mode back when they differ from the original.
fn restore_owner_mode(
    lookup: &Lookup,
    meta: &Meta,
    uid: u32,
    gid: u32,
    mode: u32,
) -> Result<Outcome, FsError> {
    if (meta.uid, meta.gid, meta.mode) == (uid, gid, mode) {
        return Ok(Outcome::Done("unchanged"));
    }
    lookup.set_owner_mode(Some(uid), Some(gid), Some(mode))?;
    Ok(Outcome::Done("restored owner and mode"))
}

/// The `file_type` of [`Original::Other`].
fn file_type_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Regular => "regular",
        FileType::Directory => "directory",
        FileType::Symlink => "symlink",
        FileType::Socket => "socket",
        FileType::Fifo => "fifo",
        FileType::CharDevice => "char-device",
        FileType::BlockDevice => "block-device",
    }
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("the current UTC time is within RFC 3339's years 0000-9999")
}

/// Makes sure `path` is a directory, creating it (and missing parents) with mode 0700. With
/// `private` (a directory of the store's own), it must not be a symlink, and an existing one that
/// group or others can access is tightened to 0700: it holds copies of files like `/etc/shadow`.
fn ensure_dir(path: &Path, private: bool) -> Result<(), StoreError> {
    let create_err = |source| StoreError::CreateDir {
        path: path.to_owned(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(create_err)?;
    // The state directory itself may be a symlink an admin placed; our own directories not.
    let meta = if private {
        std::fs::symlink_metadata(path)
    } else {
        std::fs::metadata(path)
    }
    .map_err(create_err)?;
    if !meta.is_dir() {
        return Err(StoreError::NotADirectory {
            path: path.to_owned(),
        });
    }
    if private && meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
            .map_err(create_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
