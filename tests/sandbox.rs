//! hardend's own sandbox under `hardend run`: the daemon keeps only the capabilities its
//! enabled kinds need (bounding set included), sets no_new_privs and runs under its seccomp
//! allow-list, read from the kernel's `/proc/PID/status` of the running daemon; it still reverts
//! drift that needs each kept capability; a system call outside the list (`mount`, `ptrace`)
//! is refused for the daemon process itself (the debug-build probe `HARDEND_SANDBOX_PROBE=1`
//! makes the daemon try both once its sandbox is in place); `sandbox = false` runs without.

#[path = "common/daemon.rs"]
mod daemon;

use std::collections::BTreeMap;
use std::process::Command;

use daemon::*;

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

fn start_probed(h: &Host) -> Daemon {
    let mut cmd = h.run_command();
    cmd.env("HARDEND_SANDBOX_PROBE", "1");
    let d = Daemon::spawn(h, cmd);
    d.wait_ready();
    d
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
    let d = start_probed(&h);
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
"#,
    );
    let d = h.start();
    // sysctl: CAP_SYS_ADMIN; audit-rule: CAP_AUDIT_CONTROL; docker-daemon: CAP_SYS_PTRACE.
    let mut want = FILES.to_vec();
    want.extend([SYS_PTRACE, SYS_ADMIN, AUDIT_CONTROL]);
    assert_sandboxed(d.pid, &want);
}

#[test]
fn no_controls_keep_no_capabilities() {
    let h = Host::new(true, "");
    let d = start_probed(&h);
    assert_sandboxed(d.pid, &[]);
    assert_eq!(probe_result(&d), ("EPERM".to_string(), "EPERM".to_string()));
}

#[test]
fn sandbox_false_runs_with_full_capabilities_and_no_filter() {
    let h = file_host("sandbox = false\n");
    let d = start_probed(&h);
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
"#,
    );
    let e = d.wait_event("restart-required for the sysctl control", |e| {
        e.is("restart-required", "dmesg")
    });
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
    let mut cmd = Command::new("unshare");
    cmd.args(["-n", "-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind /proc/sys \"$1\" && shift && exec \"$@\"")
        .arg("sh")
        .arg(h.path("/proc/sys"))
        .arg(BIN)
        .arg("run")
        .args(h.global_args())
        .env("HARDEND_SANDBOX_PROBE", "1");
    let d = Daemon::spawn(&h, cmd);
    d.wait_ready();
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
    let mut cmd = Command::new("setpriv");
    cmd.args(["--bounding-set=-setpcap", "--"])
        .arg(BIN)
        .arg("run")
        .args(h.global_args())
        .env("HARDEND_SANDBOX_PROBE", "1");
    let d = Daemon::spawn(&h, cmd);
    d.wait_ready();
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
/// `docker-daemon` control brings along.
fn fight_writer(with_docker_control: bool) -> Option<String> {
    let h = Host::new(true, "fight_limit = 2\nfight_window = \"10s\"\n");
    let target = h.file("/etc/app/contested.conf", b"c\n", 0o644);
    h.file("/usr/sbin/dockerd", b"", 0o755);
    let docker = if with_docker_control {
        "\n[[control]]\nid = \"icc\"\ntitle = \"icc\"\nkind = \"docker-daemon\"\nkey = \"icc\"\nvalue = false\npolicy = \"report\"\n"
    } else {
        ""
    };
    h.profile(
        "10-fight.toml",
        &format!(
            "[profile]\nname = \"fight\"\npolicy = \"enforce\"\n\n[[control]]\nid = \"contested\"\ntitle = \"contested\"\nkind = \"file-mode\"\npath = \"/etc/app/contested.conf\"\nmode = \"0644\"\n{docker}"
        ),
    );
    let d = h.start();
    let mut want = FILES.to_vec();
    if with_docker_control {
        want.push(SYS_PTRACE);
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
