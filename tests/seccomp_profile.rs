//! `seccomp-profile` through the real binary and the real libseccomp: a valid profile is
//! deployed and its BPF size reported; each kind of invalid profile is that control's `error`
//! with its reason, is never written, and does not stop the other controls; an unknown syscall
//! name only warns; `validate` reports the same (exit 2); the built-in default profile builds;
//! and `hardend run` reverts drift of a deployed profile.

#[path = "common/daemon.rs"]
mod daemon;

// The one-shot builders, as the daemon module includes them.
use daemon::env as common;

use std::path::{Path, PathBuf};

use common::*;

const TARGET: &str = "/var/lib/kubelet/seccomp/profiles/app.json";

const GOOD: &str = r#"{
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "archMap": [
    {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
    {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
  ],
  "syscalls": [
    {"names": ["read", "write", "close", "exit_group", "futex", "mmap", "brk"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
    {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
     "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
  ]
}
"#;

/// A root-owned source file outside the root, as an admin would ship one.
fn source(env: &Env, name: &str, text: &str) -> PathBuf {
    let dir = env.base().join("seccomp");
    mkdirs(&dir);
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write source");
    chmod(&p, 0o644);
    p
}

fn control(id: &str, path: &str, source: &Path) -> String {
    format!(
        "[[control]]\nid = \"{id}\"\ntitle = \"{id}\"\nkind = \"seccomp-profile\"\npath = \"{path}\"\nsource = \"{}\"\n",
        source.display()
    )
}

fn profile(controls: &str) -> String {
    format!("[profile]\nname = \"seccomp\"\npolicy = \"enforce\"\n\n{controls}")
}

/// The number in "builds to N BPF instructions".
fn instructions(message: &str) -> usize {
    let after = message
        .split("builds to ")
        .nth(1)
        .unwrap_or_else(|| panic!("no filter size in {message:?}"));
    after
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number in {message:?}"))
}

#[test]
fn a_valid_profile_is_deployed_and_its_filter_measured() {
    let env = Env::new();
    let src = source(&env, "app.json", GOOD);
    env.profile(
        "10-seccomp",
        &profile(&control("app-seccomp", TARGET, &src)),
    );

    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "app-seccomp", "status"), "drift");
    let before = instructions(field(&report, "app-seccomp", "message"));
    // Three architectures, a masked comparison, an argument check: well beyond a few
    // instructions, and each one 8 bytes of real BPF.
    assert!(before > 20, "{report:#}");

    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "app-seccomp", "status"),
        "fixed",
        "{report:#}"
    );
    let deployed = env.path(TARGET);
    assert_eq!(std::fs::read_to_string(&deployed).unwrap(), GOOD);
    assert_eq!(mode_of(&deployed), 0o644);

    let report = env.check_json(0, &[]);
    assert_eq!(field(&report, "app-seccomp", "status"), "pass");
    let message = field(&report, "app-seccomp", "message");
    assert_eq!(instructions(message), before);
    assert!(
        message.contains("SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32")
            || !cfg!(target_arch = "x86_64"),
        "{message}"
    );
    // The text report lists a passing profile too, for its filter size.
    let out = env.run(&["check"]);
    out.expect_code(0);
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("app-seccomp"))
        .unwrap_or_else(|| panic!("no line for the control: {out:?}"));
    assert!(
        line.starts_with("pass") && line.contains("BPF instructions"),
        "{line}"
    );

    let out = env.run(&["validate"]);
    out.expect_code(0);
}

/// Each kind of invalid profile, with the reason its error must name.
const INVALID: &[(&str, &str, &str)] = &[
    (
        "unknown-action",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_PERMIT"}]}"#,
        "syscalls[0].action",
    ),
    (
        "unknown-arch",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_PDP11"],"syscalls":[]}"#,
        "architectures[1]",
    ),
    (
        "bad-operator",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_SIMILAR"}]}]}"#,
        "syscalls[0].args[0].op",
    ),
    (
        "wrong-type",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["write"],"action":"SCMP_ACT_ALLOW","errnoRet":"EPERM"}]}"#,
        "syscalls[1].errnoRet",
    ),
    (
        "malformed",
        "{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n",
        "line 3",
    ),
    (
        "arg-index",
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
        "syscalls[0].args[0].index",
    ),
    (
        "no-default",
        r#"{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        "defaultAction",
    ),
];

#[test]
fn each_invalid_profile_is_an_error_with_its_reason_and_is_never_deployed() {
    let env = Env::new();
    let mut controls = String::new();
    for (id, json, _) in INVALID {
        let src = source(&env, &format!("{id}.json"), json);
        controls.push_str(&control(
            id,
            &format!("/var/lib/kubelet/seccomp/profiles/{id}.json"),
            &src,
        ));
    }
    // A control beside the broken ones proceeds.
    let good = source(&env, "good.json", GOOD);
    controls.push_str(&control("good", TARGET, &good));
    let file = env.profile("10-seccomp", &profile(&controls));

    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, "good", "status"), "fixed", "{report:#}");
    for (id, _, reason) in INVALID {
        assert_eq!(field(&report, id, "status"), "error", "{id}: {report:#}");
        let message = field(&report, id, "message");
        assert!(
            message.contains("invalid seccomp profile"),
            "{id}: {message}"
        );
        assert!(message.contains(reason), "{id}: {reason} not in {message}");
        assert!(
            message.contains(&format!("{id}.json")),
            "{id}: names its source: {message}"
        );
        assert!(
            !env.path(&format!("/var/lib/kubelet/seccomp/profiles/{id}.json"))
                .exists(),
            "{id} was deployed"
        );
    }

    let out = env.run(&["validate"]);
    out.expect_code(2);
    for (id, _, reason) in INVALID {
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(&format!("control `{id}`")))
            .unwrap_or_else(|| panic!("{id} not reported: {out:?}"));
        assert!(line.starts_with(&format!("{}:", file.display())), "{line}");
        assert!(line.contains(": error: "), "{line}");
        assert!(line.contains(reason), "{line}");
    }
    // Only warned about (GOOD uses Docker-only keys under the kubelet's directory).
    assert!(!out.stderr.contains("error: control `good`"), "{out:?}");
}

#[test]
fn an_unknown_syscall_name_only_warns() {
    let env = Env::new();
    let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","hardend_no_such_call"],"action":"SCMP_ACT_ALLOW"}]}"#;
    let src = source(&env, "app.json", json);
    env.profile(
        "10-seccomp",
        &profile(&control("app-seccomp", TARGET, &src)),
    );

    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "app-seccomp", "status"),
        "fixed",
        "{report:#}"
    );
    assert!(
        field(&report, "app-seccomp", "message").contains("hardend_no_such_call"),
        "{report:#}"
    );
    assert_eq!(std::fs::read_to_string(env.path(TARGET)).unwrap(), json);

    let out = env.run(&["validate"]);
    out.expect_code(0);
    assert!(
        out.stderr.contains("warning") && out.stderr.contains("hardend_no_such_call"),
        "{out:?}"
    );
}

#[test]
fn docker_only_keys_warn_under_the_kubelet_directory() {
    let env = Env::new();
    // GOOD uses archMap, `includes` and `excludes`: containerd drops them for a kubelet
    // profile, Docker honours them for its own.
    let src = source(&env, "app.json", GOOD);
    let docker = "/etc/docker/seccomp/app.json";
    env.profile(
        "10-seccomp",
        &profile(&format!(
            "{}{}",
            control("kubelet-seccomp", TARGET, &src),
            control("docker-seccomp", docker, &src)
        )),
    );

    let report = env.apply_json(0, &[]);
    assert_eq!(field(&report, "kubelet-seccomp", "status"), "fixed");
    let message = field(&report, "kubelet-seccomp", "message");
    for place in [
        "ignored by containerd, which loads kubelet localhost profiles as plain OCI JSON",
        "archMap (the filter would cover only the node's native architecture)",
        "syscalls[2].excludes (the rule would apply unconditionally: SCMP_ACT_ALLOW for clone (with its args))",
        "syscalls[3].includes (the rule would apply unconditionally: SCMP_ACT_ALLOW for mount)",
    ] {
        assert!(message.contains(place), "{place} not in {message}");
    }
    assert!(
        !field(&report, "docker-seccomp", "message").contains("containerd"),
        "{report:#}"
    );

    let out = env.run(&["validate"]);
    out.expect_code(0);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("control `kubelet-seccomp`"))
        .unwrap_or_else(|| panic!("no warning: {out:?}"));
    assert!(
        line.contains("warning") && line.contains("syscalls[3].includes"),
        "{line}"
    );
    assert!(!out.stderr.contains("control `docker-seccomp`"), "{out:?}");
}

#[test]
fn a_relative_source_beside_a_configmap_profile_is_read_through_data() {
    use std::os::unix::fs::symlink;

    // The kubelet's projection of a ConfigMap with two keys: each visible name links to
    // `..data/NAME`, and `..data` to the timestamped directory holding the files.
    let env = Env::new();
    let toml = format!(
        "[profile]\nname = \"seccomp\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"app-seccomp\"\ntitle = \"app\"\nkind = \"seccomp-profile\"\npath = \"{TARGET}\"\nsource = \"app.json\"\n"
    );
    // One version of the ConfigMap; `..data` swapped to it by rename, the previous removed.
    let project = |stamp: &str, json: &str| {
        let version = format!("..2026_11_23_12_00_{stamp}.000000001");
        let dir = env.profiles.join(&version);
        mkdirs(&dir);
        chmod(&dir, 0o755);
        for (name, text) in [("10-seccomp.toml", toml.as_str()), ("app.json", json)] {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            chmod(&p, 0o644);
            let visible = env.profiles.join(name);
            if std::fs::symlink_metadata(&visible).is_err() {
                symlink(Path::new("..data").join(name), visible).unwrap();
            }
        }
        let old = std::fs::read_link(env.profiles.join("..data")).ok();
        symlink(&version, env.profiles.join("..data_tmp")).unwrap();
        std::fs::rename(env.profiles.join("..data_tmp"), env.profiles.join("..data")).unwrap();
        if let Some(old) = old {
            std::fs::remove_dir_all(env.profiles.join(old)).unwrap();
        }
    };

    project("00", GOOD);
    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "app-seccomp", "status"),
        "fixed",
        "{report:#}"
    );
    assert_eq!(std::fs::read_to_string(env.path(TARGET)).unwrap(), GOOD);
    env.run(&["validate"]).expect_code(0);

    // An update of the ConfigMap brings the new source with it.
    let v2 = GOOD.replace("\"brk\"", "\"brk\", \"getpid\"");
    project("01", &v2);
    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "app-seccomp", "status"),
        "fixed",
        "{report:#}"
    );
    assert_eq!(std::fs::read_to_string(env.path(TARGET)).unwrap(), v2);
}

#[test]
fn a_source_that_turns_invalid_leaves_the_deployed_profile_alone() {
    let env = Env::new();
    let src = source(&env, "app.json", GOOD);
    env.profile(
        "10-seccomp",
        &profile(&control("app-seccomp", TARGET, &src)),
    );
    env.apply_json(0, &[]);

    std::fs::write(&src, GOOD.replace("SCMP_ACT_ALLOW", "SCMP_ACT_ALOW")).unwrap();
    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, "app-seccomp", "status"), "error");
    assert!(
        field(&report, "app-seccomp", "message").contains("SCMP_ACT_ALOW"),
        "{report:#}"
    );
    assert_eq!(std::fs::read_to_string(env.path(TARGET)).unwrap(), GOOD);
}

#[test]
fn inline_content_is_validated_too() {
    let env = Env::new();
    let file = env.profile(
        "10-seccomp",
        &profile(&format!(
            "[[control]]\nid = \"inline\"\ntitle = \"inline\"\nkind = \"seccomp-profile\"\npath = \"{TARGET}\"\ncontent = '{}'\n",
            r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]}"#
        )),
    );
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "inline", "status"), "error");
    let message = field(&report, "inline", "message");
    assert!(
        message.contains("inline `content`") && message.contains("architectures[0]"),
        "{message}"
    );
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(2);
    assert!(out.stderr.contains("SCMP_ARCH_VAX"), "{out:?}");
}

#[test]
fn the_builtin_default_profile_builds_and_deploys_for_the_kubelet() {
    let env = Env::with_config("builtin_profiles = [\"seccomp-default\"]\n");
    let deployed = "/var/lib/kubelet/seccomp/profiles/hardend-default.json";

    // Without a kubelet the control does not apply.
    let report = env.check_json(0, &[]);
    assert_eq!(
        field(&report, "hardend-seccomp-default", "status"),
        "not-applicable"
    );

    env.file("/usr/bin/kubelet", b"#!/bin/sh\n", 0o755);
    let report = env.apply_json(0, &[]);
    assert_eq!(
        field(&report, "hardend-seccomp-default", "status"),
        "fixed",
        "{report:#}"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/seccomp/default.json");
    assert_eq!(
        std::fs::read(env.path(deployed)).unwrap(),
        std::fs::read(&shipped).unwrap()
    );
    let message = field(&report, "hardend-seccomp-default", "message");
    // An allow-list of some 370 names across five architectures, in plain OCI form.
    assert!(instructions(message) > 300, "{message}");
    assert!(!message.contains("containerd"), "{message}");

    // An allow-list with an EPERM default, as Docker's.
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&shipped).unwrap()).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], 1);
}

#[test]
fn run_reverts_drift_of_a_deployed_profile() {
    use daemon::{wait_until, Host};

    let h = Host::new(true, "");
    h.profile(
        "10-seccomp.toml",
        &format!(
            "[profile]\nname = \"seccomp\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"app-seccomp\"\ntitle = \"app\"\nkind = \"seccomp-profile\"\npath = \"{TARGET}\"\ncontent = '''{GOOD}'''\n"
        ),
    );
    let d = h.start();
    let deployed = h.path(TARGET);
    wait_until("the profile deployed at start", || {
        std::fs::read_to_string(&deployed).is_ok_and(|t| t == GOOD)
    });

    // An edit that loosens the profile to allow everything.
    h.write_atomic(&deployed, br#"{"defaultAction":"SCMP_ACT_ALLOW"}"#, 0o644);
    wait_until("the profile restored", || {
        std::fs::read_to_string(&deployed).is_ok_and(|t| t == GOOD)
    });
    let e = d.wait_event("drift-reverted", |e| e.is("drift-reverted", "app-seccomp"));
    assert_eq!(e.get("kind"), Some("seccomp-profile"), "{}", e.raw);
    assert_eq!(e.get("target"), Some(TARGET), "{}", e.raw);

    std::fs::remove_file(&deployed).unwrap();
    wait_until("the deleted profile restored", || {
        std::fs::read_to_string(&deployed).is_ok_and(|t| t == GOOD)
    });
}
