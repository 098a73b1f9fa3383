//! No drift is lost when the kernel's inotify queue overflows (IN_Q_OVERFLOW): hardend must
//! re-check everything.
//!
//! The queue is overflowed with the host's own limit, without changing
//! /proc/sys/fs/inotify/max_queued_events (a global setting that other processes would see):
//! the daemon is stopped with SIGSTOP, more than `max_queued_events` harmless events are
//! queued on unmanaged files in a watched directory (alternating between files so the kernel
//! cannot merge them), and only then the managed files are drifted. Their events are past the
//! end of the full queue, so the kernel drops them: only the overflow rescan can find them.

#[path = "common/daemon.rs"]
mod daemon;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use daemon::*;
use nix::sys::signal::Signal;

/// Managed files, one control each. (1,000 works too but takes ~20 s in a debug build: every
/// first revert of a target rewrites the whole backup index, see the report.)
const MANAGED: usize = 250;
const NOISE_FILES: usize = 1000;

#[test]
fn run_overflow_rescans_everything_so_no_drift_is_lost() {
    let max_queued: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_queued_events")
        .expect("max_queued_events")
        .trim()
        .parse()
        .unwrap();
    assert!(
        max_queued <= 1 << 20,
        "max_queued_events = {max_queued}: too large to overflow in a test"
    );

    let h = Host::new(true, "fight_limit = 0\n");
    let mut profile = String::from("[profile]\nname = \"many\"\npolicy = \"enforce\"\n");
    let mut managed = Vec::new();
    for i in 0..MANAGED {
        let name = format!("/etc/many/m{i:04}.conf");
        managed.push(h.file(&name, b"m\n", 0o644));
        let _ = write!(
            profile,
            "\n[[control]]\nid = \"m{i:04}\"\ntitle = \"m{i:04}.conf 0644 or stricter\"\nkind = \"file-mode\"\npath = \"{name}\"\nmode = \"0644\"\n"
        );
    }
    let noise: Vec<_> = (0..NOISE_FILES)
        .map(|i| h.file(&format!("/etc/many/noise{i:04}"), b"n\n", 0o600))
        .collect();
    h.profile("10-many.toml", &profile);
    let started = Instant::now();
    let d = h.start();
    eprintln!(
        "overflow: {MANAGED} controls ready in {:?}",
        started.elapsed()
    );

    d.signal(Signal::SIGSTOP);
    wait_until("the daemon stopped", || d.state() == 'T');

    // Fill the queue: IN_ATTRIB on alternating unmanaged files (no two in a row alike).
    let passes = max_queued / NOISE_FILES + 2;
    for pass in 0..passes {
        let mode = if pass % 2 == 0 { 0o640 } else { 0o600 };
        for n in &noise {
            chmod(n, mode);
        }
    }
    // Now the real drift: these events no longer fit in the queue.
    for m in &managed {
        chmod(m, 0o666);
    }

    let resumed = Instant::now();
    d.signal(Signal::SIGCONT);
    wait_for(
        Duration::from_secs(30),
        "every managed file reverted",
        || {
            managed
                .iter()
                .all(|m| mode_of(m) == Some(0o644))
                .then_some(())
        },
    );
    eprintln!(
        "overflow: {} noise events (queue limit {max_queued}), {MANAGED} drifts all reverted {:?} after SIGCONT",
        passes * NOISE_FILES,
        resumed.elapsed()
    );
    let lost: Vec<_> = managed
        .iter()
        .filter(|m| mode_of(m) != Some(0o644))
        .collect();
    assert!(lost.is_empty(), "drift lost: {lost:?}");
    assert!(
        noise
            .iter()
            .all(|n| mode_of(n).is_some_and(|m| m & 0o7 == 0)),
        "unmanaged files are left as they are"
    );
}
