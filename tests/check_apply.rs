//! check, plan and apply on an offline root: statuses, report formats, diffs, convergence,
//! alternatives, globs, owners by name, and the promise that `--root` keeps the host untouched.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::*;

const FIELDS: [&str; 9] = [
    "id",
    "title",
    "kind",
    "target",
    "status",
    "expected",
    "actual",
    "message",
    "restart_required",
];

#[test]
fn check_of_a_drifted_tree_reports_every_control_and_exits_1() {
    let env = site_env(true);
    let report = env.check_json(1, &[]);
    assert_eq!(report["command"], "check");
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("site-banner", "drift"),
            ("site-daemon-json", "drift"),
            ("site-sshd-owner", "drift"),
            ("site-helper", "drift"),
            ("site-new-conf", "drift"),
            ("site-passwd", "pass"),
            ("site-optional", "not-applicable"),
        ])
    );
    assert_eq!(
        summary(&report),
        expect_summary(&[("drift", 5), ("pass", 1), ("not-applicable", 1)])
    );
    // Controls come in profile order, each with every documented field.
    let ids: Vec<&str> = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, SITE_IDS);
    for c in report["controls"].as_array().unwrap() {
        for key in FIELDS {
            assert!(c.get(key).is_some(), "{key} missing in {c:#}");
        }
        for key in &FIELDS[..8] {
            assert!(c[key].is_string(), "{key} is not a string in {c:#}");
        }
        assert_eq!(c["restart_required"], false, "{c:#}");
    }
    assert_eq!(field(&report, "site-banner", "kind"), "file-content");
    assert_eq!(field(&report, "site-banner", "title"), "Login banner");
    assert_eq!(field(&report, "site-banner", "target"), "/etc/issue.net");
    assert_eq!(field(&report, "site-banner", "message"), "content differs");
    assert_eq!(field(&report, "site-daemon-json", "kind"), "file-mode");
    assert_eq!(
        field(&report, "site-daemon-json", "expected"),
        "root:root 0644 or stricter"
    );
    assert_eq!(
        field(&report, "site-daemon-json", "actual"),
        "root:root 0666"
    );
    assert_eq!(
        field(&report, "site-daemon-json", "message"),
        "mode 0666 has bits 0022 beyond 0644"
    );
    // Owner and group are named from the root's own passwd and group files.
    assert_eq!(
        field(&report, "site-sshd-owner", "actual"),
        "hdtestuser:hdtestgrp 0644"
    );
    assert_eq!(
        field(&report, "site-sshd-owner", "message"),
        "owner is hdtestuser, group is hdtestgrp"
    );
    assert_eq!(
        field(&report, "site-helper", "message"),
        "owner is hdtestuser, group is hdtestgrp, mode 4755 has bits 4000 beyond 0755"
    );
    assert_eq!(field(&report, "site-new-conf", "actual"), "missing");
    assert_eq!(field(&report, "site-passwd", "actual"), "root:root 0644");
    assert_eq!(field(&report, "site-optional", "actual"), "missing");
    assert_eq!(
        field(&report, "site-optional", "target"),
        "/etc/optional.conf"
    );
}

#[test]
fn check_of_a_clean_tree_exits_0() {
    let env = site_env(false);
    let report = env.check_json(0, &[]);
    let mut want: Vec<(&str, &str)> = SITE_IDS.iter().map(|id| (*id, "pass")).collect();
    want[6].1 = "not-applicable";
    assert_eq!(statuses(&report), expect_statuses(&want));
    assert_eq!(
        summary(&report),
        expect_summary(&[("pass", 6), ("not-applicable", 1)])
    );
    let text = env.run(&["check"]);
    text.expect_code(0);
    assert_eq!(
        text.stdout.lines().last(),
        Some("7 controls: 1 not-applicable, 6 pass"),
        "{text:?}"
    );
}

#[test]
fn junit_has_one_testcase_per_control_and_a_failure_per_drift() {
    let env = site_env(true);
    let out = env.run(&["check", "--format", "junit"]);
    out.expect_code(1);
    let xml = &out.stdout;
    assert!(xml.starts_with("<?xml"), "{out:?}");
    assert_eq!(xml.matches("<testcase ").count(), 7, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 5, "{xml}");
    assert_eq!(xml.matches("<error ").count(), 0, "{xml}");
    assert_eq!(xml.matches("<skipped ").count(), 1, "{xml}");
    assert_eq!(
        xml.matches("<testsuite ").count(),
        xml.matches("</testsuite>").count()
    );
    assert!(xml.contains(r#"name="site-daemon-json: daemon.json is root:root and at most 0644""#));
    assert!(
        xml.contains(r#"<testsuite name="hardend" tests="7" failures="5" errors="0" skipped="1">"#),
        "{xml}"
    );

    let clean = site_env(false);
    let out = clean.run(&["check", "--format", "junit"]);
    out.expect_code(0);
    assert_eq!(out.stdout.matches("<testcase ").count(), 7);
    assert_eq!(out.stdout.matches("<failure ").count(), 0);
}

#[test]
fn plan_shows_the_diff_and_changes_nothing() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    let out = env.run(&["plan"]);
    out.expect_code(1);
    let lines: Vec<&str> = out.stdout.lines().map(str::trim).collect();
    for want in [
        "--- /etc/issue.net",
        "+++ /etc/issue.net",
        "-Debian GNU/Linux",
        "-old banner",
        "+Authorised use only.",
        "/etc/docker/daemon.json: mode → 0644",
        "/usr/local/bin/helper: owner → uid 0, group → gid 0, mode → 0755",
        "--- /dev/null",
        "+++ /etc/hardend-site/conf.d/site.conf",
        "+# managed by hardend",
        "+log_level = \"info\"",
    ] {
        assert!(lines.contains(&want), "plan lacks {want:?}: {out:?}");
    }
    assert!(
        !out.stdout.contains("/etc/passwd:"),
        "a passing control has no change: {out:?}"
    );
    assert_same_tree(&before, &env.tree_snapshot(), "plan");
    assert!(!env.state.exists(), "plan must not write backups");
}

#[test]
fn plan_json_lists_the_changes() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    let out = env.run(&["plan", "--format", "json"]);
    out.expect_code(1);
    let report = out.json();
    assert_eq!(report["command"], "plan");
    for id in [
        "site-banner",
        "site-daemon-json",
        "site-sshd-owner",
        "site-helper",
        "site-new-conf",
    ] {
        let changes = control(&report, id)["changes"]
            .as_array()
            .unwrap_or_else(|| panic!("{id} has no changes array: {report:#}"));
        assert_eq!(changes.len(), 1, "{id}: {report:#}");
        assert_eq!(
            changes[0]["target"].as_str(),
            Some(field(&report, id, "target")),
            "{id}"
        );
    }
    let banner = control(&report, "site-banner")["changes"][0]["change"]
        .as_str()
        .unwrap();
    assert!(banner.contains("\n-old banner\n"), "{banner}");
    assert!(banner.contains("\n+Authorised use only.\n"), "{banner}");
    assert_eq!(
        control(&report, "site-daemon-json")["changes"][0]["change"],
        "/etc/docker/daemon.json: mode → 0644"
    );
    assert_eq!(
        control(&report, "site-passwd")["changes"],
        serde_json::json!([])
    );
    assert_same_tree(&before, &env.tree_snapshot(), "plan --format json");
}

#[test]
fn apply_fixes_every_enforced_control_and_check_then_passes() {
    let env = site_env(true);
    let report = env.apply_json(0, &[]);
    assert_eq!(report["command"], "apply");
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("site-banner", "fixed"),
            ("site-daemon-json", "fixed"),
            ("site-sshd-owner", "fixed"),
            ("site-helper", "fixed"),
            ("site-new-conf", "fixed"),
            ("site-passwd", "pass"),
            ("site-optional", "not-applicable"),
        ])
    );
    assert_eq!(
        summary(&report),
        expect_summary(&[("fixed", 5), ("pass", 1), ("not-applicable", 1)])
    );
    let snap = env.tree_snapshot();
    let banner_sha = sha256_of(&env.path("/etc/issue.net"));
    assert_eq!(
        std::fs::read_to_string(env.path("/etc/issue.net")).unwrap(),
        BANNER
    );
    assert_eq!(
        snap.get("/etc/issue.net"),
        Some(format!("file 0:0 0644 sha256:{banner_sha}").as_str())
    );
    assert!(snap
        .get("/etc/docker/daemon.json")
        .unwrap()
        .starts_with("file 0:0 0644 "));
    assert!(snap
        .get("/etc/ssh/sshd_config")
        .unwrap()
        .starts_with("file 0:0 0644 "));
    assert!(snap
        .get("/usr/local/bin/helper")
        .unwrap()
        .starts_with("file 0:0 0755 "));
    assert_eq!(snap.get("/etc/hardend-site"), Some("dir 0:0 0755"));
    assert_eq!(snap.get("/etc/hardend-site/conf.d"), Some("dir 0:0 0755"));
    assert!(snap
        .get("/etc/hardend-site/conf.d/site.conf")
        .unwrap()
        .starts_with("file 0:0 0640 "));
    assert_eq!(
        std::fs::read_to_string(env.path("/etc/hardend-site/conf.d/site.conf")).unwrap(),
        NEW_CONF
    );

    let after = env.check_json(0, &[]);
    assert_eq!(
        summary(&after),
        expect_summary(&[("pass", 6), ("not-applicable", 1)])
    );
}

#[test]
fn a_second_apply_changes_nothing() {
    let env = site_env(true);
    env.apply_json(0, &[]);
    let once = env.tree_snapshot();
    let state_once = Snapshot::of(&env.state);
    let report = env.apply_json(0, &[]);
    let mut want: Vec<(&str, &str)> = SITE_IDS.iter().map(|id| (*id, "pass")).collect();
    want[6].1 = "not-applicable";
    assert_eq!(statuses(&report), expect_statuses(&want));
    assert_same_tree(&once, &env.tree_snapshot(), "second apply");
    assert_same_tree(
        &state_once,
        &Snapshot::of(&env.state),
        "second apply (state dir)",
    );
    let text = env.run(&["apply"]);
    text.expect_code(0);
    assert_eq!(
        text.stdout.lines().last(),
        Some("7 controls: 1 not-applicable, 6 pass"),
        "{text:?}"
    );
}

const ALTERNATIVES: &str = r#"
[profile]
name = "alt"

[[control]]
id = "alt-docker-service"
title = "docker.service is at most 0644"
kind = "file-mode"
path = ["/etc/systemd/system/docker.service", "/usr/lib/systemd/system/docker.service"]
mode = "0644"
"#;

#[test]
fn alternatives_use_the_path_that_exists_and_name_it() {
    // Only the package's unit exists.
    let env = Env::new();
    env.profile("10-alt", ALTERNATIVES);
    env.file("/usr/lib/systemd/system/docker.service", b"[Unit]\n", 0o664);
    let report = env.check_json(1, &[]);
    assert_eq!(
        field(&report, "alt-docker-service", "target"),
        "/usr/lib/systemd/system/docker.service"
    );
    assert_eq!(field(&report, "alt-docker-service", "status"), "drift");
    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "alt-docker-service", "target"),
        "/usr/lib/systemd/system/docker.service"
    );
    assert_eq!(
        mode_of(&env.path("/usr/lib/systemd/system/docker.service")),
        0o644
    );
    assert!(
        !env.path("/etc/systemd").exists(),
        "no alternative is created"
    );

    // An override in /etc wins over the package's unit, which is then left alone.
    let env = Env::new();
    env.profile("10-alt", ALTERNATIVES);
    env.file("/usr/lib/systemd/system/docker.service", b"[Unit]\n", 0o666);
    env.file("/etc/systemd/system/docker.service", b"[Unit]\n", 0o664);
    let report = env.check_json(1, &[]);
    assert_eq!(
        field(&report, "alt-docker-service", "target"),
        "/etc/systemd/system/docker.service"
    );
    env.apply_json(0, &[]);
    assert_eq!(
        mode_of(&env.path("/etc/systemd/system/docker.service")),
        0o644
    );
    assert_eq!(
        mode_of(&env.path("/usr/lib/systemd/system/docker.service")),
        0o666
    );

    // Neither exists: not-applicable.
    let env = Env::new();
    env.profile("10-alt", ALTERNATIVES);
    let report = env.check_json(0, &[]);
    assert_eq!(
        field(&report, "alt-docker-service", "status"),
        "not-applicable"
    );
}

const CERTS: &str = r#"
[profile]
name = "certs"

[[control]]
id = "certs-mode"
title = "registry certificates are at most 0444"
kind = "file-mode"
path = "/etc/docker/certs.d/*/*"
mode = "0444"
"#;

fn certs_env() -> Env {
    let env = Env::new();
    env.profile("10-certs", CERTS);
    env.file(
        "/etc/docker/certs.d/reg1.example:5000/ca.crt",
        b"ca1\n",
        0o444,
    );
    env.file(
        "/etc/docker/certs.d/reg1.example:5000/client.cert",
        b"cert\n",
        0o664,
    );
    env.file("/etc/docker/certs.d/reg2.example/ca.crt", b"ca2\n", 0o400);
    env
}

#[test]
fn glob_lists_its_parts_and_apply_fixes_only_the_drifted_file() {
    let env = certs_env();
    let report = env.check_json(1, &[]);
    let c = control(&report, "certs-mode");
    assert_eq!(c["status"], "drift");
    assert_eq!(c["target"], "/etc/docker/certs.d/*/*");
    let parts: Vec<(&str, &str)> = c["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["target"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        parts,
        [
            ("/etc/docker/certs.d/reg1.example:5000/ca.crt", "pass"),
            ("/etc/docker/certs.d/reg1.example:5000/client.cert", "drift"),
            ("/etc/docker/certs.d/reg2.example/ca.crt", "pass"),
        ]
    );
    // The message names the drifted file and what is wrong with it.
    let message = c["message"].as_str().unwrap();
    assert!(
        message.contains("/etc/docker/certs.d/reg1.example:5000/client.cert")
            && message.contains("mode 0664 has bits 0220 beyond 0444"),
        "{message}"
    );

    let before = env.tree_snapshot();
    let report = env.apply_json(0, &[]);
    assert_eq!(field(&report, "certs-mode", "status"), "fixed");
    let after = env.tree_snapshot();
    assert_eq!(
        before.changed_paths(&after),
        ["/etc/docker/certs.d/reg1.example:5000/client.cert"]
    );
    assert_eq!(
        mode_of(&env.path("/etc/docker/certs.d/reg1.example:5000/client.cert")),
        0o444
    );
    // 0400 is stricter than the ceiling and is never loosened.
    assert_eq!(
        mode_of(&env.path("/etc/docker/certs.d/reg2.example/ca.crt")),
        0o400
    );
    let report = env.check_json(0, &[]);
    assert_eq!(field(&report, "certs-mode", "status"), "pass");
}

/// Bug: a control with several parts builds its message as "N of M STATUS: TARGET: MESSAGE"
/// even when the worst part has no message, leaving a dangling ": " (src/engine/result.rs).
#[test]
fn glob_summary_message_has_no_dangling_separator() {
    let env = certs_env();
    let report = env.apply_json(0, &[]);
    let fixed = field(&report, "certs-mode", "message");
    assert!(!fixed.trim_end().ends_with(':'), "apply message {fixed:?}");
    let report = env.check_json(0, &[]);
    let pass = field(&report, "certs-mode", "message");
    assert!(!pass.trim_end().ends_with(':'), "check message {pass:?}");
}

const OWNERS: &str = r#"
[profile]
name = "owners"

[[control]]
id = "own-by-name"
title = "owned by the root's own user and group, by name"
kind = "file-mode"
path = "/srv/app/by-name"
owner = "hdtestuser"
group = "hdtestgrp"

[[control]]
id = "own-by-number"
title = "owned by numbers"
kind = "file-mode"
path = "/srv/app/by-number"
owner = 4242
group = "4343"

[[control]]
id = "own-content"
title = "a managed file owned by name"
kind = "file-content"
path = "/srv/app/managed.conf"
content = "managed\n"
owner = "hdtestuser"
group = "hdtestgrp"
mode = "0640"

[[control]]
id = "own-host-only-user"
title = "a user that exists on the host but not in the root"
kind = "file-mode"
path = "/srv/app/host-user"
owner = "daemon"

[[control]]
id = "own-host-only-group"
title = "a group that exists on the host but not in the root"
kind = "file-mode"
path = "/srv/app/host-group"
group = "bin"
"#;

#[test]
fn owners_and_groups_resolve_in_the_roots_files_or_by_number() {
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let host_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    assert!(
        !host_passwd.contains("hdtestuser:"),
        "the host must not know hdtestuser"
    );
    assert!(
        !host_group.contains("hdtestgrp:"),
        "the host must not know hdtestgrp"
    );

    let env = Env::new();
    env.profile("10-owners", OWNERS);
    env.file("/srv/app/by-name", b"a\n", 0o644);
    env.file("/srv/app/by-number", b"b\n", 0o644);
    env.file("/srv/app/host-user", b"c\n", 0o644);
    env.file("/srv/app/host-group", b"d\n", 0o644);
    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("own-by-name", "drift"),
            ("own-by-number", "drift"),
            ("own-content", "drift"),
            ("own-host-only-user", "error"),
            ("own-host-only-group", "error"),
        ])
    );
    assert_eq!(
        field(&report, "own-host-only-user", "message"),
        "user `daemon` is not in the root's /etc/passwd"
    );
    assert_eq!(
        field(&report, "own-host-only-group", "message"),
        "group `bin` is not in the root's /etc/group"
    );

    let before = env.tree_snapshot();
    let report = env.apply_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("own-by-name", "fixed"),
            ("own-by-number", "fixed"),
            ("own-content", "fixed"),
            ("own-host-only-user", "error"),
            ("own-host-only-group", "error"),
        ])
    );
    let after = env.tree_snapshot();
    assert_eq!(
        before.changed_paths(&after),
        [
            "/srv/app/by-name",
            "/srv/app/by-number",
            "/srv/app/managed.conf"
        ]
    );
    for p in [
        "/srv/app/by-name",
        "/srv/app/by-number",
        "/srv/app/managed.conf",
    ] {
        let m = std::fs::symlink_metadata(env.path(p)).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4343), "{p}");
    }
    assert_eq!(mode_of(&env.path("/srv/app/managed.conf")), 0o640);
    let report = env.check_json(1, &[]);
    assert_eq!(
        field(&report, "own-by-name", "actual"),
        "hdtestuser:hdtestgrp 0644"
    );
    assert_eq!(field(&report, "own-by-number", "status"), "pass");
    assert_eq!(field(&report, "own-content", "status"), "pass");
}

const OFFLINE: &str = r#"
[profile]
name = "offline"

[[control]]
id = "offline-marker"
title = "a marker file at a host-like path"
kind = "file-content"
path = "/etc/hardend-test-marker"
content = "marker\n"

[[control]]
id = "offline-passwd"
title = "the root's passwd, not the host's"
kind = "file-mode"
path = "/etc/passwd"
mode = "0600"

[[control]]
id = "offline-absolute-link"
title = "through an absolute ancestor link, which resolves inside the root"
kind = "file-content"
path = "/srv/conf/hardend-test-marker-2"
content = "marker 2\n"

[[control]]
id = "offline-link-out"
title = "through a link whose text names a host directory"
kind = "file-content"
path = "/etc/outside/planted.conf"
content = "planted\n"
"#;

fn host_state(p: &str) -> Option<(u32, u32, u32, String)> {
    let m = std::fs::symlink_metadata(p).ok()?;
    let sha = if m.is_file() {
        sha256_of(Path::new(p))
    } else {
        String::new()
    };
    Some((m.uid(), m.gid(), m.mode() & 0o7777, sha))
}

#[test]
fn offline_root_never_touches_the_host() {
    let outside = tempfile::tempdir().unwrap();
    let outside_dir = outside.path().canonicalize().unwrap();
    std::fs::write(outside_dir.join("keep"), b"host data\n").unwrap();

    let env = Env::new();
    env.profile("10-offline", OFFLINE);
    env.symlink("/srv/conf", "/etc");
    env.symlink("/etc/outside", &outside_dir);

    let host_before: Vec<_> = [
        "/etc/hardend-test-marker",
        "/etc/hardend-test-marker-2",
        "/etc/passwd",
        "/etc",
    ]
    .iter()
    .map(|p| host_state(p))
    .collect();
    assert_eq!(
        host_before[0], None,
        "the host must not have /etc/hardend-test-marker"
    );
    assert_eq!(
        host_before[1], None,
        "the host must not have /etc/hardend-test-marker-2"
    );
    let outside_before = Snapshot::of(&outside_dir);

    let report = env.apply_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("offline-marker", "fixed"),
            ("offline-passwd", "fixed"),
            ("offline-absolute-link", "fixed"),
            ("offline-link-out", "error"),
        ])
    );
    assert_eq!(report["root"], env.root.display().to_string());
    assert_eq!(
        std::fs::read_to_string(env.path("/etc/hardend-test-marker")).unwrap(),
        "marker\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("/etc/hardend-test-marker-2")).unwrap(),
        "marker 2\n"
    );
    assert_eq!(mode_of(&env.path("/etc/passwd")), 0o600);
    assert!(
        !env.path("/tmp").exists(),
        "nothing is created inside a link's target"
    );

    let host_after: Vec<_> = [
        "/etc/hardend-test-marker",
        "/etc/hardend-test-marker-2",
        "/etc/passwd",
        "/etc",
    ]
    .iter()
    .map(|p| host_state(p))
    .collect();
    assert_eq!(host_before, host_after, "the host's /etc changed");
    assert_same_tree(
        &outside_before,
        &Snapshot::of(&outside_dir),
        "outside the root",
    );
    // Rollback, too, stays inside the root.
    env.run(&["rollback"]).expect_code(0);
    assert!(!env.path("/etc/hardend-test-marker").exists());
    assert_eq!(host_state("/etc/passwd"), host_after[2]);
    assert_same_tree(
        &outside_before,
        &Snapshot::of(&outside_dir),
        "outside the root after rollback",
    );
}

#[test]
fn an_unreadable_account_file_is_named_as_the_reason_a_name_does_not_resolve() {
    let env = Env::new();
    env.file("/etc/app/a.conf", b"x\n", 0o644);
    // The root's passwd replaced by a link: never followed, so names cannot resolve.
    std::fs::remove_file(env.path("/etc/passwd")).unwrap();
    env.symlink("/etc/passwd", "/etc/group");
    env.profile(
        "10-o",
        "[profile]\nname = \"o\"\n\n[[control]]\nid = \"o-owner\"\ntitle = \"owner\"\nkind = \"file-mode\"\npath = \"/etc/app/a.conf\"\nowner = \"root\"\n",
    );
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "o-owner", "status"), "error");
    let message = field(&report, "o-owner", "message");
    assert!(
        message.contains("user `root` is not in the root's /etc/passwd")
            && message.contains("could not be read"),
        "{message}"
    );
}
