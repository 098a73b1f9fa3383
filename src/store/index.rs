//! `index.json`: what each saved original was. The format is documented in the parent module.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::write_state_file;

use super::StoreError;

/// The index format version this code reads and writes.
pub const INDEX_VERSION: u64 = 1;

/// One managed target whose original hardend saved before changing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The root the target resolves under (`/`, or the `--root` directory).
    pub root: PathBuf,
    /// The target, as [`crate::fs::Root::lookup`] takes it.
    pub path: PathBuf,
    /// The controls that changed the target (the first one first).
    pub controls: Vec<String>,
    /// What the target was before the first change.
    pub original: Original,
    /// When the original was saved (RFC 3339, UTC).
    pub saved_at: String,
}

impl Entry {
    /// Whether this entry is for `path` under `root`.
    pub fn is_for(&self, root: &Path, path: &Path) -> bool {
        self.root == root && self.path == path
    }

    /// Whether any of `controls` changed this target.
    pub fn has_any_control(&self, controls: &[String]) -> bool {
        self.controls.iter().any(|c| controls.contains(c))
    }
}

/// What a target was before hardend first changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Original {
    /// Nothing existed at the path: rollback removes what is there.
    Absent,
    /// A regular file; its content is the object named `sha256`.
    File {
        sha256: String,
        uid: u32,
        gid: u32,
        #[serde(with = "octal_mode")]
        mode: u32,
    },
    /// A directory; only its owner and mode are saved.
    Directory {
        uid: u32,
        gid: u32,
        #[serde(with = "octal_mode")]
        mode: u32,
    },
    /// A socket, FIFO or device node (`file_type`: `socket`, `fifo`, `char-device`,
    /// `block-device`); only its owner and mode are saved.
    Other {
        file_type: String,
        uid: u32,
        gid: u32,
        #[serde(with = "octal_mode")]
        mode: u32,
    },
    /// A symlink with this target text.
    Symlink { target: PathBuf },
    /// A directory that hardend created as a missing parent of a target: rollback removes it
    /// when it is empty.
    CreatedDir,
}

impl Original {
    /// Words for messages: "a regular file", "absent".
    pub fn describe(&self) -> String {
        match self {
            Original::Absent => "absent".to_owned(),
            Original::File { .. } => "a regular file".to_owned(),
            Original::Directory { .. } => "a directory".to_owned(),
            Original::Other { file_type, .. } => format!("a {file_type}"),
            Original::Symlink { .. } => "a symlink".to_owned(),
            Original::CreatedDir => "absent (a directory hardend created)".to_owned(),
        }
    }
}

/// Modes as four octal digits (`"0644"`), as people read them.
mod octal_mode {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(mode: &u32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{mode:04o}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        let text = String::deserialize(d)?;
        match u32::from_str_radix(&text, 8) {
            Ok(mode) if mode <= 0o7777 && !text.is_empty() => Ok(mode),
            _ => Err(D::Error::custom(format!(
                "mode {text:?} is not an octal mode between 0000 and 7777"
            ))),
        }
    }
}

/// The whole index file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub version: u64,
    pub entries: Vec<Entry>,
}

/// Only the version, read first so that a newer format is named as such instead of failing to
/// parse.
#[derive(Deserialize)]
struct VersionProbe {
    version: Option<u64>,
}

impl Index {
    /// An empty index of the current version.
    pub fn new() -> Index {
        Index {
            version: INDEX_VERSION,
            entries: Vec::new(),
        }
    }

    /// Reads the index at `path`; a missing file is an empty index, anything unreadable or
    /// malformed is an error naming the file (never silently reset: that would lose originals).
    pub fn load(path: &Path) -> Result<Index, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Index::new()),
            Err(source) => {
                return Err(StoreError::ReadIndex {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let parse_error = |source| StoreError::ParseIndex {
            path: path.to_owned(),
            source,
        };
        let probe: VersionProbe = serde_json::from_slice(&bytes).map_err(parse_error)?;
        match probe.version {
            Some(INDEX_VERSION) => {}
            Some(found) => {
                return Err(StoreError::UnsupportedVersion {
                    path: path.to_owned(),
                    found,
                    supported: INDEX_VERSION,
                })
            }
            None => {
                return Err(StoreError::InvalidIndex {
                    path: path.to_owned(),
                    message: "it has no \"version\" field".to_owned(),
                })
            }
        }
        let index: Index = serde_json::from_slice(&bytes).map_err(parse_error)?;
        index
            .validate()
            .map_err(|message| StoreError::InvalidIndex {
                path: path.to_owned(),
                message,
            })?;
        Ok(index)
    }

    /// Checks what serde cannot: one entry per root and path, object names that are SHA-256
    /// digests (they become file names, so nothing like `../` may pass).
    fn validate(&self) -> Result<(), String> {
        let mut seen = HashSet::new();
        for entry in &self.entries {
            if !seen.insert((&entry.root, &entry.path)) {
                return Err(format!(
                    "{} under root {} has more than one entry",
                    entry.path.display(),
                    entry.root.display()
                ));
            }
            if let Original::File { sha256, .. } = &entry.original {
                if !is_sha256_hex(sha256) {
                    return Err(format!(
                        "the entry for {} names object {sha256:?}, which is not a lowercase \
                         hex SHA-256 digest",
                        entry.path.display()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the index to `path` atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let mut json =
            serde_json::to_vec_pretty(self).map_err(|source| StoreError::EncodeIndex {
                path: path.to_owned(),
                source,
            })?;
        json.push(b'\n');
        write_state_file(path, &json, 0o600).map_err(|source| StoreError::WriteIndex {
            path: path.to_owned(),
            source,
        })
    }

    pub fn find_mut(&mut self, root: &Path, path: &Path) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.is_for(root, path))
    }

    /// Removes the entry for `path` under `root`; whether there was one.
    pub fn remove(&mut self, root: &Path, path: &Path) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !e.is_for(root, path));
        self.entries.len() != before
    }

    /// Whether any entry (of any root) refers to the object `sha256`.
    pub fn references_object(&self, sha256: &str) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(&e.original, Original::File { sha256: s, .. } if s == sha256))
    }
}

/// Whether `s` looks like a SHA-256 digest in lowercase hex, as object names are.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
