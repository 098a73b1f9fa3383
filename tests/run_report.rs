//! `hardend run` with `enforce = false` (as shipped): drift is reported, once per distinct
//! state, nothing is changed, and a return to compliance is reported as resolved.

#[path = "common/daemon.rs"]
mod daemon;

use daemon::*;

const PROFILE: &str = r#"
[profile]
name = "report"
policy = "enforce"

[[control]]
id = "rep-mode"
title = "app.conf 0640 or stricter"
kind = "file-mode"
path = "/etc/app/app.conf"
owner = "root"
mode = "0640"

[[control]]
id = "rep-sentinel"
title = "sentinel.conf 0644 or stricter"
kind = "file-mode"
path = "/etc/app/sentinel.conf"
mode = "0644"
"#;

#[test]
fn run_report_mode_reports_each_drifted_state_once_and_changes_nothing() {
    let h = Host::new(false, "");
    let app = h.file("/etc/app/app.conf", b"x\n", 0o640);
    let sentinel = h.file("/etc/app/sentinel.conf", b"s\n", 0o644);
    h.profile("10-report.toml", PROFILE);
    let d = h.start();
    let detected = |actual: &'static str| {
        move |e: &Ev| e.is("drift-detected", "rep-mode") && e.get("actual") == Some(actual)
    };

    chmod(&app, 0o666);
    let e = d.wait_event("drift-detected for 0666", detected("root:root 0666"));
    assert_eq!(e.get("kind"), Some("file-mode"), "{}", e.raw);
    assert_eq!(e.get("target"), Some("/etc/app/app.conf"), "{}", e.raw);
    assert_eq!(
        e.get("expected"),
        Some("owner root 0640 or stricter"),
        "{}",
        e.raw
    );
    assert_eq!(e.get("action"), Some("reported"), "{}", e.raw);

    // The same state again: chmod to the same mode, touch, a write. Then a sentinel drift:
    // events are handled in order, so once it is reported the others were handled.
    chmod(&app, 0o666);
    let now = std::time::SystemTime::now();
    std::fs::File::options()
        .write(true)
        .open(&app)
        .unwrap()
        .set_modified(now)
        .unwrap();
    std::fs::write(&app, b"y\n").unwrap();
    chmod(&sentinel, 0o666);
    d.wait_event("drift-detected for the sentinel", |e| {
        e.is("drift-detected", "rep-sentinel")
    });
    assert_eq!(
        mode_of(&app),
        Some(0o666),
        "report mode must not change the file"
    );
    assert_eq!(
        mode_of(&sentinel),
        Some(0o666),
        "report mode must not change the file"
    );
    assert_eq!(
        d.count(|e| e.get("control") == Some("rep-mode")),
        1,
        "one event for one drifted state; got:\n{}",
        d.lines().join("\n")
    );

    // Another drifted state is a new event.
    chmod(&app, 0o660);
    d.wait_event("drift-detected for 0660", detected("root:root 0660"));
    assert_eq!(mode_of(&app), Some(0o660));

    // Back to compliance: resolved, once.
    chmod(&app, 0o640);
    let e = d.wait_event("drift-resolved", |e| e.is("drift-resolved", "rep-mode"));
    assert_eq!(e.get("target"), Some("/etc/app/app.conf"), "{}", e.raw);
    assert_eq!(e.get("actual"), Some("root:root 0640"), "{}", e.raw);
    chmod(&app, 0o640);
    chmod(&sentinel, 0o644);
    d.wait_event("drift-resolved for the sentinel", |e| {
        e.is("drift-resolved", "rep-sentinel")
    });
    assert_eq!(d.count(|e| e.is("drift-resolved", "rep-mode")), 1);
    assert_eq!(
        d.count(|e| e.ty == "drift-reverted"),
        0,
        "nothing is reverted in report mode"
    );

    // A state reported before is reported again once it came back after compliance.
    chmod(&app, 0o666);
    d.wait_event_after(
        1,
        "drift-detected for 0666 again",
        detected("root:root 0666"),
    );
    assert_eq!(mode_of(&app), Some(0o666));
}

#[test]
fn run_report_mode_reports_drift_found_at_start_and_the_status_says_so() {
    let h = Host::new(false, "");
    let app = h.file("/etc/app/app.conf", b"x\n", 0o644);
    h.file("/etc/app/sentinel.conf", b"s\n", 0o644);
    h.profile("10-report.toml", PROFILE);
    let d = h.start();
    let e = d.wait_event("drift-detected at start", |e| {
        e.is("drift-detected", "rep-mode")
    });
    assert_eq!(e.get("actual"), Some("root:root 0644"), "{}", e.raw);
    assert_eq!(e.get("action"), Some("reported"), "{}", e.raw);
    wait_until("status.json shows one drift, report only", || {
        h.status_json().is_some_and(|s| {
            s["summary"]["drift"] == 1 && s["summary"]["pass"] == 1 && s["enforce"] == false
        })
    });
    assert_eq!(
        mode_of(&app),
        Some(0o644),
        "report mode must not change the file"
    );
}
