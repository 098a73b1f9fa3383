//! hardend's own sandbox under `hardend run`: the daemon keeps only the capabilities its
//! enabled kinds need (bounding set included), sets no_new_privs and runs under its seccomp
//! allow-list, read from the kernel's `/proc/PID/status` of the running daemon; it still reverts
//! drift that needs each kept capability; a system call outside the list (`mount`, `ptrace`)
//! is refused for the daemon process itself (the debug-build probe `HARDEND_SANDBOX_PROBE=1`
//! makes the daemon try both once its sandbox is in place); `sandbox = false` runs without.
//! Under `--root` the capabilities only live parts need are not kept; on the host they are,
//! and the sandboxed daemon loads a live audit rule through auditctl.

#[path = "common/daemon.rs"]
mod daemon;

use std::collections::BTreeMap;
use std::process::Command;

use daemon::*;
use hardend::audit::live::{self, LiveState};

// Capability numbers (linux/capability.h).
const CHOWN: u32 = 0;
const DAC_OVERRIDE: u32 = 1;
const FOWNER: u32 = 3;
const FSETID: u32 = 4;
const SETPCAP: u32 = 8;
const SYS_PTRACE: u32 = 19;
const SYS_ADMIN: u32 = 21;
const AUDIT_CONTROL: u32 = 30;

/// What every kind keeps to change files owned by others.
const FILES: &[u32] = &[CHOWN, DAC_OVERRIDE, FOWNER, FSETID];

fn mask(caps: &[u32]) -> u64 {
    caps.iter().fold(0, |m, c| m | 1 << c)
}

/// `/proc/PID/status` as key → value.
fn proc_status(pid: i32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/PID/status")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn cap_field(status: &BTreeMap<String, String>, key: &str) -> u64 {
    u64::from_str_radix(&status[key], 16).unwrap_or_else(|e| panic!("{key}: {e}"))
}

/// Asserts the kernel's view of a sandboxed daemon: exactly `caps` in the effective,
/// permitted and bounding sets, nothing inheritable or ambient, no_new_privs, a filter.
#[track_caller]
fn assert_sandboxed(pid: i32, caps: &[u32]) {
    let s = proc_status(pid);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(
            cap_field(&s, set),
            mask(caps),
            "{set} of the daemon: {:#x}, expected {:#x}",
            cap_field(&s, set),
            mask(caps)
        );
    }
    assert_eq!(cap_field(&s, "CapInh"), 0);
    assert_eq!(cap_field(&s, "CapAmb"), 0);
    assert_eq!(s["NoNewPrivs"], "1");
    assert_eq!(s["Seccomp"], "2", "seccomp mode 2 is a filter");
}

/// The probe's line: `hardend: sandbox-probe mount=EPERM ptrace=EPERM`.
#[track_caller]
fn probe_result(d: &Daemon) -> (String, String) {
    let line = wait_for(DEADLINE, "the sandbox probe line", || {
        d.lines().into_iter().find_map(|l| {
            l.strip_prefix("hardend: sandbox-probe ")
                .map(str::to_string)
        })
    });
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (field("mount"), field("ptrace"))
}

/// Starts `cmd` (`hardend run …`, perhaps behind a wrapper) with the probe on and waits for
/// READY=1.
fn start_probed(h: &Host, mut cmd: Command) -> Daemon {
    cmd.env("HARDEND_SANDBOX_PROBE", "1");
    let d = Daemon::spawn(h, cmd);
    d.wait_ready();
    d
}

/// `WRAPPER… hardend run` with the host's paths: a wrapper that ends by running its arguments.
fn run_through(h: &Host, mut wrapper: Command) -> Command {
    wrapper.arg(BIN).arg("run").args(h.global_args());
    wrapper
}

const FILE_PROFILE: &str = r#"
[profile]
name = "files"
policy = "enforce"

[[control]]
id = "svc-mode"
title = "svc.conf belongs to svc and is at most 0640"
kind = "file-mode"
path = "/etc/app/svc.conf"
owner = "svc"
group = "svcgrp"
mode = "0640"

[[control]]
id = "private-content"
title = "a managed file in a directory only svc may enter"
kind = "file-content"
path = "/srv/private/managed"
content = "managed by hardend\n"
mode = "0644"
"#;

/// A host whose targets need the kept capabilities: svc.conf is owned by svc (a chmod needs
/// CAP_FOWNER, a chown back CAP_CHOWN), and `managed` lives in svc's 0700 directory (opening,
/// replacing it needs CAP_DAC_OVERRIDE).
fn file_host(extra: &str) -> Host {
    let h = Host::new(true, extra);
    let svc = h.file("/etc/app/svc.conf", b"k = v\n", 0o640);
    chown(&svc, 4242, 4343);
    h.file("/srv/private/managed", b"managed by hardend\n", 0o644);
    let private = h.path("/srv/private");
    chown(&private, 4242, 4343);
    chmod(&private, 0o700);
    h.profile("10-files.toml", FILE_PROFILE);
    h
}

#[test]
fn sandboxed_daemon_keeps_only_file_capabilities_and_still_reverts_drift() {
    let h = file_host("");
    let d = start_probed(&h, h.run_command());
    assert_sandboxed(d.pid, FILES);
    assert_eq!(
        probe_result(&d),
        ("EPERM".to_string(), "EPERM".to_string()),
        "mount and ptrace must be refused for the daemon process"
    );

    // chmod of a file root does not own: CAP_FOWNER.
    let svc = h.path("/etc/app/svc.conf");
    chmod(&svc, 0o666);
    d.wait_event("svc.conf chmod reverted", |e| {
        e.is("drift-reverted", "svc-mode") && e.get("actual") == Some("svc:svcgrp 0666")
    });
    assert_eq!(mode_of(&svc), Some(0o640));
    // chown back to svc: CAP_CHOWN.
    chown(&svc, 0, 0);
    d.wait_event("svc.conf chown reverted", |e| {
        e.is("drift-reverted", "svc-mode") && e.get("actual") == Some("root:root 0640")
    });
    assert_eq!(owner_of(&svc), Some((4242, 4343)));
    // Content in a directory root may not enter without CAP_DAC_OVERRIDE.
    let managed = h.path("/srv/private/managed");
    h.write_atomic(&managed, b"tampered\n", 0o644);
    d.wait_event("managed content reverted", |e| {
        e.is("drift-reverted", "private-content")
    });
    assert!(is_regular_with(&managed, b"managed by hardend\n"));
    assert_eq!(d.count(|e| e.ty == "revert-failed"), 0, "{:?}", d.lines());

    // `hardend status` shows it, in JSON and as text.
    let out = h.hardend(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let s = &v["sandbox"];
    assert_eq!(s["enabled"], true, "{v}");
    assert_eq!(s["no_new_privs"], true, "{v}");
    assert_eq!(s["seccomp_filter"], true, "{v}");
    assert!(s["allowed_syscalls"].as_u64().unwrap() > 50, "{v}");
    assert_eq!(
        s["capabilities"],
        serde_json::json!(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID"]),
        "{v}"
    );
    assert_eq!(s["bounding"], s["capabilities"], "{v}");
    let text = String::from_utf8_lossy(&h.hardend(&["status"]).stdout).into_owned();
    assert!(
        text.contains("sandbox on: capabilities CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID; no_new_privs on; seccomp filter on ("),
        "{text}"
    );
}

/// Under `--root` (the Kubernetes DaemonSet's `--root /host`) live parts are skipped: an
/// audit rule, an AppArmor profile and dockerd's command line need no capability there, while
/// a sysctl is still written through ROOT/proc/sys and keeps CAP_SYS_ADMIN.
#[test]
fn kept_capabilities_follow_the_enabled_kinds() {
    let h = Host::new(true, "");
    h.file("/usr/sbin/dockerd", b"", 0o755);
    h.profile(
        "10-kinds.toml",
        r#"
[profile]
name = "kinds"
policy = "report"

[[control]]
id = "kptr"
title = "kernel pointers"
kind = "sysctl"
key = "kernel.kptr_restrict"
value = "2"

[[control]]
id = "audit-dockerd"
title = "audit dockerd"
kind = "audit-rule"
rule = "-w /usr/sbin/dockerd -p rwxa -k docker"

[[control]]
id = "icc"
title = "no inter-container traffic"
kind = "docker-daemon"
key = "icc"
value = false

[[control]]
id = "aa"
title = "an AppArmor profile"
kind = "apparmor-profile"
path = "/etc/apparmor.d/hardend-sandbox-test"
content = '''
profile hardend-sandbox-test {
  file,
}
'''
"#,
    );
    let d = h.start();
    let mut want = FILES.to_vec();
    want.push(SYS_ADMIN);
    assert_sandboxed(d.pid, &want);
    let v = wait_for(DEADLINE, "the status file", || h.status_json());
    assert_eq!(
        v["sandbox"]["missing_capabilities"],
        serde_json::json!({}),
        "{v}"
    );
    assert!(
        !d.lines()
            .iter()
            .any(|l| l.contains("the kernel will refuse")),
        "{:?}",
        d.lines()
    );
}

#[test]
fn no_controls_keep_no_capabilities() {
    let h = Host::new(true, "");
    let d = start_probed(&h, h.run_command());
    assert_sandboxed(d.pid, &[]);
    assert_eq!(probe_result(&d), ("EPERM".to_string(), "EPERM".to_string()));
}

#[test]
fn sandbox_false_runs_with_full_capabilities_and_no_filter() {
    let h = file_host("sandbox = false\n");
    let d = start_probed(&h, h.run_command());
    let s = proc_status(d.pid);
    let mine = proc_status(std::process::id() as i32);
    assert_eq!(cap_field(&s, "CapEff"), cap_field(&mine, "CapEff"));
    assert_eq!(cap_field(&s, "CapBnd"), cap_field(&mine, "CapBnd"));
    assert_eq!(s["NoNewPrivs"], "0");
    assert_eq!(s["Seccomp"], "0");
    // Without a filter the kernel gets to look at the arguments: no such mount point, no such
    // process (nothing is mounted or attached).
    assert_eq!(
        probe_result(&d),
        ("ENOENT".to_string(), "ESRCH".to_string())
    );
    let v = wait_for(DEADLINE, "the status file", || h.status_json());
    assert_eq!(v["sandbox"]["enabled"], false, "{v}");
    assert_eq!(v["sandbox"]["seccomp_filter"], false, "{v}");
    assert_eq!(v["sandbox"]["no_new_privs"], false, "{v}");
    let text = String::from_utf8_lossy(&h.hardend(&["status"]).stdout).into_owned();
    assert!(text.contains("sandbox off (sandbox = false)"), "{text}");
}

#[test]
fn a_reload_that_needs_a_dropped_capability_says_a_restart_is_needed() {
    let h = file_host("");
    let d = h.start();
    assert_sandboxed(d.pid, FILES);
    h.profile(
        "20-kernel.toml",
        r#"
[profile]
name = "kernel"
policy = "report"

[[control]]
id = "dmesg"
title = "restrict dmesg"
kind = "sysctl"
key = "kernel.dmesg_restrict"
value = "1"

[[control]]
id = "audit-etc"
title = "audit /etc/app"
kind = "audit-rule"
rule = "-w /etc/app -p wa -k app"
"#,
    );
    let e = d.wait_event("restart-required for the sysctl control", |e| {
        e.is("restart-required", "dmesg")
    });
    // Under `--root` the audit rule is not loaded live: it needs no CAP_AUDIT_CONTROL, and
    // its restart-required event would have come with the sysctl's.
    assert_eq!(
        d.count(|e| e.ty == "restart-required"),
        1,
        "{:?}",
        d.lines()
    );
    assert_eq!(e.get("kind"), Some("sysctl"), "{}", e.raw);
    assert!(e.message.contains("CAP_SYS_ADMIN"), "{}", e.raw);
    assert!(e.message.contains("restart hardend"), "{}", e.raw);
    // Still only the capabilities it started with: a reload never regains one.
    assert_sandboxed(d.pid, FILES);
    let v = wait_for(DEADLINE, "missing_capabilities in the status file", || {
        h.status_json().filter(|v| {
            v["sandbox"]["missing_capabilities"]["CAP_SYS_ADMIN"] == serde_json::json!(["dmesg"])
        })
    });
    assert_eq!(
        v["sandbox"]["missing_capabilities"],
        serde_json::json!({"CAP_SYS_ADMIN": ["dmesg"]}),
        "{v}"
    );
    assert_eq!(v["sandbox"]["enabled"], true);
    let text = String::from_utf8_lossy(&h.hardend(&["status"]).stdout).into_owned();
    assert!(
        text.contains("restart needed: CAP_SYS_ADMIN is not held and is needed by dmesg"),
        "{text}"
    );

    // Turning the sandbox off takes a restart too, and says so.
    h.settings("enforce = true\nbuiltin_profiles = []\nsandbox = false\n");
    let e = d.wait_event("restart-required for the sandbox setting", |e| {
        e.ty == "restart-required" && e.message.contains("`sandbox = false`")
    });
    assert!(
        e.message.contains("takes effect when hardend restarts"),
        "{}",
        e.raw
    );
    assert_sandboxed(d.pid, FILES);
}

const SEND_REDIRECTS: &str = "/proc/sys/net/ipv4/conf/all/send_redirects";

/// A live sysctl under the sandbox: `hardend run` in a private network and mount namespace
/// (only that namespace's `net.*` values change), with the kernel's `/proc/sys` bind-mounted at
/// `T/root/proc/sys`.
#[test]
fn sandboxed_daemon_reverts_a_live_sysctl_in_its_network_namespace() {
    let h = Host::new(true, "poll_interval = \"100ms\"\n");
    mkdirs(&h.path("/proc/sys"));
    mkdirs(&h.path("/etc/sysctl.d"));
    h.profile(
        "10-net.toml",
        r#"
[profile]
name = "net"
policy = "enforce"

[[control]]
id = "send-redirects"
title = "no redirects"
kind = "sysctl"
key = "net.ipv4.conf.all.send_redirects"
value = "0"
"#,
    );
    let host_before = std::fs::read_to_string(SEND_REDIRECTS).expect("host value");
    let mut unshare = Command::new("unshare");
    unshare
        .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind /proc/sys \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(h.path("/proc/sys"));
    let d = start_probed(&h, run_through(&h, unshare));
    assert_sandboxed(d.pid, &[CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SYS_ADMIN]);
    assert_eq!(probe_result(&d), ("EPERM".to_string(), "EPERM".to_string()));
    let in_ns = |script: &str| {
        let out = Command::new("nsenter")
            .arg("-t")
            .arg(d.pid.to_string())
            .args(["-n", "-m", "sh", "-c", script])
            .output()
            .expect("nsenter");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let read = format!("cat {SEND_REDIRECTS}");
    assert_eq!(in_ns(&read), "0", "the first convergence set it");
    let before = d.count(|e| e.is("drift-reverted", "send-redirects"));
    in_ns(&format!("echo 1 > {SEND_REDIRECTS}"));
    d.wait_event_after(before, "the live value reverted", |e| {
        e.is("drift-reverted", "send-redirects")
    });
    assert_eq!(in_ns(&read), "0");
    assert_eq!(
        std::fs::read_to_string(SEND_REDIRECTS).expect("host value"),
        host_before,
        "the host's own network namespace is untouched"
    );
}

/// Started without CAP_SETPCAP (a unit whose CapabilityBoundingSet leaves it out), hardend
/// cannot shrink its bounding set, but still drops everything else and installs its filter.
#[test]
fn without_setpcap_the_bounding_set_stays_and_the_rest_is_dropped() {
    let h = file_host("");
    let mut setpriv = Command::new("setpriv");
    setpriv.args(["--bounding-set=-setpcap", "--"]);
    let d = start_probed(&h, run_through(&h, setpriv));
    let s = proc_status(d.pid);
    assert_eq!(cap_field(&s, "CapEff"), mask(FILES));
    assert_eq!(cap_field(&s, "CapPrm"), mask(FILES));
    let mine = proc_status(std::process::id() as i32);
    assert_eq!(
        cap_field(&s, "CapBnd"),
        cap_field(&mine, "CapBnd") & !mask(&[SETPCAP])
    );
    assert_eq!(s["NoNewPrivs"], "1");
    assert_eq!(s["Seccomp"], "2");
    assert_eq!(probe_result(&d), ("EPERM".to_string(), "EPERM".to_string()));
    let svc = h.path("/etc/app/svc.conf");
    chmod(&svc, 0o666);
    d.wait_event("svc.conf chmod reverted", |e| {
        e.is("drift-reverted", "svc-mode")
    });
    assert_eq!(mode_of(&svc), Some(0o640));
}

/// Whether the daemon, sandboxed, can read `/proc/PID/…` links of a root process that holds
/// every capability: the kernel's ptrace read check, which `/proc/PID/exe` of dockerd or the
/// kubelet and a fight's `/proc/PID/fd` share. The writer of a fight, a shell holding the file
/// open while it chmods it, is named only when the daemon kept CAP_SYS_PTRACE, which a
/// `kernel.yama.*` sysctl control brings along under `--root` too (Yama checks it on write).
fn fight_writer(with_ptrace: bool) -> Option<String> {
    let h = Host::new(true, "fight_limit = 2\nfight_window = \"10s\"\n");
    let target = h.file("/etc/app/contested.conf", b"c\n", 0o644);
    let yama = if with_ptrace {
        "\n[[control]]\nid = \"yama\"\ntitle = \"yama\"\nkind = \"sysctl\"\nkey = \"kernel.yama.ptrace_scope\"\nvalue = \"1\"\npolicy = \"report\"\n"
    } else {
        ""
    };
    h.profile(
        "10-fight.toml",
        &format!(
            "[profile]\nname = \"fight\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"contested\"\ntitle = \"contested\"\nkind = \"file-mode\"\npath = \"/etc/app/contested.conf\"\nmode = \"0644\"\n{yama}"
        ),
    );
    let d = h.start();
    let mut want = FILES.to_vec();
    if with_ptrace {
        want.extend([SYS_ADMIN, SYS_PTRACE]);
    }
    assert_sandboxed(d.pid, &want);
    let mut writer = Command::new("sh")
        .args([
            "-c",
            "exec 3<\"$1\"; while :; do chmod 666 \"$1\"; sleep 0.02; done",
            "sh",
        ])
        .arg(&target)
        .spawn()
        .expect("spawn the writer");
    let e = d.wait_event("the fight event", |e| e.is("fight", "contested"));
    let _ = writer.kill();
    let _ = writer.wait();
    e.get("writer").map(str::to_string)
}

#[test]
fn sys_ptrace_lets_the_sandboxed_daemon_read_a_full_capability_root_process() {
    let named = fight_writer(true).expect("the writer is named with CAP_SYS_PTRACE");
    assert!(named.contains("(sh)"), "{named}");
    assert_eq!(
        fight_writer(false),
        None,
        "without CAP_SYS_PTRACE the kernel refuses to show the writer's descriptors"
    );
}

/// Every audit rule carrying this key is deleted when the guard goes, passed or failed; no
/// other rule is touched. Declared before the daemon, so it runs after the daemon is stopped.
struct AuditKey(String);

impl AuditKey {
    fn new() -> AuditKey {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .subsec_nanos();
        AuditKey(format!("hds-{}-{nanos}", std::process::id()))
    }

    fn listed(&self) -> Vec<String> {
        live::read_state()
            .lines_with_key(&self.0)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for AuditKey {
    fn drop(&mut self) {
        let left = live::delete_by_key(&self.0);
        if !left.is_empty() && !std::thread::panicking() {
            panic!("test audit rules left in the kernel: {left:?}");
        }
    }
}

/// The sandboxed daemon on the host itself (no `--root`): it keeps CAP_AUDIT_CONTROL for an
/// `audit-rule` control, runs auditctl under its seccomp filter to load the rule into the
/// kernel, and loads it again on the poll timer once it is deleted behind its back. The only
/// change to the host is one watch on the test's own directory with a key of its own, which
/// the guard deletes; profiles, settings, state and the rules file are in the test's directory.
#[test]
fn sandboxed_daemon_on_the_host_loads_a_live_audit_rule() {
    assert!(
        live::auditctl().is_some(),
        "auditctl is missing (scripts/test installs auditd)"
    );
    match live::read_state() {
        LiveState::Rules { enabled: 2, .. } => {
            eprintln!("SKIPPED: audit rules are locked until reboot (enabled 2)");
            return;
        }
        LiveState::Rules { .. } => {}
        other => panic!("no usable kernel audit: {other:?}"),
    }
    let key = AuditKey::new();
    let h = Host::new(true, "poll_interval = \"200ms\"\n");
    let watched = h.base.join("w");
    mkdirs(&watched);
    let rule = format!("-w {} -p wa -k {}", watched.display(), key.0);
    h.profile(
        "10-audit.toml",
        &format!(
            "[profile]\nname = \"audit\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"live-rule\"\ntitle = \"live rule\"\nkind = \"audit-rule\"\nrule = \"{rule}\"\nrules_file = \"{}\"\n",
            h.base.join("rules.d/hardend.rules").display()
        ),
    );
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--profiles")
        .arg(&h.profiles)
        .arg("--config")
        .arg(&h.config)
        .arg("--state-dir")
        .arg(&h.state);
    let d = start_probed(&h, cmd);
    let mut want = FILES.to_vec();
    want.push(AUDIT_CONTROL);
    assert_sandboxed(d.pid, &want);
    assert_eq!(probe_result(&d), ("EPERM".to_string(), "EPERM".to_string()));
    assert_eq!(
        key.listed(),
        std::slice::from_ref(&rule),
        "loaded by the first convergence"
    );

    let before = d.count(|e| e.is("drift-reverted", "live-rule"));
    assert_eq!(live::delete_by_key(&key.0), Vec::<String>::new());
    let e = d.wait_event_after(before, "the deleted rule loaded again", |e| {
        e.is("drift-reverted", "live-rule")
    });
    assert_eq!(e.get("actual"), Some("not loaded"), "{}", e.raw);
    wait_for(DEADLINE, "the rule listed again", || {
        (key.listed() == [rule.clone()]).then_some(())
    });
    assert_eq!(d.count(|e| e.ty == "revert-failed"), 0, "{:?}", d.lines());
}
