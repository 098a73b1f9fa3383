//! `kubelet-config` through the real binary on temporary roots: minimal edits of a kubeadm
//! config.yaml (comments and order kept), errors that leave files alone, flags that conflict,
//! `--config-dir` drop-ins, symlinks.
//!
//! No kubelet can run here, so every kubelet is the one its unit files would start (offline
//! root); the running-process path (`/proc/PID/cmdline`) is unit-tested in
//! `src/kubelet/process.rs` with a fixture command line.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hardend");
const CONFIG: &str = include_str!("fixtures/kubelet/config.yaml");
const HARDENED: &str = include_str!("fixtures/kubelet/config.hardened.yaml");
const UNIT: &str = include_str!("fixtures/kubelet/kubelet.service");
const KUBEADM_DROP_IN: &str = include_str!("fixtures/kubelet/10-kubeadm.conf");
const KUBEADM_FLAGS: &str = include_str!("fixtures/kubelet/kubeadm-flags.env");

const CONFIG_PATH: &str = "/var/lib/kubelet/config.yaml";

const SITE: &str = r#"
[profile]
name = "kubelet-site"
policy = "enforce"

[[control]]
id = "k-4.2.1"
title = "No anonymous requests to the kubelet"
kind = "kubelet-config"
key = "authentication.anonymous.enabled"
value = false

[[control]]
id = "k-4.2.2"
title = "Authorization by webhook"
kind = "kubelet-config"
key = "authorization.mode"
value = "Webhook"

[[control]]
id = "k-4.2.4"
title = "Read-only port off"
kind = "kubelet-config"
key = "readOnlyPort"
value = 0

[[control]]
id = "k-4.2.5"
title = "Streaming connections time out"
kind = "kubelet-config"
key = "streamingConnectionIdleTimeout"
value = "5m"

[[control]]
id = "k-4.2.12"
title = "Strong ciphers only"
kind = "kubelet-config"
key = "tlsCipherSuites"
value = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]

[[control]]
id = "k-4.2.13"
title = "Pod PID limit"
kind = "kubelet-config"
key = "podPidsLimit"
value = 4096
"#;

const ANON: &str = r#"
[profile]
name = "kubelet-anon"
policy = "enforce"

[[control]]
id = "k-anon"
title = "No anonymous requests to the kubelet"
kind = "kubelet-config"
key = "authentication.anonymous.enabled"
value = false
"#;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A temporary host: `T/root` with its own accounts and a kubelet binary, `T/profiles.d`,
/// `T/state`, `T/hardend.toml` (no built-in profiles).
struct Host {
    _tmp: tempfile::TempDir,
    base: PathBuf,
}

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Host {
    fn new(profile: &str) -> Host {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the integration tests run as root (root-owned profiles)"
        );
        let tmp = tempfile::tempdir().unwrap();
        chmod(tmp.path(), 0o755);
        let base = tmp.path().canonicalize().unwrap();
        for d in ["root", "profiles.d"] {
            std::fs::create_dir(base.join(d)).unwrap();
            chmod(&base.join(d), 0o755);
        }
        std::fs::write(base.join("hardend.toml"), "builtin_profiles = []\n").unwrap();
        chmod(&base.join("hardend.toml"), 0o644);
        let host = Host { _tmp: tmp, base };
        host.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644);
        host.file("/etc/group", "root:x:0:\n", 0o644);
        host.file("/usr/bin/kubelet", "", 0o755);
        host.profile("site", profile);
        host
    }

    fn profile(&self, name: &str, toml: &str) {
        let p = self.base.join("profiles.d").join(format!("{name}.toml"));
        std::fs::write(&p, toml).unwrap();
        chmod(&p, 0o644);
    }

    fn path(&self, in_root: &str) -> PathBuf {
        self.base.join("root").join(in_root.trim_start_matches('/'))
    }

    fn mkdirs(&self, dir: &Path) {
        let mut missing = Vec::new();
        let mut d = dir;
        while std::fs::symlink_metadata(d).is_err() {
            missing.push(d.to_path_buf());
            d = d.parent().unwrap();
        }
        for m in missing.iter().rev() {
            std::fs::create_dir(m).unwrap();
            chmod(m, 0o755);
        }
    }

    fn file(&self, in_root: &str, content: &str, mode: u32) -> PathBuf {
        let p = self.path(in_root);
        self.mkdirs(p.parent().unwrap());
        std::fs::write(&p, content).unwrap();
        chmod(&p, mode);
        p
    }

    fn read(&self, in_root: &str) -> String {
        std::fs::read_to_string(self.path(in_root)).unwrap()
    }

    /// kubelet.service with kubeadm's drop-in and kubeadm-flags.env, as pkgs.k8s.io and
    /// `kubeadm join` leave them.
    fn kubeadm_unit(&self, extra_flags: &str) {
        self.file("/usr/lib/systemd/system/kubelet.service", UNIT, 0o644);
        self.file(
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
            KUBEADM_DROP_IN,
            0o644,
        );
        let flags = KUBEADM_FLAGS.replace(
            "--pod-infra",
            &format!(
                "{extra_flags}{}--pod-infra",
                if extra_flags.is_empty() { "" } else { " " }
            ),
        );
        self.file("/var/lib/kubelet/kubeadm-flags.env", &flags, 0o644);
    }

    fn run(&self, args: &[&str]) -> Out {
        let b = |p: &str| self.base.join(p).display().to_string();
        let out = Command::new(BIN)
            .args(["--root", &b("root"), "--profiles", &b("profiles.d")])
            .args(["--state-dir", &b("state"), "--config", &b("hardend.toml")])
            .args(args)
            .env_remove("HARDEND_FAULT")
            .output()
            .unwrap();
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn json(&self, code: i32, args: &[&str]) -> Value {
        let out = self.run(args);
        assert_eq!(out.code, Some(code), "{out:?}");
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
    }
}

fn control<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    control(report, id)["status"].as_str().unwrap()
}

fn mode_of(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn check_plan_apply_edit_minimally_and_rollback_restores_byte_for_byte() {
    let host = Host::new(SITE);
    host.kubeadm_unit("");
    let config = host.file(CONFIG_PATH, CONFIG, 0o600);

    let report = host.json(1, &["check", "--format", "json"]);
    for (id, want) in [
        ("k-4.2.1", "drift"),
        ("k-4.2.2", "pass"),
        ("k-4.2.4", "drift"),
        ("k-4.2.5", "drift"),
        ("k-4.2.12", "drift"),
        ("k-4.2.13", "drift"),
    ] {
        assert_eq!(status(&report, id), want, "{id}: {report:#}");
        assert_eq!(control(&report, id)["target"], CONFIG_PATH, "{id}");
        assert_eq!(control(&report, id)["kind"], "kubelet-config");
    }
    let anon = control(&report, "k-4.2.1");
    assert_eq!(anon["expected"], "authentication.anonymous.enabled = false");
    assert_eq!(anon["actual"], "authentication.anonymous.enabled = true");
    assert_eq!(control(&report, "k-4.2.4")["actual"], "readOnlyPort unset");
    assert_eq!(
        anon["restart_required"], false,
        "offline root: no kubelet runs"
    );

    // plan shows the one-line change as a diff and changes nothing.
    let out = host.run(&["plan", "--control", "k-4.2.1"]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let changed: Vec<&str> = out
        .stdout
        .lines()
        .map(str::trim_start)
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("---")
                && !l.starts_with("+++")
        })
        .collect();
    assert_eq!(
        changed,
        [
            "-    enabled: true  # site: left on while debugging node-problem-detector (OPS-481)",
            "+    enabled: false  # site: left on while debugging node-problem-detector (OPS-481)",
        ],
        "{out:?}"
    );
    assert_eq!(host.read(CONFIG_PATH), CONFIG);

    let report = host.json(0, &["apply", "--format", "json"]);
    for id in ["k-4.2.1", "k-4.2.4", "k-4.2.5", "k-4.2.12", "k-4.2.13"] {
        assert_eq!(status(&report, id), "fixed", "{id}: {report:#}");
    }
    assert_eq!(status(&report, "k-4.2.2"), "pass");
    // Every other line, comment and the order are kept: only the value lines differ, and the
    // two missing keys are appended.
    assert_eq!(host.read(CONFIG_PATH), HARDENED);
    assert_eq!(mode_of(&config), (0, 0, 0o600));

    // A second apply changes nothing.
    let report = host.json(0, &["apply", "--format", "json"]);
    for c in report["controls"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c:#}");
    }
    assert_eq!(host.read(CONFIG_PATH), HARDENED);

    let out = host.run(&["rollback"]);
    assert_eq!(out.code, Some(0), "{out:?}");
    assert_eq!(host.read(CONFIG_PATH), CONFIG);
    assert_eq!(mode_of(&config), (0, 0, 0o600));
}

#[test]
fn a_missing_config_is_created_root_owned_0600() {
    let host = Host::new(ANON);
    let report = host.json(1, &["check", "--format", "json"]);
    assert_eq!(status(&report, "k-anon"), "drift");
    host.json(0, &["apply", "--format", "json"]);
    assert_eq!(
        host.read(CONFIG_PATH),
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n"
    );
    assert_eq!(mode_of(&host.path(CONFIG_PATH)), (0, 0, 0o600));
}

#[test]
fn without_the_kubelet_the_control_is_not_applicable() {
    let host = Host::new(ANON);
    std::fs::remove_file(host.path("/usr/bin/kubelet")).unwrap();
    let report = host.json(0, &["check", "--format", "json"]);
    assert_eq!(status(&report, "k-anon"), "not-applicable");
}

#[test]
fn invalid_yaml_is_an_error_with_line_and_column_and_is_not_rewritten() {
    let host = Host::new(ANON);
    let broken = CONFIG.replace("  webhook:\n    cacheTTL", "  webhook:\n   cacheTTL: [\n");
    host.file(CONFIG_PATH, &broken, 0o600);
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "error", "{c:#}");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains("invalid YAML"), "{msg}");
    assert!(msg.contains("/var/lib/kubelet/config.yaml:9:"), "{msg}");
    assert!(msg.contains("not rewritten"), "{msg}");
    assert_eq!(host.read(CONFIG_PATH), broken);
}

#[test]
fn two_documents_are_an_error() {
    let host = Host::new(ANON);
    let two = format!("{CONFIG}---\napiVersion: v1\nkind: ConfigMap\n");
    host.file(CONFIG_PATH, &two, 0o600);
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "error", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("a second YAML document"),
        "{c:#}"
    );
    assert_eq!(host.read(CONFIG_PATH), two);
}

#[test]
fn a_path_through_a_non_mapping_names_the_key() {
    let host = Host::new(ANON);
    let odd = CONFIG.replace(
        "  anonymous:\n    enabled: true  # site: left on while debugging node-problem-detector (OPS-481)\n",
        "  anonymous: disabled\n",
    );
    host.file(CONFIG_PATH, &odd, 0o600);
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "error", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("`authentication.anonymous` is a string, not a mapping"),
        "{c:#}"
    );
    assert_eq!(host.read(CONFIG_PATH), odd);
}

#[test]
fn a_flow_mapping_on_the_path_is_refused() {
    let host = Host::new(ANON);
    let flow = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication: {anonymous: {enabled: true}}\n";
    host.file(CONFIG_PATH, flow, 0o600);
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "error", "{c:#}");
    assert!(
        c["message"].as_str().unwrap().contains("flow mapping"),
        "{c:#}"
    );
    assert_eq!(host.read(CONFIG_PATH), flow);
}

#[test]
fn a_flag_from_kubeadm_flags_env_is_a_conflict_and_nothing_is_written() {
    let host = Host::new(ANON);
    host.kubeadm_unit("--anonymous-auth=true");
    host.file(CONFIG_PATH, CONFIG, 0o600);
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "conflict", "{c:#}");
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains("--anonymous-auth=true"), "{msg}");
    assert!(
        msg.contains("$KUBELET_KUBEADM_ARGS from /var/lib/kubelet/kubeadm-flags.env"),
        "{msg}"
    );
    assert_eq!(host.read(CONFIG_PATH), CONFIG);
}

#[test]
fn a_flag_in_the_units_exec_start_is_a_conflict() {
    let host = Host::new(SITE);
    host.kubeadm_unit("");
    host.file(
        "/etc/systemd/system/kubelet.service.d/20-site.conf",
        "[Service]\nExecStart=\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --read-only-port=10255 --anonymous-auth=false\n",
        0o644,
    );
    host.file(CONFIG_PATH, CONFIG, 0o600);
    let report = host.json(1, &["check", "--format", "json"]);
    let ro = control(&report, "k-4.2.4");
    assert_eq!(ro["status"], "conflict", "{ro:#}");
    assert!(
        ro["message"]
            .as_str()
            .unwrap()
            .contains("--read-only-port=10255 (ExecStart of /etc/systemd/system/kubelet.service.d/20-site.conf)"),
        "{ro:#}"
    );
    // The same value on the command line decides already: nothing to write.
    let anon = control(&report, "k-4.2.1");
    assert_eq!(anon["status"], "pass", "{anon:#}");
    assert!(anon["message"]
        .as_str()
        .unwrap()
        .contains("--anonymous-auth=false"));
    host.json(1, &["apply", "--format", "json"]);
    let after = host.read(CONFIG_PATH);
    assert!(after.contains("    enabled: true  # site:"), "{after}");
    assert!(!after.contains("readOnlyPort"), "{after}");
}

#[test]
fn the_units_config_flag_names_the_file() {
    let host = Host::new(ANON);
    host.kubeadm_unit("");
    host.file(
        "/etc/systemd/system/kubelet.service.d/20-config.conf",
        "[Service]\nEnvironment=\"KUBELET_CONFIG_ARGS=--config=/etc/kubernetes/kubelet-config.yaml\"\n",
        0o644,
    );
    host.file("/etc/kubernetes/kubelet-config.yaml", CONFIG, 0o600);
    let report = host.json(1, &["check", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["target"], "/etc/kubernetes/kubelet-config.yaml", "{c:#}");
    assert_eq!(c["status"], "drift");
}

#[test]
fn config_dir_gets_hardends_own_drop_in_and_a_later_one_conflicts() {
    let host = Host::new(ANON);
    host.kubeadm_unit("--config-dir=/etc/kubernetes/kubelet.conf.d");
    host.file(CONFIG_PATH, CONFIG, 0o600);
    let site = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n# debugging\nauthentication:\n  anonymous:\n    enabled: true\n";
    host.file("/etc/kubernetes/kubelet.conf.d/10-site.conf", site, 0o644);
    let drop_in = "/etc/kubernetes/kubelet.conf.d/99-zz-hardend.conf";

    let report = host.json(1, &["check", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "drift", "{c:#}");
    assert_eq!(c["target"], drop_in);
    let parts = c["parts"].as_array().unwrap();
    let earlier = parts
        .iter()
        .find(|p| p["target"] == "/etc/kubernetes/kubelet.conf.d/10-site.conf")
        .unwrap_or_else(|| panic!("the earlier drop-in is listed: {c:#}"));
    assert!(
        earlier["message"].as_str().unwrap().contains("overridden"),
        "{earlier:#}"
    );
    assert!(
        parts.iter().any(|p| p["target"] == CONFIG_PATH),
        "the main config (also overridden) is listed: {c:#}"
    );

    let report = host.json(0, &["apply", "--format", "json"]);
    assert_eq!(status(&report, "k-anon"), "fixed", "{report:#}");
    assert_eq!(
        host.read(drop_in),
        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n"
    );
    assert_eq!(mode_of(&host.path(drop_in)), (0, 0, 0o600));
    assert_eq!(
        host.read(CONFIG_PATH),
        CONFIG,
        "the main file is left alone"
    );
    assert_eq!(
        host.read("/etc/kubernetes/kubelet.conf.d/10-site.conf"),
        site,
        "other drop-ins are left alone"
    );

    // A drop-in read after hardend's wins: conflict, and nothing is written.
    let late = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: true\n";
    host.file(
        "/etc/kubernetes/kubelet.conf.d/99-zzz-late.conf",
        late,
        0o644,
    );
    std::fs::remove_file(host.path(drop_in)).unwrap();
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "conflict", "{c:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("/etc/kubernetes/kubelet.conf.d/99-zzz-late.conf"),
        "{c:#}"
    );
    assert!(!host.path(drop_in).exists(), "nothing written on conflict");
}

#[test]
fn a_symlinked_config_is_an_error_and_its_target_untouched() {
    let host = Host::new(ANON);
    let real = host.file("/etc/kubernetes/real-config.yaml", CONFIG, 0o600);
    let link = host.path(CONFIG_PATH);
    host.mkdirs(link.parent().unwrap());
    std::os::unix::fs::symlink("/etc/kubernetes/real-config.yaml", &link).unwrap();
    let report = host.json(1, &["apply", "--format", "json"]);
    let c = control(&report, "k-anon");
    assert_eq!(c["status"], "error", "{c:#}");
    assert!(c["message"].as_str().unwrap().contains("symlink"), "{c:#}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), CONFIG);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_at_its_location() {
    let host = Host::new(ANON);
    let bad = "[profile]\nname = \"bad\"\n\n[[control]]\nid = \"k-ro\"\ntitle = \"ro\"\nkind = \"kubelet-config\"\nkey = \"readOnlyPort\"\nvalue = \"0\"\n";
    host.profile("bad", bad);
    let out = host.run(&["validate"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("bad.toml:9:9"), "{all}");
    assert!(all.contains("`readOnlyPort` takes an integer"), "{all}");
}
