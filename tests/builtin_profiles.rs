//! The shipped profiles (`profiles/`, which a development build reads): enabled by the settings,
//! masked by a drop-in of the same file name, and overridden control by control by later
//! drop-ins.

mod common;

use common::*;

const BOTH: &str = "builtin_profiles = [\"cis-docker\", \"cis-kubelet\"]\n";

/// A Docker host's root: dockerd, the package's docker.service at 0664, daemon.json at 0666.
fn docker_root(settings: &str) -> Env {
    let env = Env::with_config(settings);
    env.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    env.file(
        "/usr/lib/systemd/system/docker.service",
        b"[Unit]\nDescription=Docker\n",
        0o664,
    );
    env.dir("/etc/docker", 0o755);
    env.file("/etc/docker/daemon.json", b"{}\n", 0o666);
    env
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn cis_docker_reports_the_drifted_files_by_the_path_used_and_kubelet_is_not_applicable() {
    let env = docker_root(BOTH);
    let report = env.check_json(1, &[]);
    let all = statuses(&report);
    // Section 3 (files), control by control.
    for (id, want) in [
        ("cis-docker-3.1", "pass"),
        ("cis-docker-3.2", "drift"),
        ("cis-docker-3.3", "not-applicable"),
        ("cis-docker-3.4", "not-applicable"),
        ("cis-docker-3.5", "pass"),
        ("cis-docker-3.6", "pass"),
        ("cis-docker-3.7", "not-applicable"),
        ("cis-docker-3.8", "not-applicable"),
        ("cis-docker-3.15", "not-applicable"),
        ("cis-docker-3.16", "not-applicable"),
        ("cis-docker-3.17", "pass"),
        ("cis-docker-3.18", "drift"),
        ("cis-docker-3.19", "not-applicable"),
        ("cis-docker-3.20", "not-applicable"),
        ("cis-docker-3.21", "not-applicable"),
        ("cis-docker-3.22", "not-applicable"),
        ("cis-docker-3.23", "not-applicable"),
        ("cis-docker-3.24", "not-applicable"),
    ] {
        assert_eq!(
            all.get(id).map(String::as_str),
            Some(want),
            "{id}: {report:#}"
        );
    }
    assert_eq!(
        field(&report, "cis-docker-3.2", "target"),
        "/usr/lib/systemd/system/docker.service"
    );
    assert_eq!(
        field(&report, "cis-docker-3.2", "message"),
        "mode 0664 has bits 0020 beyond 0644"
    );
    assert_eq!(
        field(&report, "cis-docker-3.18", "target"),
        "/etc/docker/daemon.json"
    );
    assert_eq!(
        field(&report, "cis-docker-3.18", "message"),
        "mode 0666 has bits 0022 beyond 0644"
    );
    assert_eq!(field(&report, "cis-docker-3.2", "profile"), "cis-docker");
    // Every kubelet control: not-applicable, because kubelet is absent.
    let kubelet: Vec<&String> = all.keys().filter(|id| id.starts_with("cis-k8s-")).collect();
    // Sections 4.1 (10 file controls) and 4.2 (12 kubelet settings).
    assert_eq!(kubelet.len(), 22, "{report:#}");
    for id in kubelet {
        assert_eq!(all[id], "not-applicable", "{id}");
        assert_eq!(
            field(&report, id, "message"),
            "kubelet is not present on this host"
        );
    }

    let report = env.apply_json(
        0,
        &[
            "--control",
            "cis-docker-3.2",
            "--control",
            "cis-docker-3.18",
        ],
    );
    assert_eq!(
        statuses(&report),
        expect_statuses(&[("cis-docker-3.2", "fixed"), ("cis-docker-3.18", "fixed")])
    );
    assert_eq!(
        mode_of(&env.path("/usr/lib/systemd/system/docker.service")),
        0o644
    );
    assert_eq!(mode_of(&env.path("/etc/docker/daemon.json")), 0o644);
}

#[test]
fn without_dockerd_every_docker_control_is_not_applicable() {
    let env = docker_root(BOTH);
    std::fs::remove_file(env.path("/usr/sbin/dockerd")).unwrap();
    let report = env.check_json(0, &[]);
    for (id, status) in statuses(&report) {
        assert_eq!(status, "not-applicable", "{id}");
    }
}

#[test]
fn only_the_enabled_builtin_profiles_load() {
    let env = docker_root("builtin_profiles = [\"cis-kubelet\"]\n");
    let report = env.check_json(0, &[]);
    assert!(
        ids(&report).iter().all(|id| id.starts_with("cis-k8s-")),
        "{report:#}"
    );
    assert_eq!(ids(&report).len(), 22);

    // No `builtin_profiles` key, or no settings file at all: every shipped profile.
    for env in [docker_root("enforce = false\n"), {
        let e = docker_root(BOTH);
        std::fs::remove_file(&e.config).unwrap();
        e
    }] {
        let report = env.check_json(1, &[]);
        let all = ids(&report);
        assert!(all.iter().any(|id| id == "cis-docker-3.18"), "{all:?}");
        assert!(all.iter().any(|id| id == "cis-k8s-4.1.1"), "{all:?}");
    }

    let env = docker_root("builtin_profiles = [\"cis-nope\"]\n");
    let out = env.run(&["check"]);
    out.expect_code(2);
    assert!(out.stderr.contains("`cis-nope`"), "{out:?}");
}

#[test]
fn a_dropin_named_like_a_builtin_profile_masks_it() {
    let env = docker_root(BOTH);
    env.profile(
        "cis-docker",
        r#"
[profile]
name = "site-docker"

[[control]]
id = "site-docker-json"
title = "the site's own rule for daemon.json"
kind = "file-mode"
path = "/etc/docker/daemon.json"
mode = "0600"
"#,
    );
    let report = env.check_json(1, &[]);
    let all = ids(&report);
    assert!(
        !all.iter().any(|id| id.starts_with("cis-docker-")),
        "{all:?}"
    );
    assert!(all.iter().any(|id| id == "site-docker-json"), "{all:?}");
    assert_eq!(
        all.iter().filter(|id| id.starts_with("cis-k8s-")).count(),
        22
    );
    assert_eq!(field(&report, "site-docker-json", "status"), "drift");
}

#[test]
fn a_later_dropin_control_replaces_an_earlier_one_with_the_same_id() {
    let env = docker_root(BOTH);
    env.profile(
        "10-first",
        r#"
[profile]
name = "first"

[[control]]
id = "shared-1"
title = "first version"
kind = "file-mode"
path = "/etc/docker/daemon.json"
mode = "0666"
"#,
    );
    env.profile(
        "20-second",
        r#"
[profile]
name = "second"

[[control]]
id = "shared-1"
title = "second version"
kind = "file-mode"
path = "/etc/docker/daemon.json"
mode = "0640"

[[control]]
id = "cis-docker-3.18"
title = "site: daemon.json may stay world-writable (lab host)"
kind = "file-mode"
path = "/etc/docker/daemon.json"
mode = "0666"
"#,
    );
    let report = env.check_json(1, &[]);
    let all = ids(&report);
    assert_eq!(
        all.iter().filter(|id| *id == "shared-1").count(),
        1,
        "{all:?}"
    );
    assert_eq!(field(&report, "shared-1", "title"), "second version");
    assert_eq!(field(&report, "shared-1", "status"), "drift");
    assert_eq!(field(&report, "shared-1", "expected"), "0640 or stricter");
    // A built-in control replaced by a drop-in keeps its place, with the drop-in's content.
    assert_eq!(all.iter().filter(|id| *id == "cis-docker-3.18").count(), 1);
    assert_eq!(field(&report, "cis-docker-3.18", "status"), "pass");
    assert_eq!(field(&report, "cis-docker-3.18", "profile"), "second");
    let pos = |id: &str| all.iter().position(|x| x == id).unwrap();
    assert!(pos("cis-docker-3.17") < pos("cis-docker-3.18"));
    assert!(pos("cis-docker-3.18") < pos("cis-docker-3.19"));
}

#[test]
fn tls_file_controls_follow_the_paths_dockerd_is_configured_with() {
    let env = docker_root("builtin_profiles = [\"cis-docker\"]\n");
    let tls = ["cis-docker-3.9", "cis-docker-3.12", "cis-docker-3.14"];
    // Without TLS settings the TLS file controls have nothing to judge.
    let report = env.check_json(1, &[]);
    for id in tls {
        assert_eq!(field(&report, id, "status"), "not-applicable", "{id}");
    }
    // daemon.json names the key; the unit's ExecStart names the server certificate.
    env.file("/etc/docker/tls/ca.pem", b"ca\n", 0o644);
    env.file("/etc/docker/tls/cert.pem", b"cert\n", 0o444);
    env.file("/etc/docker/tls/key.pem", b"key\n", 0o440);
    env.file(
        "/etc/docker/daemon.json",
        br#"{"tlscacert": "/etc/docker/tls/ca.pem", "tlskey": "/etc/docker/tls/key.pem"}"#,
        0o644,
    );
    env.file(
        "/usr/lib/systemd/system/docker.service",
        b"[Service]\nExecStart=/usr/sbin/dockerd -H fd:// --tlscert=/etc/docker/tls/cert.pem\n",
        0o644,
    );
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "cis-docker-3.10", "status"), "drift");
    assert_eq!(
        field(&report, "cis-docker-3.10", "target"),
        "/etc/docker/tls/ca.pem"
    );
    assert_eq!(field(&report, "cis-docker-3.12", "status"), "pass");
    assert_eq!(
        field(&report, "cis-docker-3.12", "target"),
        "/etc/docker/tls/cert.pem"
    );
    // 3.14 wants exactly 0400, as docker-bench does.
    assert_eq!(field(&report, "cis-docker-3.14", "status"), "drift");
    env.apply_json(
        0,
        &[
            "--control",
            "cis-docker-3.10",
            "--control",
            "cis-docker-3.14",
        ],
    );
    assert_eq!(mode_of(&env.path("/etc/docker/tls/ca.pem")), 0o444);
    assert_eq!(mode_of(&env.path("/etc/docker/tls/key.pem")), 0o400);
}
