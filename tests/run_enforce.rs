//! `hardend run` with `enforce = true` on a temporary root: every kind of drift a user or a tool
//! can cause on a managed file is put back, and each revert is one `drift-reverted` event that
//! names the control, kind, target, expected and actual state, the action and the latency.

#[path = "common/daemon.rs"]
mod daemon;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use daemon::*;

const MANAGED: &str = "managed by hardend\n";

const PROFILE: &str = r#"
[profile]
name = "live"
policy = "enforce"

[[control]]
id = "app-mode"
title = "app.conf is root:root 0640 or stricter"
kind = "file-mode"
path = "/etc/app/app.conf"
owner = "root"
group = "root"
mode = "0640"

[[control]]
id = "motd-content"
title = "the managed motd"
kind = "file-content"
path = "/etc/app/conf.d/motd"
content = "managed by hardend\n"
mode = "0644"
"#;

fn host() -> Host {
    let h = Host::new(true, "");
    h.file("/etc/app/app.conf", b"key = value\n", 0o640);
    h.file("/etc/app/conf.d/motd", MANAGED.as_bytes(), 0o644);
    h.profile("10-live.toml", PROFILE);
    h
}

fn motd_expected() -> String {
    format!("{} root:root 0644", digest(MANAGED.as_bytes()))
}

/// Asserts the fields every live `drift-reverted` event carries.
#[track_caller]
fn assert_reverted(e: &Ev, control: &str, kind: &str, target: &str, expected: &str, actual: &str) {
    assert_eq!(e.ty, "drift-reverted", "{}", e.raw);
    assert_eq!(e.get("control"), Some(control), "{}", e.raw);
    assert_eq!(e.get("kind"), Some(kind), "{}", e.raw);
    assert_eq!(e.get("target"), Some(target), "{}", e.raw);
    assert_eq!(e.get("expected"), Some(expected), "{}", e.raw);
    assert_eq!(e.get("actual"), Some(actual), "{}", e.raw);
    assert_eq!(e.get("action"), Some("reverted"), "{}", e.raw);
    let latency = e
        .get("latency_us")
        .unwrap_or_else(|| panic!("no latency_us: {}", e.raw));
    assert!(
        !latency.is_empty() && latency.bytes().all(|b| b.is_ascii_digit()),
        "latency_us is not a number: {}",
        e.raw
    );
}

fn reverted_for<'a>(control: &'a str, actual: &'a str) -> impl Fn(&Ev) -> bool + 'a {
    move |e: &Ev| e.is("drift-reverted", control) && e.get("actual") == Some(actual)
}

#[test]
fn run_enforce_reverts_chmod_and_chown() {
    let h = host();
    let d = h.start();
    let app = h.path("/etc/app/app.conf");

    chmod(&app, 0o666);
    wait_until("app.conf back to 0640", || mode_of(&app) == Some(0o640));
    let e = d.wait_event(
        "drift-reverted for the chmod",
        reverted_for("app-mode", "root:root 0666"),
    );
    assert_reverted(
        &e,
        "app-mode",
        "file-mode",
        "/etc/app/app.conf",
        "root:root 0640 or stricter",
        "root:root 0666",
    );

    // `svc` exists only in the root's own /etc/passwd: names come from the root.
    chown(&app, 4242, 0);
    wait_until("app.conf back to root", || owner_of(&app) == Some((0, 0)));
    assert_eq!(mode_of(&app), Some(0o640));
    let e = d.wait_event(
        "drift-reverted for the chown",
        reverted_for("app-mode", "svc:root 0640"),
    );
    assert_reverted(
        &e,
        "app-mode",
        "file-mode",
        "/etc/app/app.conf",
        "root:root 0640 or stricter",
        "svc:root 0640",
    );
    assert_eq!(
        std::fs::read(&app).unwrap(),
        b"key = value\n",
        "content untouched"
    );
}

#[test]
fn run_enforce_reverts_content_rewrite_and_delete() {
    let h = host();
    let d = h.start();
    let motd = h.path("/etc/app/conf.d/motd");

    // Rewrite in place without truncation: one write, so the drifted content is known.
    let edited = b"MANAGED BY HARDEND\n";
    let mut f = std::fs::OpenOptions::new().write(true).open(&motd).unwrap();
    f.write_all(edited).unwrap();
    drop(f);
    wait_until("motd content back", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
    let actual = format!("{} root:root 0644", digest(edited));
    let e = d.wait_event(
        "drift-reverted for the rewrite",
        reverted_for("motd-content", &actual),
    );
    assert_reverted(
        &e,
        "motd-content",
        "file-content",
        "/etc/app/conf.d/motd",
        &motd_expected(),
        &actual,
    );

    std::fs::remove_file(&motd).unwrap();
    wait_until("motd re-created", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
    assert_eq!(mode_of(&motd), Some(0o644));
    assert_eq!(owner_of(&motd), Some((0, 0)));
    let e = d.wait_event(
        "drift-reverted for the delete",
        reverted_for("motd-content", "missing"),
    );
    assert_reverted(
        &e,
        "motd-content",
        "file-content",
        "/etc/app/conf.d/motd",
        &motd_expected(),
        "missing",
    );
}

#[test]
fn run_enforce_reverts_an_editor_rename_over_the_target() {
    let h = host();
    let d = h.start();
    let motd = h.path("/etc/app/conf.d/motd");
    let swap = h.path("/etc/app/conf.d/.motd.swp");
    let edited = b"edited in vi\n";
    std::fs::write(&swap, edited).unwrap();
    chmod(&swap, 0o600);
    std::fs::rename(&swap, &motd).unwrap();

    wait_until("motd content back after rename-over", || {
        is_regular_with(&motd, MANAGED.as_bytes()) && mode_of(&motd) == Some(0o644)
    });
    let actual = format!("{} root:root 0600", digest(edited));
    let e = d.wait_event(
        "drift-reverted for the rename-over",
        reverted_for("motd-content", &actual),
    );
    assert_reverted(
        &e,
        "motd-content",
        "file-content",
        "/etc/app/conf.d/motd",
        &motd_expected(),
        &actual,
    );

    // The watch follows the path, not the replaced inode: a second edit is caught too.
    std::fs::write(&swap, edited).unwrap();
    chmod(&swap, 0o600);
    std::fs::rename(&swap, &motd).unwrap();
    d.wait_event_after(
        1,
        "a second drift-reverted after a second rename-over",
        reverted_for("motd-content", &actual),
    );
    wait_until("motd content back again", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
}

/// `rm -r` of the managed file's directory, `rounds` times; with `mkdir_again` the directory
/// is re-created right after (as `rm -r d && mkdir d` does), after a pause that sweeps 0 to 3 ms
/// across rounds so that some round lands the mkdir while hardend is mid-revert. Stops at the
/// first round in which the file does not come back within 2 s; returns that round, if any,
/// and the daemon's stderr.
fn remove_dir_rounds(rounds: usize, mkdir_again: bool) -> (Option<usize>, Vec<String>) {
    // Repeated removals are not a fight here: detection off, so no back-off hides a loss.
    let h = Host::new(true, "fight_limit = 0\n");
    h.file("/etc/app/app.conf", b"key = value\n", 0o640);
    h.file("/etc/app/conf.d/motd", MANAGED.as_bytes(), 0o644);
    h.profile("10-live.toml", PROFILE);
    let d = h.start();
    let dir = h.path("/etc/app/conf.d");
    let motd = dir.join("motd");
    for round in 0..rounds {
        // hardend may put the file back between rm's unlink and its rmdir, as it must in
        // enforce mode: retry until the directory was gone once.
        wait_for(DEADLINE, "rm -r conf.d to succeed", || {
            std::fs::remove_dir_all(&dir).ok()
        });
        if mkdir_again {
            let pause = std::time::Duration::from_micros((round as u64 * 7) % 3000);
            let t = std::time::Instant::now();
            while t.elapsed() < pause {
                std::hint::spin_loop();
            }
            let _ = std::fs::create_dir(&dir);
        }
        let start = std::time::Instant::now();
        while !is_regular_with(&motd, MANAGED.as_bytes()) {
            if start.elapsed() > std::time::Duration::from_secs(2) {
                return (Some(round), d.lines());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    // The directory now watched is the new one: a later chmod there is reverted.
    chmod(&motd, 0o666);
    wait_until("motd mode back in the new directory", || {
        mode_of(&motd) == Some(0o644)
    });
    let e = d.wait_event(
        "drift-reverted for the removed directory",
        reverted_for("motd-content", "missing"),
    );
    assert_reverted(
        &e,
        "motd-content",
        "file-content",
        "/etc/app/conf.d/motd",
        &motd_expected(),
        "missing",
    );
    (None, d.lines())
}

#[test]
fn run_enforce_restores_a_file_whose_directory_was_removed() {
    // `rm -r /etc/app/conf.d`: file-content creates missing parents, so the file comes back.
    let (lost, lines) = remove_dir_rounds(10, false);
    assert!(
        lost.is_none(),
        "after rm -r of its directory the managed file stayed missing (round {lost:?} of 10); stderr:\n{}",
        lines.join("\n")
    );
}

#[test]
fn run_enforce_restores_a_file_after_its_directory_is_removed_and_recreated() {
    // `rm -r /etc/app/conf.d && mkdir /etc/app/conf.d`: the directory is back, maybe before
    // hardend re-armed its watch. The file must come back anyway.
    let (lost, lines) = remove_dir_rounds(400, true);
    assert!(
        lost.is_none(),
        "after rm -r + mkdir of its directory the managed file stayed missing (round {lost:?} of 400); stderr:\n{}",
        lines.join("\n")
    );
}

#[test]
fn run_enforce_replaces_a_symlink_swap_and_never_touches_the_link_target() {
    let h = host();
    let d = h.start();
    let motd = h.path("/etc/app/conf.d/motd");
    let outside_dir = h.base.join("outside");
    mkdirs(&outside_dir);
    let secret = outside_dir.join("secret.txt");
    let secret_bytes = b"outside the root, not hardend's\n";
    std::fs::write(&secret, secret_bytes).unwrap();
    chmod(&secret, 0o600);
    let before = std::fs::metadata(&secret).unwrap();

    // 1. An absolute link to a host file outside the root, swapped in by rename.
    let link = h.path("/etc/app/conf.d/.motd.lnk");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    std::fs::rename(&link, &motd).unwrap();
    wait_until("the link replaced by the managed regular file", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
    let actual = format!("symlink to {}", secret.display());
    let e = d.wait_event(
        "drift-reverted for the symlink",
        reverted_for("motd-content", &actual),
    );
    assert_reverted(
        &e,
        "motd-content",
        "file-content",
        "/etc/app/conf.d/motd",
        &motd_expected(),
        &actual,
    );
    assert_eq!(mode_of(&motd), Some(0o644));
    assert_eq!(owner_of(&motd), Some((0, 0)));

    // 2. A relative link that climbs out of the root.
    let depth = h
        .path("/etc/app/conf.d")
        .strip_prefix(&h.base)
        .unwrap()
        .components()
        .count();
    let rel = format!("{}outside/secret.txt", "../".repeat(depth));
    assert!(
        is_regular_with(&h.path("/etc/app/conf.d").join(&rel), secret_bytes),
        "the relative link names the secret"
    );
    std::os::unix::fs::symlink(&rel, &link).unwrap();
    std::fs::rename(&link, &motd).unwrap();
    wait_until("the relative link replaced", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
    d.wait_event(
        "drift-reverted for the relative symlink",
        reverted_for("motd-content", &format!("symlink to {rel}")),
    );

    let after = std::fs::metadata(&secret).unwrap();
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        secret_bytes,
        "the link's target must not be written"
    );
    assert_eq!(
        after.mode(),
        before.mode(),
        "the link's target must not be chmod'ed"
    );
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(after.ino(), before.ino());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert!(
        !h.path(&secret.to_string_lossy()).exists(),
        "nothing written at the link's path inside the root"
    );
}

#[test]
fn run_enforce_glob_control_picks_up_new_matching_files() {
    let h = Host::new(true, "");
    h.file("/etc/app/a.conf", b"a\n", 0o644);
    h.file("/etc/app/keep.txt", b"not matched\n", 0o666);
    h.profile(
        "10-glob.toml",
        r#"
[profile]
name = "glob"
policy = "enforce"

[[control]]
id = "app-confs"
title = "every /etc/app/*.conf is 0644 or stricter"
kind = "file-mode"
path = "/etc/app/*.conf"
mode = "0644"
"#,
    );
    let d = h.start();

    // Created elsewhere with mode 0666 and moved in: no chmod happens in the watched directory.
    let staged = h.staging.join("new.conf");
    std::fs::write(&staged, b"new\n").unwrap();
    chmod(&staged, 0o666);
    let new = h.path("/etc/app/new.conf");
    std::fs::rename(&staged, &new).unwrap();
    wait_until("new.conf reverted to 0644", || mode_of(&new) == Some(0o644));
    let e = d.wait_event("drift-reverted naming new.conf", |e| {
        e.is("drift-reverted", "app-confs") && e.message.contains("/etc/app/new.conf")
    });
    assert_eq!(e.get("kind"), Some("file-mode"));
    assert_eq!(e.get("action"), Some("reverted"));
    assert_eq!(e.get("actual"), Some("root:root 0666"), "{}", e.raw);
    assert_eq!(e.get("expected"), Some("0644 or stricter"), "{}", e.raw);
    assert!(
        matches!(
            e.get("target"),
            Some("/etc/app/*.conf" | "/etc/app/new.conf")
        ),
        "{}",
        e.raw
    );
    assert!(
        e.get("latency_us")
            .is_some_and(|l| l.parse::<u64>().is_ok()),
        "{}",
        e.raw
    );

    // Created in place.
    let other = h.path("/etc/app/other.conf");
    let f = std::fs::File::create(&other).unwrap();
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .unwrap();
    drop(f);
    wait_until("other.conf reverted to 0644", || {
        mode_of(&other) == Some(0o644)
    });

    assert_eq!(mode_of(&h.path("/etc/app/a.conf")), Some(0o644));
    assert_eq!(
        mode_of(&h.path("/etc/app/keep.txt")),
        Some(0o666),
        "a non-matching file is not managed"
    );
}

#[test]
fn run_enforce_honours_waivers_live() {
    let h = Host::new(true, "");
    let waived = h.file("/etc/app/waived.conf", b"w\n", 0o644);
    let later = h.file("/etc/app/later.conf", b"l\n", 0o644);
    let sentinel = h.file("/etc/app/sentinel.conf", b"s\n", 0o644);
    h.profile(
        "10-waivers.toml",
        r#"
[profile]
name = "waivers"
policy = "enforce"

[[control]]
id = "waived-mode"
title = "waived.conf 0644"
kind = "file-mode"
path = "/etc/app/waived.conf"
mode = "0644"

[[control]]
id = "later-mode"
title = "later.conf 0644"
kind = "file-mode"
path = "/etc/app/later.conf"
mode = "0644"

[[control]]
id = "sentinel-mode"
title = "sentinel.conf 0644"
kind = "file-mode"
path = "/etc/app/sentinel.conf"
mode = "0644"

[[waiver]]
control = "waived-mode"
reason = "the app needs group write, ticket OPS-1"
expires = 2099-12-31
"#,
    );
    let d = h.start();

    // The waived file first, then the sentinel: events are handled in order, so once the
    // sentinel is reverted the waived file's event has been handled too.
    chmod(&waived, 0o666);
    chmod(&sentinel, 0o666);
    wait_until("sentinel reverted", || mode_of(&sentinel) == Some(0o644));
    assert_eq!(
        mode_of(&waived),
        Some(0o666),
        "a waived control's drift must not be reverted"
    );
    assert_eq!(
        d.count(|e| e.get("control") == Some("waived-mode") && e.ty == "drift-reverted"),
        0
    );

    // A waiver added while running, in a drop-in of its own.
    h.profile(
        "20-waive-later.toml",
        r#"
[profile]
name = "waive-later"

[[waiver]]
control = "later-mode"
reason = "vendor installer rewrites it, ticket OPS-2"
expires = 2099-12-31
"#,
    );
    d.wait_event("profile-loaded with the new waiver", |e| {
        e.ty == "profile-loaded"
            && e.get("file")
                .is_some_and(|f| f.contains("20-waive-later.toml"))
    });
    chmod(&later, 0o666);
    chmod(&sentinel, 0o666);
    wait_until("sentinel reverted again", || {
        mode_of(&sentinel) == Some(0o644)
    });
    assert_eq!(
        mode_of(&later),
        Some(0o666),
        "a control waived live must not be reverted"
    );
    assert_eq!(mode_of(&waived), Some(0o666));
    assert_eq!(
        d.count(|e| e.get("control") == Some("later-mode") && e.ty == "drift-reverted"),
        0
    );

    // The waivers show in the status file.
    wait_until("status.json counts 2 waived", || {
        h.status_json().is_some_and(|s| s["summary"]["waived"] == 2)
    });
    assert!(Path::new(&h.state).join("status.json").exists());
}

#[test]
fn run_enforce_file_mode_never_chmods_through_a_symlink() {
    let h = host();
    let d = h.start();
    let app = h.path("/etc/app/app.conf");
    let outside_dir = h.base.join("outside");
    mkdirs(&outside_dir);
    let victim = outside_dir.join("victim.conf");
    std::fs::write(&victim, b"v\n").unwrap();
    chmod(&victim, 0o666);

    let link = h.path("/etc/app/.app.lnk");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    std::fs::rename(&link, &app).unwrap();
    let e = d.wait_event("revert-failed for the symlinked file-mode target", |e| {
        e.is("revert-failed", "app-mode")
    });
    // Found while observing, nothing attempted: reported, not a failed action.
    assert_eq!(e.get("action"), Some("reported"), "{}", e.raw);
    assert!(e.message.contains("symlink"), "{}", e.raw);
    assert_eq!(mode_of(&victim), Some(0o666), "never chmod through a link");
    assert!(
        std::fs::symlink_metadata(&app)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link is left as it is"
    );
}

#[test]
fn run_enforce_glob_in_a_directory_created_later_catches_a_file_put_there_at_once() {
    // `mkdir -p /etc/app/conf.d && install -m 666 x.conf /etc/app/conf.d/`: the glob's
    // directory did not exist when hardend started.
    let h = Host::new(true, "");
    h.file("/etc/app/a.conf", b"a\n", 0o644);
    h.profile(
        "10-glob.toml",
        r#"
[profile]
name = "glob"
policy = "enforce"

[[control]]
id = "confd"
title = "every /etc/app/conf.d/*.conf is 0644 or stricter"
kind = "file-mode"
path = "/etc/app/conf.d/*.conf"
mode = "0644"
"#,
    );
    let _d = h.start();
    let dir = h.path("/etc/app/conf.d");
    std::fs::create_dir(&dir).unwrap();
    let x = dir.join("x.conf");
    std::fs::write(&x, b"x\n").unwrap();
    chmod(&x, 0o666);
    wait_until("x.conf in the new directory reverted to 0644", || {
        mode_of(&x) == Some(0o644)
    });
}

#[test]
fn run_enforce_retries_a_failed_revert_once_the_directory_is_fixed() {
    // The managed file's directory is replaced by a plain file: the revert cannot succeed
    // (revert-failed). Then the admin puts a directory back. The file must come back: a
    // structural change that makes the target reachable again must re-examine the control.
    let h = host();
    let d = h.start();
    let dir = h.path("/etc/app/conf.d");
    let motd = dir.join("motd");

    d.signal(nix::sys::signal::Signal::SIGSTOP);
    wait_until("daemon stopped", || d.state() == 'T');
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory\n").unwrap();
    d.signal(nix::sys::signal::Signal::SIGCONT);
    d.wait_event("revert-failed while conf.d is a file", |e| {
        e.is("revert-failed", "motd-content")
    });
    wait_until("status.json shows the error", || {
        h.status_json().is_some_and(|s| s["summary"]["error"] == 1)
    });

    std::fs::remove_file(&dir).unwrap();
    std::fs::create_dir(&dir).unwrap();
    wait_until("motd back once conf.d is a directory again", || {
        is_regular_with(&motd, MANAGED.as_bytes())
    });
}
