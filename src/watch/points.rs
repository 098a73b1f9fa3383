//! Where to watch for a managed path: its parent directory (so that a file replaced by rename,
//! deleted or re-created is still followed: the watch is on the path, not the inode), or, while
//! that directory is missing, the nearest existing ancestor, for the directory's creation.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::fs::{FileType, Root};
use crate::kinds::is_glob;

/// A directory to watch (root-relative, symlinks resolved) and the entry name of interest
/// (`None`: any entry, for globs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WatchPoint {
    pub dir: PathBuf,
    pub name: Option<OsString>,
}

/// Watch points for one path or glob pattern as a profile names it.
pub fn watch_points(root: &Root, pattern: &str) -> Vec<WatchPoint> {
    if is_glob(pattern) {
        glob_points(root, pattern)
    } else {
        path_points(root, Path::new(pattern))
    }
}

fn path_points(root: &Root, path: &Path) -> Vec<WatchPoint> {
    let mut current = path.to_path_buf();
    loop {
        let Ok(lookup) = root.lookup(&current) else {
            // An untrusted ancestor link: nothing safe to watch below it.
            return Vec::new();
        };
        if lookup.parent_exists() {
            let resolved = lookup.resolved();
            return match (resolved.parent(), resolved.file_name()) {
                (Some(dir), Some(name)) => vec![WatchPoint {
                    dir: dir.to_path_buf(),
                    name: Some(name.to_os_string()),
                }],
                _ => Vec::new(),
            };
        }
        match current.parent() {
            Some(parent) if parent != Path::new("/") => current = parent.to_path_buf(),
            _ => return Vec::new(),
        }
    }
}

/// A glob watches its literal prefix directory and every directory its wildcard levels match,
/// each for any entry: a new match anywhere re-examines the control.
fn glob_points(root: &Root, pattern: &str) -> Vec<WatchPoint> {
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let first_wild = comps.iter().position(|c| is_glob(c)).unwrap_or(comps.len());
    let prefix = format!("/{}", comps[..first_wild].join("/"));
    let prefix_is_dir = root
        .lookup(Path::new(&prefix))
        .ok()
        .and_then(|l| l.entry.map(|m| (m.file_type, l.resolved().to_path_buf())));
    let mut points = match prefix_is_dir {
        Some((FileType::Directory, resolved)) => vec![WatchPoint {
            dir: resolved,
            name: None,
        }],
        // The prefix is missing (or not a directory): wait for it to appear.
        _ => return path_points(root, Path::new(&prefix)),
    };
    for level in first_wild + 1..comps.len() {
        let level_pattern = format!("/{}", comps[..level].join("/"));
        for dir in root.glob(&level_pattern).unwrap_or_default() {
            if let Ok(l) = root.lookup(&dir) {
                if l.entry.is_some_and(|m| m.file_type == FileType::Directory) {
                    points.push(WatchPoint {
                        dir: l.resolved().to_path_buf(),
                        name: None,
                    });
                }
            }
        }
    }
    points
}
