//! rollback: the originals come back exactly (content, owner, mode, absence), a second rollback
//! is harmless, `--control` restores only that control's targets; and a crash between the backup
//! and the change (HARDEND_FAULT=after-backup, honoured by debug builds) loses nothing.

mod common;

use common::*;

const SIGABRT: i32 = 6;

fn rolled_back_count(out: &Out) -> String {
    out.stdout.lines().last().unwrap_or_default().to_string()
}

#[test]
fn rollback_restores_the_original_tree_exactly() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    env.apply_json(0, &[]);
    let applied = env.tree_snapshot();
    assert_eq!(
        before.changed_paths(&applied),
        [
            "/etc/docker/daemon.json",
            "/etc/hardend-site",
            "/etc/hardend-site/conf.d",
            "/etc/hardend-site/conf.d/site.conf",
            "/etc/issue.net",
            "/etc/ssh/sshd_config",
            "/usr/local/bin/helper",
        ]
    );
    let out = env.run(&["rollback"]);
    out.expect_code(0);
    assert_eq!(
        rolled_back_count(&out),
        "7 target(s) rolled back",
        "{out:?}"
    );
    let after = env.tree_snapshot();
    assert_same_tree(&before, &after, "rollback");
    // Spelled out: the setuid helper is 4755 and hdtestuser's again, the created file and
    // directories are gone.
    assert!(after
        .get("/usr/local/bin/helper")
        .unwrap()
        .starts_with("file 4242:4343 4755 "));
    assert_eq!(after.get("/etc/hardend-site"), None);
    assert_eq!(
        std::fs::read_to_string(env.path("/etc/issue.net")).unwrap(),
        "Debian GNU/Linux\nold banner\n"
    );
    env.check_json(1, &[]);
}

#[test]
fn a_second_rollback_is_harmless() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    env.apply_json(0, &[]);
    env.run(&["rollback"]).expect_code(0);
    let out = env.run(&["rollback"]);
    out.expect_code(0);
    assert_eq!(
        rolled_back_count(&out),
        "0 target(s) rolled back",
        "{out:?}"
    );
    assert_same_tree(&before, &env.tree_snapshot(), "second rollback");
    // Without any apply at all, too.
    let fresh = site_env(true);
    let fresh_before = fresh.tree_snapshot();
    fresh.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &fresh_before,
        &fresh.tree_snapshot(),
        "rollback with no backups",
    );
}

#[test]
fn rollback_of_one_control_restores_only_its_targets() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    env.apply_json(0, &[]);
    let applied = env.tree_snapshot();

    let out = env.run(&["rollback", "--control", "site-banner"]);
    out.expect_code(0);
    assert_eq!(
        rolled_back_count(&out),
        "1 target(s) rolled back",
        "{out:?}"
    );
    let now = env.tree_snapshot();
    assert_eq!(applied.changed_paths(&now), ["/etc/issue.net"]);
    assert_eq!(now.get("/etc/issue.net"), before.get("/etc/issue.net"));
    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("site-banner", "drift"),
            ("site-daemon-json", "pass"),
            ("site-sshd-owner", "pass"),
            ("site-helper", "pass"),
            ("site-new-conf", "pass"),
            ("site-passwd", "pass"),
            ("site-optional", "not-applicable"),
        ])
    );

    // A created file goes, and so do the directories created for it.
    env.run(&["rollback", "--control", "site-new-conf"])
        .expect_code(0);
    let later = env.tree_snapshot();
    assert_eq!(
        now.changed_paths(&later),
        [
            "/etc/hardend-site",
            "/etc/hardend-site/conf.d",
            "/etc/hardend-site/conf.d/site.conf",
        ]
    );

    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "full rollback after partial ones",
    );
}

/// Runs `apply` with the fault hook; asserts the process died of SIGABRT.
fn crash_apply(env: &Env, args: &[&str]) {
    let mut all = vec!["apply"];
    all.extend_from_slice(args);
    let out = env.run_env(&all, &[("HARDEND_FAULT", "after-backup")]);
    assert_eq!(out.code, None, "apply must die of a signal: {out:?}");
    assert_eq!(out.signal, Some(SIGABRT), "{out:?}");
}

fn index(env: &Env) -> serde_json::Value {
    let text = std::fs::read_to_string(env.state.join("backups/index.json"))
        .expect("the backup index is on disk after the crash");
    serde_json::from_str(&text).expect("the backup index is valid JSON")
}

#[test]
fn crash_after_backup_then_rollback_restores_the_original() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    crash_apply(&env, &[]);
    // The first control's original is durable and nothing was changed yet.
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "crash before the first change",
    );
    let idx = index(&env);
    let entries = idx["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{idx:#}");
    assert_eq!(entries[0]["path"], "/etc/issue.net");
    assert_eq!(entries[0]["original"]["type"], "file");
    let sha = entries[0]["original"]["sha256"].as_str().unwrap();
    assert_eq!(sha, sha256_of(&env.path("/etc/issue.net")));
    assert_eq!(
        sha256_of(&env.state.join("backups/objects").join(sha)),
        sha,
        "the object holds the original"
    );

    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(&before, &env.tree_snapshot(), "rollback after the crash");

    // A normal apply afterwards, then rollback: the original again.
    env.apply_json(0, &[]);
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "apply + rollback after the crash",
    );
}

#[test]
fn crash_then_apply_then_rollback_keeps_the_first_original() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    crash_apply(&env, &[]);
    let report = env.apply_json(0, &[]);
    assert_eq!(field(&report, "site-banner", "status"), "fixed");
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(&before, &env.tree_snapshot(), "crash, apply, rollback");
}

#[test]
fn crash_after_creating_parent_directories_is_rolled_back() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    crash_apply(&env, &["--control", "site-new-conf"]);
    // The parents were made before the backup of the (absent) file; the file itself was not.
    let crashed = env.tree_snapshot();
    assert_eq!(
        before.changed_paths(&crashed),
        ["/etc/hardend-site", "/etc/hardend-site/conf.d"]
    );
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "rollback after a crash in a new directory",
    );

    crash_apply(&env, &["--control", "site-new-conf"]);
    env.apply_json(0, &[]);
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "crash, apply, rollback in a new directory",
    );
}
