//! A small cache of verdicts keyed by the SHA-256 of the content judged: validating a seccomp
//! or AppArmor profile costs a compile, and the daemon re-observes a control on every event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// A handful of profiles at most; the bound only stops a source that keeps changing from
/// growing the map for ever.
const LIMIT: usize = 64;

pub struct ContentCache<T> {
    map: Mutex<Option<HashMap<[u8; 32], Arc<T>>>>,
}

impl<T> Default for ContentCache<T> {
    fn default() -> ContentCache<T> {
        ContentCache::new()
    }
}

impl<T> ContentCache<T> {
    pub const fn new() -> ContentCache<T> {
        ContentCache {
            map: Mutex::new(None),
        }
    }

    /// The verdict for `bytes`, computed by `judge` on a miss; kept only when `keep` says the
    /// verdict depends on the bytes alone (not, say, on a tool that is missing right now).
    pub fn get(
        &self,
        bytes: &[u8],
        judge: impl FnOnce() -> T,
        keep: impl Fn(&T) -> bool,
    ) -> Arc<T> {
        let key: [u8; 32] = Sha256::digest(bytes).into();
        if let Some(hit) = self.lock().as_ref().and_then(|m| m.get(&key)) {
            return hit.clone();
        }
        // Computed without the lock: a compile may take a while.
        let verdict = Arc::new(judge());
        if keep(&verdict) {
            let mut guard = self.lock();
            let map = guard.get_or_insert_with(HashMap::new);
            if map.len() >= LIMIT {
                map.clear();
            }
            map.insert(key, verdict.clone());
        }
        verdict
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HashMap<[u8; 32], Arc<T>>>> {
        // A panic elsewhere cannot leave the map half-updated: insert and clear are whole.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_computed_once_per_content() {
        let cache: ContentCache<usize> = ContentCache::new();
        let calls = std::cell::Cell::new(0);
        let judge = || {
            calls.set(calls.get() + 1);
            7
        };
        let a = cache.get(b"x", judge, |_| true);
        let b = cache.get(b"x", || unreachable!("cached"), |_| true);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(calls.get(), 1);
        let c = cache.get(b"y", || 8, |_| false);
        assert_eq!(*c, 8);
        assert_eq!(*cache.get(b"y", || 9, |_| false), 9);
    }
}
