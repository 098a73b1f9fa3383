//! What decides whether a control is evaluated and changed: missing targets (`if_missing`),
//! components (`requires`), waivers (and their expiry) and the `report` policy.

mod common;

use common::*;

const MISSING: &str = r#"
[profile]
name = "missing"

[[control]]
id = "missing-skip"
title = "an optional file (default if_missing)"
kind = "file-mode"
path = "/etc/hardend/absent.conf"
mode = "0600"

[[control]]
id = "missing-error"
title = "a file that must exist"
kind = "file-mode"
path = "/etc/hardend/required.conf"
mode = "0600"
if_missing = "error"
"#;

#[test]
fn a_missing_target_is_not_applicable_unless_if_missing_is_error() {
    let env = Env::new();
    env.profile("10-missing", MISSING);
    let before = env.tree_snapshot();
    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("missing-skip", "not-applicable"),
            ("missing-error", "error")
        ])
    );
    assert_eq!(field(&report, "missing-skip", "message"), "not found");
    let message = field(&report, "missing-error", "message");
    assert!(message.contains("if_missing"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert_eq!(field(&report, "missing-error", "actual"), "missing");
    // Only the skip: exit 0.
    env.check_json(0, &["--control", "missing-skip"]);
    // apply creates nothing for either.
    env.apply_json(1, &[]);
    assert_same_tree(&before, &env.tree_snapshot(), "apply on missing targets");
}

const REQUIRES: &str = r#"
[profile]
name = "needs-docker"
requires = ["docker"]

[[control]]
id = "docker-json-mode"
title = "daemon.json is at most 0644"
kind = "file-mode"
path = "/etc/docker/daemon.json"
mode = "0644"

[[control]]
id = "kubelet-conf-mode"
title = "kubelet.conf is at most 0600 (needs kubelet as well)"
kind = "file-mode"
path = "/etc/kubernetes/kubelet.conf"
mode = "0600"
requires = ["kubelet"]
"#;

#[test]
fn requires_makes_controls_not_applicable_until_the_component_is_present() {
    let env = Env::new();
    env.profile("10-requires", REQUIRES);
    env.file("/etc/docker/daemon.json", b"{}\n", 0o666);
    env.file("/etc/kubernetes/kubelet.conf", b"apiVersion: v1\n", 0o644);
    let before = env.tree_snapshot();

    let report = env.check_json(0, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("docker-json-mode", "not-applicable"),
            ("kubelet-conf-mode", "not-applicable"),
        ])
    );
    assert_eq!(
        field(&report, "docker-json-mode", "message"),
        "docker is not present on this host"
    );
    env.apply_json(0, &[]);
    assert_same_tree(&before, &env.tree_snapshot(), "apply without docker");

    // dockerd in the root: the docker control is evaluated; the kubelet one still needs kubelet.
    env.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("docker-json-mode", "drift"),
            ("kubelet-conf-mode", "not-applicable"),
        ])
    );
    assert_eq!(
        field(&report, "kubelet-conf-mode", "message"),
        "kubelet is not present on this host"
    );
    let report = env.apply_json(0, &[]);
    assert_eq!(field(&report, "docker-json-mode", "status"), "fixed");
    assert_eq!(mode_of(&env.path("/etc/kubernetes/kubelet.conf")), 0o644);

    env.file("/usr/bin/kubelet", b"\x7fELF", 0o755);
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "kubelet-conf-mode", "status"), "drift");
}

fn waiver_profile(expires: &str) -> String {
    format!(
        r#"
[profile]
name = "waivers"

[[waiver]]
control = "site-daemon-json"
reason = "vendor agent rewrites it, ticket OPS-123"
expires = {expires}
"#
    )
}

#[test]
fn a_waived_control_reports_waived_and_apply_leaves_it() {
    let env = site_env(true);
    // The waiver stands in another file than the control it waives.
    env.profile("20-waivers", &waiver_profile("2099-12-31"));
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "waived");
    let message = field(&report, "site-daemon-json", "message");
    assert!(
        message.contains("vendor agent rewrites it, ticket OPS-123"),
        "{message}"
    );
    assert!(message.contains("2099-12-31"), "{message}");
    assert_eq!(
        control(&report, "site-daemon-json")["waiver"],
        serde_json::json!({
            "reason": "vendor agent rewrites it, ticket OPS-123",
            "expires": "2099-12-31",
            "expired": false,
        })
    );
    assert_eq!(summary(&report)["waived"], 1);
    // A waived drift alone does not fail the check.
    env.check_json(0, &["--control", "site-daemon-json"]);

    let before = env.tree_snapshot();
    let report = env.apply_json(0, &["--control", "site-daemon-json"]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "waived");
    assert_same_tree(&before, &env.tree_snapshot(), "apply of a waived control");
    // Not even when everything is applied.
    let report = env.apply_json(0, &[]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "waived");
    assert_eq!(mode_of(&env.path("/etc/docker/daemon.json")), 0o666);
}

#[test]
fn an_expired_waiver_gives_the_real_status_and_says_so() {
    let env = site_env(true);
    env.profile("20-waivers", &waiver_profile("2020-01-01"));
    let report = env.check_json(1, &["--control", "site-daemon-json"]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "drift");
    let message = field(&report, "site-daemon-json", "message");
    assert!(
        message.contains("expired") && message.contains("2020-01-01"),
        "{message}"
    );
    assert_eq!(
        control(&report, "site-daemon-json")["waiver"]["expired"],
        true
    );
    // It no longer protects the target from apply.
    let report = env.apply_json(0, &["--control", "site-daemon-json"]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "fixed");
    assert_eq!(mode_of(&env.path("/etc/docker/daemon.json")), 0o644);
}

#[test]
fn a_waiver_applies_through_its_last_day() {
    let today = time::OffsetDateTime::now_utc().date();
    let env = site_env(true);
    env.profile("20-waivers", &waiver_profile(&today.to_string()));
    let report = env.check_json(0, &["--control", "site-daemon-json"]);
    assert_eq!(field(&report, "site-daemon-json", "status"), "waived");
}

const POLICIES: &str = r#"
[profile]
name = "policies"
policy = "report"

[[control]]
id = "report-by-profile"
title = "report-only through the profile's default"
kind = "file-mode"
path = "/etc/a.conf"
mode = "0644"

[[control]]
id = "report-by-control"
title = "report-only through its own key"
kind = "file-mode"
path = "/etc/b.conf"
mode = "0644"
policy = "report"

[[control]]
id = "enforce-override"
title = "enforced although the profile reports"
kind = "file-mode"
path = "/etc/c.conf"
mode = "0644"
policy = "enforce"
"#;

#[test]
fn report_policy_controls_change_only_when_named() {
    let env = Env::new();
    env.profile("10-policies", POLICIES);
    for p in ["/etc/a.conf", "/etc/b.conf", "/etc/c.conf"] {
        env.file(p, b"x\n", 0o666);
    }
    let before = env.tree_snapshot();
    let report = env.apply_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("report-by-profile", "drift"),
            ("report-by-control", "drift"),
            ("enforce-override", "fixed"),
        ])
    );
    assert_eq!(control(&report, "report-by-profile")["policy"], "report");
    assert!(
        field(&report, "report-by-control", "message").contains("report policy"),
        "{report:#}"
    );
    assert_eq!(before.changed_paths(&env.tree_snapshot()), ["/etc/c.conf"]);

    let report = env.apply_json(0, &["--control", "report-by-control"]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[("report-by-control", "fixed")])
    );
    assert_eq!(mode_of(&env.path("/etc/b.conf")), 0o644);
    assert_eq!(mode_of(&env.path("/etc/a.conf")), 0o666);
    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[
            ("report-by-profile", "drift"),
            ("report-by-control", "pass"),
            ("enforce-override", "pass"),
        ])
    );
}
