//! The systemd service protocol on a real `NOTIFY_SOCKET` bound by the test: READY=1 only after
//! the first convergence (with a STATUS= summary and the status file written), RELOADING=1 then
//! READY=1 around a SIGHUP reload, WATCHDOG=1 pings when WATCHDOG_USEC asks for them, and
//! STOPPING=1 at SIGTERM.

#[path = "common/daemon.rs"]
mod daemon;

use std::process::Command;
use std::time::Duration;

use daemon::*;
use nix::sys::signal::Signal;

const PROFILE: &str = r#"
[profile]
name = "notify"
policy = "enforce"

[[control]]
id = "a-mode"
title = "a.conf 0644 or stricter"
kind = "file-mode"
path = "/etc/app/a.conf"
mode = "0644"

[[control]]
id = "b-content"
title = "b.conf managed"
kind = "file-content"
path = "/etc/app/b.conf"
content = "b\n"

[[control]]
id = "c-mode"
title = "c.conf 0600 or stricter"
kind = "file-mode"
path = "/etc/app/c.conf"
mode = "0600"
"#;

fn host() -> Host {
    let h = Host::new(true, "");
    h.file("/etc/app/a.conf", b"a\n", 0o666); // drifted: fixed by the first convergence
    h.file("/etc/app/c.conf", b"c\n", 0o600); // b.conf is missing: written by it
    h.profile("10-notify.toml", PROFILE);
    h
}

#[test]
fn run_notify_ready_only_after_first_convergence_with_status_summary_and_status_file() {
    let h = host();
    let d = Daemon::spawn(&h, h.run_command());
    d.wait_ready();
    let all = d.notify.all();
    let i = all.iter().position(|n| n.has("READY=1")).unwrap();
    let ready = &all[i];

    // By READY, the first convergence is done.
    assert_eq!(mode_of(&h.path("/etc/app/a.conf")), Some(0o644));
    assert!(is_regular_with(&h.path("/etc/app/b.conf"), b"b\n"));

    let status = ready.get("STATUS").unwrap_or("");
    assert!(
        status.starts_with("3 controls:"),
        "READY=1 must come with a STATUS= summary of every control; got {:?} (all datagrams: {:#?})",
        ready.text,
        all.iter().map(|n| &n.text).collect::<Vec<_>>()
    );
    let file = ready
        .status_file
        .as_deref()
        .unwrap_or_else(|| panic!("state/status.json did not exist yet when READY=1 arrived"));
    let json: serde_json::Value = serde_json::from_str(file).expect("status.json is JSON");
    let total: u64 = json["summary"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 3, "every control evaluated by READY: {json:#}");
    assert!(json["last_convergence"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
}

#[test]
fn run_notify_sighup_says_reloading_then_ready() {
    let h = host();
    let d = h.start();
    let from = d.notify.all().len();
    d.signal(Signal::SIGHUP);
    let r = d.wait_notify(from, "RELOADING=1", |n| n.has("RELOADING=1"));
    let ready = d.wait_notify(r + 1, "READY=1 after RELOADING=1", |n| n.has("READY=1"));
    let all = d.notify.all();
    assert!(
        all[from..r].iter().all(|n| !n.has("READY=1")),
        "no READY=1 between SIGHUP and RELOADING=1"
    );
    assert!(
        all[ready]
            .get("STATUS")
            .is_some_and(|s| s.starts_with("3 controls:")),
        "READY=1 after a reload carries the STATUS= summary: {:?}",
        all[ready].text
    );
    if all[r].get("MONOTONIC_USEC").is_none() {
        eprintln!(
            "note: RELOADING=1 without MONOTONIC_USEC= ({:?}); Type=notify-reload units need it",
            all[r].text
        );
    }
}

fn assert_watchdog_pings(d: &Daemon) {
    // WATCHDOG_USEC=200000: a ping every 100 ms, so 5 of them well within 3 s.
    let pings = wait_for(Duration::from_secs(3), "5 WATCHDOG=1 pings", || {
        let at: Vec<_> = d
            .notify
            .all()
            .into_iter()
            .filter(|n| n.has("WATCHDOG=1"))
            .map(|n| n.at)
            .collect();
        (at.len() >= 5).then_some(at)
    });
    let span = pings[4] - pings[0];
    assert!(
        span >= Duration::from_millis(200) && span <= Duration::from_millis(1000),
        "4 watchdog intervals took {span:?}, expected about 400 ms"
    );
}

#[test]
fn run_notify_watchdog_pings_when_watchdog_usec_is_set() {
    let h = host();
    let mut c = h.run_command();
    c.env("WATCHDOG_USEC", "200000").env_remove("WATCHDOG_PID");
    let d = Daemon::spawn(&h, c);
    d.wait_ready();
    assert_watchdog_pings(&d);
}

#[test]
fn run_notify_watchdog_pings_when_watchdog_pid_is_the_daemon() {
    let h = host();
    // `exec` keeps the shell's PID, so $$ is hardend's PID, as systemd sets it.
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" \"$@\"")
        .arg(BIN)
        .arg("run")
        .args(h.global_args())
        .env("WATCHDOG_USEC", "200000");
    let d = Daemon::spawn(&h, c);
    d.wait_ready();
    assert_watchdog_pings(&d);
}

#[test]
fn run_notify_sigterm_says_stopping_and_exits_0() {
    let h = host();
    let mut d = h.start();
    let from = d.notify.all().len();
    let status = d.terminate();
    assert_eq!(status.code(), Some(0));
    d.wait_notify(from, "STOPPING=1", |n| n.has("STOPPING=1"));
}
