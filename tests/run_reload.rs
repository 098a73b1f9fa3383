//! Live configuration changes while `hardend run` runs: a drop-in added to profiles.d is picked
//! up by itself, a broken one is rejected with file:line:col while the last good set stays in
//! force, SIGHUP reloads the same way, a settings change applies live, and SIGTERM exits 0.

#[path = "common/daemon.rs"]
mod daemon;

use std::path::Path;

use daemon::*;
use nix::sys::signal::Signal;

fn base_profile(banner_source: &Path) -> String {
    format!(
        r#"
[profile]
name = "base"
policy = "enforce"

[[control]]
id = "base-mode"
title = "app.conf 0640 or stricter"
kind = "file-mode"
path = "/etc/app/app.conf"
mode = "0640"

[[control]]
id = "banner"
title = "login banner from a managed source"
kind = "file-content"
path = "/etc/issue.net"
source = "{}"
"#,
        banner_source.display()
    )
}

const NEW_PROFILE: &str = r#"
[profile]
name = "new"
policy = "enforce"

[[control]]
id = "new-mode"
title = "new.conf 0600 or stricter"
kind = "file-mode"
path = "/etc/app/new.conf"
mode = "0600"
"#;

/// A TOML syntax error at line 9, column 8 (the second `=`).
const SYNTAX_ERROR: &str = "[profile]\nname = \"bad\"\n\n[[control]]\nid = \"x\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/app/x.conf\"\nmode = = \"0644\"\n";

/// A schema error: an unknown key at line 9, column 1.
const SCHEMA_ERROR: &str = "[profile]\nname = \"bad\"\n\n[[control]]\nid = \"x\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/app/x.conf\"\nmdoe = \"0644\"\n";

#[track_caller]
fn assert_chmod_reverted(d: &Daemon, file: &Path, control: &str, drifted: u32, good: u32) {
    let before = d.count(|e| e.is("drift-reverted", control));
    chmod(file, drifted);
    wait_until(
        &format!("{control}: {} back to {good:04o}", file.display()),
        || mode_of(file) == Some(good),
    );
    d.wait_event_after(
        before,
        &format!("a new drift-reverted for {control}"),
        |e| e.is("drift-reverted", control),
    );
}

#[test]
fn run_reload_picks_up_dropins_rejects_broken_ones_and_reloads_on_sighup() {
    let h = Host::new(true, "");
    let app = h.file("/etc/app/app.conf", b"a\n", 0o640);
    let new = h.file("/etc/app/new.conf", b"n\n", 0o600);
    let issue = h.path("/etc/issue.net");
    let src_dir = h.base.join("src");
    mkdirs(&src_dir);
    let banner = src_dir.join("banner");
    h.write_atomic(&banner, b"Authorized use only\n", 0o644);
    h.profile("10-base.toml", &base_profile(&banner));
    let mut d = h.start();
    wait_until("banner written at start", || {
        is_regular_with(&issue, b"Authorized use only\n")
    });
    let loaded = |d: &Daemon| d.count(|e| e.ty == "profile-loaded");
    assert_eq!(loaded(&d), 1);

    // 1. A new valid drop-in: loaded by itself, its control enforced.
    let new_path = h.profile("20-new.toml", NEW_PROFILE);
    let e = d.wait_event("profile-loaded naming 20-new.toml", |e| {
        e.ty == "profile-loaded"
            && e.get("file")
                .is_some_and(|f| f.contains(&*new_path.to_string_lossy()))
    });
    assert!(
        e.message.contains("2 profile file(s), 3 control(s)"),
        "{}",
        e.raw
    );
    assert_chmod_reverted(&d, &new, "new-mode", 0o644, 0o600);

    // 2. A drop-in with a TOML syntax error: rejected naming file:line:col.
    let bad = h.profile("30-bad.toml", SYNTAX_ERROR);
    let e = d.wait_event("profile-rejected for the syntax error", |e| {
        e.ty == "profile-rejected"
    });
    let at = format!("{}:9:8", bad.display());
    assert!(e.message.contains(&at), "expected {at} in: {}", e.raw);
    assert_eq!(e.get("file"), Some(&*bad.to_string_lossy()), "{}", e.raw);
    assert_eq!(e.get("action"), Some("skipped"), "{}", e.raw);
    assert!(
        e.message
            .ends_with("; the last good profile set stays in force"),
        "{}",
        e.raw
    );
    // The last good set stays in force, old and newly added controls alike.
    assert_chmod_reverted(&d, &app, "base-mode", 0o666, 0o640);
    assert_chmod_reverted(&d, &new, "new-mode", 0o666, 0o600);
    assert!(
        d.lines().iter().all(|l| !l.contains("\"x\"")),
        "the rejected file's control never ran"
    );

    // 3. SIGHUP reloads the same way: the broken file is rejected again, nothing else changes.
    let rejected = d.count(|e| e.ty == "profile-rejected");
    let notes = d.notify.all().len();
    d.signal(Signal::SIGHUP);
    d.wait_event_after(rejected, "profile-rejected again after SIGHUP", |e| {
        e.ty == "profile-rejected" && e.message.contains(&at)
    });
    let reloading = d.wait_notify(notes, "RELOADING=1 after SIGHUP", |n| n.has("RELOADING=1"));
    d.wait_notify(reloading + 1, "READY=1 after the reload", |n| {
        n.has("READY=1")
    });
    assert_chmod_reverted(&d, &app, "base-mode", 0o666, 0o640);

    // 4. A schema error is rejected with its position too.
    h.profile("30-bad.toml", SCHEMA_ERROR);
    let at_schema = format!("{}:9:1", bad.display());
    let e = d.wait_event("profile-rejected for the unknown key", |e| {
        e.ty == "profile-rejected" && e.message.contains("mdoe")
    });
    assert!(
        e.message.contains(&at_schema),
        "expected {at_schema} in: {}",
        e.raw
    );

    // 5. Removing the broken file loads the good set by itself.
    let before = loaded(&d);
    std::fs::remove_file(&bad).unwrap();
    d.wait_event_after(
        before,
        "profile-loaded after removing the broken file",
        |e| e.ty == "profile-loaded",
    );

    // 6. SIGHUP re-reads everything: a changed `source` file is applied.
    let before = loaded(&d);
    h.write_atomic(
        &banner,
        b"Authorized use only. Activity is logged.\n",
        0o644,
    );
    d.signal(Signal::SIGHUP);
    d.wait_event_after(before, "profile-loaded after SIGHUP", |e| {
        e.ty == "profile-loaded"
    });
    wait_until("the new banner written after SIGHUP", || {
        is_regular_with(&issue, b"Authorized use only. Activity is logged.\n")
    });
    assert_chmod_reverted(&d, &new, "new-mode", 0o666, 0o600);

    // 7. SIGTERM: exit status 0, STOPPING=1 said first.
    let status = d.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "hardend run must exit 0 after SIGTERM"
    );
    assert!(d.notify.all().iter().any(|n| n.has("STOPPING=1")));
}

#[test]
fn run_reload_settings_changes_apply_live_and_a_broken_settings_file_keeps_the_last_good_one() {
    let h = Host::new(true, "");
    let app = h.file("/etc/app/app.conf", b"a\n", 0o640);
    h.file("/etc/app/new.conf", b"n\n", 0o600);
    h.profile("20-new.toml", NEW_PROFILE);
    h.profile(
        "10-app.toml",
        "[profile]\nname = \"app\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"app-mode\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/app/app.conf\"\nmode = \"0640\"\n",
    );
    let d = h.start();
    assert_chmod_reverted(&d, &app, "app-mode", 0o666, 0o640);

    // A settings file with an error: rejected with its position, enforce stays on.
    let rejected = d.count(|e| e.ty == "profile-rejected");
    h.settings("enforce = false\nbuiltin_profiles = []\nfight_limit = \"many\"\n");
    let e = d.wait_event_after(rejected, "profile-rejected for hardend.toml", |e| {
        e.ty == "profile-rejected"
    });
    let at = format!("{}:3:", h.config.display());
    assert!(e.message.contains(&at), "expected {at} in: {}", e.raw);
    assert_chmod_reverted(&d, &app, "app-mode", 0o666, 0o640);

    // A valid change to report-only mode applies without a restart.
    let loaded = d.count(|e| e.ty == "profile-loaded");
    h.settings("enforce = false\nbuiltin_profiles = []\n");
    d.wait_event_after(loaded, "profile-loaded after the settings change", |e| {
        e.ty == "profile-loaded"
    });
    chmod(&app, 0o666);
    d.wait_event("drift-detected in report-only mode", |e| {
        e.is("drift-detected", "app-mode") && e.get("actual") == Some("root:root 0666")
    });
    assert_eq!(
        mode_of(&app),
        Some(0o666),
        "report-only mode must not revert"
    );
    wait_until("status.json says report-only", || {
        h.status_json().is_some_and(|s| s["enforce"] == false)
    });
}

/// A daemon that starts while the profiles on disk are broken (after a reboot, or a restart by
/// systemd) enforces the set it last accepted, and says so, until the files are fixed.
#[test]
fn run_started_with_a_broken_drop_in_enforces_the_last_known_good_set() {
    let h = Host::new(true, "");
    let new = h.file("/etc/app/new.conf", b"n\n", 0o600);
    let good = h.profile("20-new.toml", NEW_PROFILE);
    let mut d = h.start();
    assert!(d.terminate().success());

    // Without a saved copy a broken set leaves nothing to enforce: the daemon refuses to start.
    let fresh = Host::new(true, "");
    fresh.profile("30-bad.toml", SYNTAX_ERROR);
    let mut refused = Daemon::spawn(&fresh, fresh.run_command());
    let status = refused.wait_exit();
    assert!(!status.success(), "started without any set");
    assert!(
        refused
            .lines()
            .iter()
            .any(|l| l.contains("no last-known-good set")),
        "{:?}",
        refused.lines()
    );
    // Its rejection event says what happens: nothing stays in force.
    let e = refused
        .events()
        .into_iter()
        .find(|e| e.ty == "profile-rejected")
        .expect("a profile-rejected event");
    assert!(
        e.message.ends_with(
            "; refused: no last-known-good copy to start from, so hardend does not start"
        ),
        "{}",
        e.raw
    );

    // The drop-in breaks while the daemon is down; its file drifts meanwhile.
    h.profile("20-new.toml", SYNTAX_ERROR);
    chmod(&new, 0o666);
    let d = h.start();
    let at = format!("{}:9:8", good.display());
    let e = d.wait_event("profile-rejected at start", |e| e.ty == "profile-rejected");
    assert!(e.message.contains(&at), "expected {at} in: {}", e.raw);
    assert!(
        e.message
            .ends_with("; starting from the last-known-good copy"),
        "{}",
        e.raw
    );
    let e = d.wait_event("profile-loaded from the saved copy", |e| {
        e.ty == "profile-loaded"
    });
    assert!(e.message.contains("last-known-good"), "{}", e.raw);
    wait_until("the drift made while down is reverted", || {
        mode_of(&new) == Some(0o600)
    });
    assert_chmod_reverted(&d, &new, "new-mode", 0o644, 0o600);
    let status = h.status_json().expect("status file");
    assert!(status["last_good_since"].is_string(), "{status:#}");
    let out = h.hardend(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("last-known-good"), "{text}");

    // Fixed on disk: loaded as usual, and the status no longer speaks of the copy.
    h.profile("20-new.toml", NEW_PROFILE);
    d.wait_event("profile-loaded from the fixed file", |e| {
        e.ty == "profile-loaded" && !e.message.contains("last-known-good")
    });
    wait_until("status without the copy", || {
        h.status_json()
            .is_some_and(|s| s.get("last_good_since").is_none())
    });
}
