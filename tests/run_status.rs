//! `hardend status` while `hardend run` runs (what it sees now) and after it stopped (the last
//! state it saved), in text and JSON.

#[path = "common/daemon.rs"]
mod daemon;

use daemon::*;
use serde_json::Value;

const PROFILE: &str = r#"
[profile]
name = "status"
policy = "enforce"

[[control]]
id = "st-drift"
title = "drifted.conf 0640 or stricter"
kind = "file-mode"
path = "/etc/app/drifted.conf"
mode = "0640"

[[control]]
id = "st-pass-1"
title = "ok1.conf 0644 or stricter"
kind = "file-mode"
path = "/etc/app/ok1.conf"
mode = "0644"

[[control]]
id = "st-pass-2"
title = "ok2.conf managed"
kind = "file-content"
path = "/etc/app/ok2.conf"
content = "ok\n"
"#;

fn host() -> (Host, std::path::PathBuf) {
    // Report-only, so the drift stays for `status` to show.
    let h = Host::new(false, "");
    let drifted = h.file("/etc/app/drifted.conf", b"d\n", 0o666);
    h.file("/etc/app/ok1.conf", b"1\n", 0o644);
    h.file("/etc/app/ok2.conf", b"ok\n", 0o644);
    h.profile("10-status.toml", PROFILE);
    (h, drifted)
}

fn status_json(h: &Host) -> (Value, Option<i32>) {
    let out = h.hardend(&["status", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "status --format json is not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.code())
}

/// `status --format json` once the status file exists.
fn wait_status_json(h: &Host, what: &str, pred: impl Fn(&Value) -> bool) -> (Value, Option<i32>) {
    wait_for(DEADLINE, what, || {
        if !h.state.join("status.json").exists() {
            return None;
        }
        let (v, code) = status_json(h);
        pred(&v).then_some((v, code))
    })
}

fn status_text(h: &Host) -> (String, Option<i32>) {
    let out = h.hardend(&["status"]);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code(),
    )
}

#[test]
fn run_status_shows_the_running_daemon_and_the_last_saved_state_after_it_stopped() {
    let (h, drifted) = host();
    let mut d = h.start();

    let (v, code) = wait_status_json(&h, "status with 1 drift and 2 pass", |v| {
        v["summary"]["drift"] == 1 && v["summary"]["pass"] == 2
    });
    assert_eq!(code, Some(1), "status exits 1 while a control drifts");
    assert_eq!(v["running"], true, "{v:#}");
    assert_eq!(v["pid"], d.pid, "{v:#}");
    assert_eq!(v["enforce"], false);
    let controls = v["controls"].as_array().unwrap();
    let drift = controls
        .iter()
        .find(|c| c["id"] == "st-drift")
        .unwrap_or_else(|| panic!("the drifted control is listed: {v:#}"));
    assert_eq!(drift["status"], "drift");
    assert_eq!(drift["kind"], "file-mode");
    assert_eq!(drift["target"], "/etc/app/drifted.conf");
    assert!(drift["message"].as_str().unwrap().contains("0666"), "{v:#}");

    let (text, code) = status_text(&h);
    assert_eq!(code, Some(1));
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("hardend running (pid {}", d.pid))
            && first.contains("report-only"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("drift")
            && l.contains("st-drift")
            && l.contains("/etc/app/drifted.conf")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("3 controls: 1 drift, 2 pass (report only)")),
        "{text}"
    );

    // The status follows what happens.
    chmod(&drifted, 0o640);
    let (v, code) = wait_status_json(&h, "status with 3 pass", |v| v["summary"]["pass"] == 3);
    assert_eq!(v["summary"]["drift"], 0);
    assert_eq!(code, Some(0), "status exits 0 when every control passes");
    chmod(&drifted, 0o606);
    wait_status_json(&h, "status with the drift again", |v| {
        v["summary"]["drift"] == 1
    });

    // Stopped: the last saved state, marked as not running.
    assert_eq!(d.terminate().code(), Some(0));
    let (v, code) = status_json(&h);
    assert_eq!(v["running"], false, "{v:#}");
    assert_eq!(v["pid"], d.pid);
    assert_eq!(v["summary"]["drift"], 1, "{v:#}");
    assert_eq!(v["summary"]["pass"], 2, "{v:#}");
    assert_eq!(code, Some(1));
    let (text, _) = status_text(&h);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("hardend not running; last saved state")),
        "{text}"
    );
    assert!(text.contains("st-drift"), "{text}");
}

#[test]
fn run_status_answers_as_soon_as_the_daemon_is_ready() {
    // `systemctl start hardend` returns at READY=1; `hardend status` right after must answer.
    let (h, _) = host();
    let _d = h.start();
    let out = h.hardend(&["status", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "status right after READY=1 (1 drift expected): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["running"], true);
    assert_eq!(v["summary"]["drift"], 1);
}

#[test]
fn run_status_file_lists_only_non_passing_controls() {
    // src/daemon/status.rs documents `controls` as "every control whose status is not `pass`
    // (the passing ones are only counted, so the file stays small however many files are
    // managed)"; the commit that says so is "status file keeps counts and non-passing controls
    // only".
    let (h, _) = host();
    let _d = h.start();
    let s = wait_for(DEADLINE, "status.json", || h.status_json());
    let ids: Vec<&str> = s["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(s["summary"]["pass"], 2, "{s:#}");
    assert_eq!(
        ids,
        vec!["st-drift"],
        "only the non-passing controls are listed: {s:#}"
    );
}

#[test]
fn run_status_without_any_saved_state_says_so() {
    let (h, _) = host();
    let out = h.hardend(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no daemon status yet"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
