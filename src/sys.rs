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

/// The sandbox probe of debug builds: tries `mount` (of a tmpfs on a path that does not exist)
/// and `ptrace` (attaching to a pid that cannot exist), and returns each call's errno name.
/// Neither can change anything: without a filter they fail with ENOENT and ESRCH.
#[cfg(debug_assertions)]
pub fn try_mount_and_ptrace() -> (String, String) {
    use std::ffi::CString;
    let errno = |rc: libc::c_long| {
        if rc == 0 {
            "success".to_string()
        } else {
            format!("{:?}", nix::errno::Errno::last())
        }
    };
    let source = CString::new("none").expect("no NUL");
    let target = CString::new("/nonexistent/hardend-sandbox-probe").expect("no NUL");
    let fstype = CString::new("tmpfs").expect("no NUL");
    // SAFETY: the three pointers are valid NUL-terminated strings that outlive the call, and
    // data may be null; the target path does not exist, so nothing can be mounted.
    let mount = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    let mount = errno(libc::c_long::from(mount));
    // SAFETY: PTRACE_ATTACH reads no memory through its null address and data arguments;
    // pid_max is at most 2^22, so the pid exists nowhere and nothing is attached.
    let ptrace = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            libc::pid_t::MAX,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    (mount, errno(ptrace))
}
