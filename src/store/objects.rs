//! Content-addressed objects: `<state>/backups/objects/<sha256-hex>`, mode 0600, each holding the
//! original content of one regular file and named by its SHA-256.

use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fs::write_state_file;

use super::index::{is_sha256_hex, Index};
use super::StoreError;

/// The SHA-256 of `content` in lowercase hex.
pub fn sha256_hex(content: &[u8]) -> String {
    hex::encode(Sha256::digest(content))
}

pub struct Objects {
    dir: PathBuf,
}

impl Objects {
    pub fn new(dir: PathBuf) -> Objects {
        Objects { dir }
    }

    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join(sha256)
    }

    /// Stores `content` and returns its name. The object is durable (fsynced, renamed into
    /// place, directory fsynced) when this returns. An existing object of that name is kept when
    /// its content still matches its name, and rewritten otherwise.
    pub fn put(&self, content: &[u8]) -> Result<String, StoreError> {
        let sha256 = sha256_hex(content);
        let path = self.path(&sha256);
        if matches!(read_nofollow(&path), Ok(existing) if sha256_hex(&existing) == sha256) {
            return Ok(sha256);
        }
        write_state_file(&path, content, 0o600)
            .map_err(|source| StoreError::WriteObject { path, source })?;
        Ok(sha256)
    }

    /// Reads the object `sha256`, re-hashing it: content that does not match the name is refused
    /// (the error names the object and `target`, the file it would have restored).
    pub fn get(&self, sha256: &str, target: &Path) -> Result<Vec<u8>, StoreError> {
        let path = self.path(sha256);
        let content = read_nofollow(&path).map_err(|source| StoreError::ReadObject {
            path: path.clone(),
            target: target.to_owned(),
            source,
        })?;
        let actual = sha256_hex(&content);
        if actual != sha256 {
            return Err(StoreError::CorruptObject {
                path,
                target: target.to_owned(),
                actual,
            });
        }
        Ok(content)
    }

    /// Removes objects that no entry of `index` refers to any more (originals already restored,
    /// or objects left by a save whose index write failed). Best effort: an object that cannot be
    /// removed costs only disk space and is tried again at the next collection. Call with the
    /// store lock held, so that no save is between writing its object and its index.
    pub fn collect_garbage(&self, index: &Index) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for dirent in dir.flatten() {
            let name = dirent.file_name();
            let Some(name) = name.to_str() else { continue };
            // Only names that are digests: anything else is not ours to delete.
            if is_sha256_hex(name) && !index.references_object(name) {
                let _ = std::fs::remove_file(dirent.path());
            }
        }
    }
}

/// Reads a whole file without following a symlink at its name.
fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mut content = Vec::new();
    file.read_to_end(&mut content)?;
    Ok(content)
}
