//! Raw libc calls that no safe crate wraps. (The fs layer keeps its own in `fs/sys.rs`.)

/// Returns the heap memory freed so far to the kernel. The daemon calls it after start-up and
/// reload, whose parsing and bookkeeping leave many megabytes free inside malloc's arenas that
/// would otherwise stay resident for the daemon's whole life.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks malloc's own arenas and returns unused pages with
    // madvise/sbrk; it takes no pointers from us and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
