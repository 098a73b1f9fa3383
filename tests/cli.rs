//! The command line: global options on either side of the subcommand, `--control` selection
//! and its errors, bad arguments.

mod common;

use common::*;

/// The same command with the global options before, after, and on both sides of the subcommand.
fn three_ways(env: &Env, sub: &[&str]) -> [Out; 3] {
    let g = env.globals();
    let mut before: Vec<String> = g.clone();
    before.extend(sub.iter().map(|s| s.to_string()));
    let mut after: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
    after.extend(g.iter().cloned());
    let mut mixed: Vec<String> = g[..4].to_vec();
    mixed.push(sub[0].to_string());
    mixed.extend(g[4..].iter().cloned());
    mixed.extend(sub[1..].iter().map(|s| s.to_string()));
    [
        run_raw(&before, &[]),
        run_raw(&after, &[]),
        run_raw(&mixed, &[]),
    ]
}

#[test]
fn global_options_before_or_after_the_subcommand_behave_the_same() {
    let env = site_env(true);
    for sub in [
        &["check", "--format", "json"][..],
        &["check"][..],
        &["plan", "--format", "json"][..],
        &["check", "--format", "junit", "--control", "site-banner"][..],
    ] {
        let [a, b, c] = three_ways(&env, sub);
        a.expect_code(1);
        for other in [&b, &c] {
            assert_eq!(other.code, a.code, "{sub:?}: {other:?}");
            assert_eq!(other.stdout, a.stdout, "{sub:?}");
            assert_eq!(other.stderr, a.stderr, "{sub:?}");
        }
    }
    // The report really is of this root (not of the host's /, the default).
    let [a, _, _] = three_ways(&env, &["check", "--format", "json"]);
    assert_eq!(a.json()["root"], env.root.display().to_string());

    // apply with the options after the subcommand changes the same things, in the same root.
    let env_before = site_env(true);
    let env_after = site_env(true);
    let mut args: Vec<String> = env_before.globals();
    args.push("apply".into());
    run_raw(&args, &[]).expect_code(0);
    let mut args: Vec<String> = vec!["apply".into()];
    args.extend(env_after.globals());
    run_raw(&args, &[]).expect_code(0);
    assert_same_tree(
        &env_before.tree_snapshot(),
        &env_after.tree_snapshot(),
        "apply with the options after the subcommand",
    );
}

#[test]
fn control_selects_only_the_named_controls_in_profile_order() {
    let env = site_env(true);
    let report = env.check_json(1, &["--control", "site-passwd", "--control", "site-banner"]);
    let ids: Vec<&str> = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["site-banner", "site-passwd"]);
    assert_eq!(
        summary(&report),
        expect_summary(&[("drift", 1), ("pass", 1)])
    );
    env.check_json(0, &["--control", "site-passwd"]);

    let before = env.tree_snapshot();
    let report = env.apply_json(0, &["--control", "site-daemon-json"]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[("site-daemon-json", "fixed")])
    );
    assert_eq!(
        before.changed_paths(&env.tree_snapshot()),
        ["/etc/docker/daemon.json"]
    );
}

#[test]
fn an_unknown_control_is_exit_2_and_changes_nothing() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    for sub in [
        &["check", "--control", "site-nope"][..],
        &["check", "--format", "json", "--control", "site-nope"][..],
        &["plan", "--control", "site-nope"][..],
        &["apply", "--control", "site-nope"][..],
        &[
            "apply",
            "--control",
            "site-banner",
            "--control",
            "site-nope",
        ][..],
    ] {
        let out = env.run(sub);
        assert_eq!(out.code, Some(2), "{sub:?}: {out:?}");
        assert_eq!(out.stdout, "", "{sub:?}");
        assert!(out.stderr.contains("`site-nope`"), "{sub:?}: {out:?}");
    }
    assert_same_tree(&before, &env.tree_snapshot(), "unknown --control");
    assert!(!env.state.join("backups/index.json").exists());
}

/// Bug: `rollback --control` never checks its ids (src/cli/rollback.rs): a typo restores
/// nothing and exits 0, as if the control had had nothing to restore. An id that is neither
/// in the loaded profiles nor in the backup index is a bad argument (exit 2), as for the other
/// commands; ids only the backup index knows must stay accepted (see the next test).
#[test]
fn rollback_with_an_unknown_control_is_exit_2() {
    let env = site_env(true);
    env.apply_json(0, &[]);
    let applied = env.tree_snapshot();
    let out = env.run(&["rollback", "--control", "site-banner-typo"]);
    assert_same_tree(
        &applied,
        &env.tree_snapshot(),
        "rollback of an unknown control",
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("`site-banner-typo`"), "{out:?}");
}

#[test]
fn rollback_of_a_control_whose_profile_is_gone_still_restores_it() {
    let env = site_env(true);
    let before = env.tree_snapshot();
    env.apply_json(0, &[]);
    std::fs::remove_file(env.profiles.join("10-site.toml")).unwrap();
    env.run(&["rollback", "--control", "site-banner"])
        .expect_code(0);
    assert_eq!(
        env.tree_snapshot().get("/etc/issue.net"),
        before.get("/etc/issue.net")
    );
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(
        &before,
        &env.tree_snapshot(),
        "rollback without the profile",
    );
}

#[test]
fn bad_arguments_are_exit_2() {
    let env = site_env(true);
    for sub in [
        &["check", "--format", "xml"][..],
        &["plan", "--format", "junit"][..],
        &["apply", "--format", "junit"][..],
        &["frobnicate"][..],
        &["check", "--no-such-option"][..],
    ] {
        let out = env.run(sub);
        assert_eq!(out.code, Some(2), "{sub:?}: {out:?}");
        assert_eq!(out.stdout, "", "{sub:?}");
    }
    let out = run_raw(&["--help"], &[]);
    out.expect_code(0);
    for sub in ["check", "plan", "apply", "rollback", "validate"] {
        assert!(out.stdout.contains(sub), "--help lacks {sub}: {out:?}");
    }
    let missing = env.base().join("no-such-root");
    let mut args = env.globals();
    args[1] = missing.display().to_string();
    args.push("check".into());
    let out = run_raw(&args, &[]);
    out.expect_code(2);
    assert!(out.stderr.contains("no-such-root"), "{out:?}");
}
