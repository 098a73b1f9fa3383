//! The inotify watcher: directories in, batches of changes out.
//!
//! Only directories are watched, and every event on an entry names it, so one watch covers
//! chmod, chown, rewrites, deletes, creates and renames of all the entries it has. An
//! `IN_Q_OVERFLOW` is passed on as `overflow` so the caller re-checks everything.

mod points;

pub use points::{watch_points, WatchPoint};

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use tokio::io::unix::AsyncFd;

use crate::fs::TEMP_PREFIX;

/// A read with at least this many events filled most of the buffer: more may be queued.
const FULL_READ: usize = 512;

/// What one read of the inotify queue brought.
#[derive(Debug, Default)]
pub struct Batch {
    /// (watched host directory, entry name; `None` for the directory itself).
    pub changes: Vec<(PathBuf, Option<OsString>)>,
    /// The kernel dropped events: re-check everything.
    pub overflow: bool,
    /// A directory appeared or went away: watch points must be recomputed.
    pub structural: bool,
    /// When the batch was read, for the latency of what it causes.
    pub read_at: Option<Instant>,
}

pub struct Watcher {
    inotify: AsyncFd<Inotify>,
    by_wd: HashMap<WatchDescriptor, PathBuf>,
    by_dir: HashMap<PathBuf, WatchDescriptor>,
    buffer: Vec<u8>,
}

/// What is watched on every directory: changes to its entries and to itself.
pub fn dir_mask() -> WatchMask {
    WatchMask::ATTRIB
        | WatchMask::MODIFY
        | WatchMask::CLOSE_WRITE
        | WatchMask::CREATE
        | WatchMask::DELETE
        | WatchMask::MOVED_FROM
        | WatchMask::MOVED_TO
        | WatchMask::DELETE_SELF
        | WatchMask::MOVE_SELF
        | WatchMask::ONLYDIR
}

impl Watcher {
    /// Needs a tokio runtime with IO enabled.
    pub fn new() -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        // SAFETY: `Inotify` owns its descriptor and closes it only when dropped; the AsyncFd
        // owns the Inotify, so the descriptor stays open and the same for the AsyncFd's life.
        let inotify = unsafe { AsyncFd::register(inotify) }.map_err(|e| e.into_parts().1)?;
        Ok(Watcher {
            inotify,
            by_wd: HashMap::new(),
            by_dir: HashMap::new(),
            buffer: vec![0; 64 * 1024],
        })
    }

    /// Watches exactly these host directories: adds the new ones, drops the rest. A directory
    /// that cannot be watched (gone meanwhile) is skipped; the caller's next structural batch
    /// recomputes.
    pub fn set_dirs(&mut self, dirs: &BTreeSet<PathBuf>) {
        let stale: Vec<PathBuf> = self
            .by_dir
            .keys()
            .filter(|d| !dirs.contains(*d))
            .cloned()
            .collect();
        for dir in stale {
            if let Some(wd) = self.by_dir.remove(&dir) {
                self.by_wd.remove(&wd);
                let _ = self.inotify.get_mut().watches().remove(wd);
            }
        }
        for dir in dirs {
            if self.by_dir.contains_key(dir) {
                continue;
            }
            if let Ok(wd) = self.inotify.get_mut().watches().add(dir, dir_mask()) {
                // Two paths can name one directory: keep the first name for it.
                self.by_wd.entry(wd.clone()).or_insert_with(|| dir.clone());
                self.by_dir.insert(dir.clone(), wd);
            }
        }
    }

    pub fn watched(&self) -> usize {
        self.by_wd.len()
    }

    pub fn is_watched(&self, dir: &Path) -> bool {
        self.by_dir.contains_key(dir)
    }

    /// Waits for events and returns everything queued.
    pub async fn next_batch(&mut self) -> io::Result<Batch> {
        let mut batch = Batch::default();
        loop {
            let mut guard = self.inotify.readable_mut().await?;
            let read = guard.try_io(|inner| {
                let events = inner.get_mut().read_events(&mut self.buffer)?;
                let mut out = Vec::new();
                for e in events {
                    out.push((e.wd, e.mask, e.name.map(|n| n.to_os_string())));
                }
                Ok(out)
            });
            match read {
                Ok(Ok(events)) => {
                    batch.read_at.get_or_insert_with(Instant::now);
                    let events_len = events.len();
                    self.absorb(events, &mut batch);
                    // Take what a burst queued beyond one buffer, but stop at the first short
                    // read: a writer in a loop would otherwise keep us reading at its pace.
                    let mut full = events_len >= FULL_READ;
                    while full {
                        let Ok(events) = self.inotify.get_mut().read_events(&mut self.buffer)
                        else {
                            break;
                        };
                        let events: Vec<_> = events
                            .map(|e| (e.wd, e.mask, e.name.map(|n| n.to_os_string())))
                            .collect();
                        full = events.len() >= FULL_READ;
                        self.absorb(events, &mut batch);
                    }
                    return Ok(batch);
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    fn absorb(
        &mut self,
        events: Vec<(WatchDescriptor, EventMask, Option<OsString>)>,
        batch: &mut Batch,
    ) {
        for (wd, mask, name) in events {
            if mask.contains(EventMask::Q_OVERFLOW) {
                batch.overflow = true;
                continue;
            }
            // hardend's own temp files come and go during every atomic write.
            if name
                .as_ref()
                .is_some_and(|n| n.to_string_lossy().starts_with(TEMP_PREFIX))
            {
                continue;
            }
            let Some(dir) = self.by_wd.get(&wd).cloned() else {
                continue;
            };
            if mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
                batch.structural = true;
                if mask.contains(EventMask::IGNORED) {
                    self.by_wd.remove(&wd);
                    // The path may already be watched again, on its new directory.
                    if self.by_dir.get(&dir) == Some(&wd) {
                        self.by_dir.remove(&dir);
                    }
                }
            }
            if mask.contains(EventMask::ISDIR)
                && mask.intersects(
                    EventMask::CREATE
                        | EventMask::DELETE
                        | EventMask::MOVED_FROM
                        | EventMask::MOVED_TO,
                )
            {
                batch.structural = true;
            }
            batch.changes.push((dir, name));
        }
    }
}
