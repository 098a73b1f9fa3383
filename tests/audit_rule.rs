//! `audit-rule` against this machine's real kernel audit (auditd's auditctl), and on an offline
//! root.
//!
//! Every rule a test loads carries a key of its own (`hdt-PID-N`) and watches only paths in the
//! test's temporary directory; a guard deletes every rule with that key when the test ends,
//! passed or failed. Rules of other programs are left alone, and the tests tolerate them in
//! the listing. Nothing here runs `auditctl -D` or `-e`.

#[path = "common/daemon.rs"]
mod daemon;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use daemon::*;
use hardend::audit::live::{self, LiveState};
use hardend::audit::{Rule, HEADER};
use hardend::fs::Accounts;
use hardend::kinds::KindSpec;

fn accounts() -> Accounts {
    Accounts::from_text(
        &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
        &std::fs::read_to_string("/etc/group").unwrap_or_default(),
    )
}

/// Whether this machine can take test rules: root, auditctl installed, audit not locked.
fn kernel_audit_usable() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIPPED: the kernel audit tests run as root");
        return false;
    }
    match live::read_state() {
        LiveState::Rules { enabled: 2, .. } => {
            eprintln!("SKIPPED: audit rules are locked until reboot (enabled 2)");
            false
        }
        LiveState::Rules { .. } => true,
        other => {
            eprintln!("SKIPPED: no usable kernel audit here: {other:?}");
            false
        }
    }
}

/// A key of the test's own; every rule carrying it is deleted when the guard goes.
struct KeyGuard {
    key: String,
}

impl KeyGuard {
    fn new() -> KeyGuard {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        KeyGuard {
            key: format!(
                "hdt-{}-{}-{nanos}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// The loaded rules with this key, as `auditctl -l` lists them.
    fn listed(&self) -> Vec<String> {
        live::read_state()
            .lines_with_key(&self.key)
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let left = live::delete_by_key(&self.key);
        if !left.is_empty() {
            eprintln!("could not delete the test's audit rules: {left:?}");
            if !std::thread::panicking() {
                panic!("test audit rules left in the kernel: {left:?}");
            }
        }
    }
}

/// `T/` with a directory `w` and a file `w/file` to watch, root-owned.
fn watched(host: &Host) -> (PathBuf, PathBuf) {
    let dir = host.base.join("w");
    mkdirs(&dir);
    let file = dir.join("file");
    std::fs::write(&file, "x\n").unwrap();
    (dir, file)
}

/// Runs `hardend ARGS` on the host (no `--root`) with the host's profiles, settings and state.
fn on_host(host: &Host, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--profiles")
        .arg(&host.profiles)
        .arg("--config")
        .arg(&host.config)
        .arg("--state-dir")
        .arg(&host.state)
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run hardend");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn json_on_host(host: &Host, code: i32, args: &[&str]) -> serde_json::Value {
    let (got, stdout, stderr) = on_host(host, args);
    assert_eq!(
        got,
        Some(code),
        "hardend {args:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn control<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id} in {report:#}"))
}

fn status(report: &serde_json::Value, id: &str) -> String {
    control(report, id)["status"].as_str().unwrap().to_string()
}

fn part<'a>(report: &'a serde_json::Value, id: &str, target: &str) -> &'a serde_json::Value {
    control(report, id)["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["target"] == target)
        .unwrap_or_else(|| panic!("no part {target} of {id}: {report:#}"))
}

/// The rule with its paths moved under `base` and its key replaced; each path's parent is
/// created, and the path itself as a directory or a file as it is on a Docker host.
fn relocate(rule: &Rule, base: &Path, key: &str) -> Rule {
    let dirs = ["/run/containerd", "/var/lib/docker", "/etc/docker"];
    let mut out = Vec::new();
    let mut tokens = rule.tokens().iter();
    let moved = |p: &str| {
        let new = base.join(p.trim_start_matches('/'));
        mkdirs(new.parent().unwrap());
        if dirs.contains(&p) || Path::new(p).is_dir() {
            mkdirs(&new);
        } else {
            std::fs::write(&new, "").unwrap();
        }
        new.display().to_string()
    };
    while let Some(t) = tokens.next() {
        out.push(t.clone());
        let Some(arg) = tokens.next() else { break };
        let arg = match t.as_str() {
            "-w" => moved(arg),
            "-k" => key.to_string(),
            "-F" => match arg.split_once('=') {
                Some(("path" | "dir", p)) => {
                    format!("{}={}", &arg[..arg.find('=').unwrap()], moved(p))
                }
                Some(("key", _)) => format!("key={key}"),
                _ => arg.clone(),
            },
            _ => arg.clone(),
        };
        out.push(arg);
    }
    Rule::parse(&out.join(" ")).unwrap()
}

/// Loads `rule`, finds it in `auditctl -l` by meaning, deletes it and sees it gone. Returns the
/// listed line.
#[track_caller]
fn round_trip(rule: &Rule, guard: &KeyGuard) -> String {
    let accounts = accounts();
    live::load(&rule.text()).unwrap_or_else(|e| panic!("loading {}: {e}", rule.text()));
    let state = live::read_state();
    let line = state
        .find(rule, &accounts)
        .unwrap_or_else(|| {
            panic!(
                "{} is loaded but not found by meaning; the kernel lists for this key:\n{}",
                rule.text(),
                guard.listed().join("\n")
            )
        })
        .to_string();
    live::delete(&rule.delete_args())
        .unwrap_or_else(|e| panic!("deleting {}: {e} (listed as {line})", rule.text()));
    assert!(
        live::read_state().find(rule, &accounts).is_none(),
        "{} still listed after its deletion",
        rule.text()
    );
    line
}

#[test]
fn every_cis_docker_audit_rule_is_found_by_meaning_in_the_kernel_listing() {
    if !kernel_audit_usable() {
        return;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/cis-docker-audit.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut diags = hardend::diag::Diagnostics::default();
    let file = hardend::profile::parse_file(&path, &text, &mut diags)
        .unwrap_or_else(|| panic!("the shipped profile is rejected: {diags:?}"));
    let ids: Vec<&str> = file.controls.iter().map(|c| c.id.as_str()).collect();
    let want: Vec<String> = (3..=18).map(|n| format!("cis-docker-1.1.{n}")).collect();
    assert_eq!(ids, want);
    let guard = KeyGuard::new();
    let host = Host::new(false, "");
    let mut table = Vec::new();
    for c in &file.controls {
        let KindSpec::AuditRule(a) = &c.spec else {
            panic!("{} is not an audit-rule", c.id)
        };
        assert_eq!(
            a.rule.keys().iter().collect::<Vec<_>>(),
            ["docker"],
            "{}",
            c.id
        );
        let rule = relocate(&a.rule, &host.base.join("host"), &guard.key);
        let line = round_trip(&rule, &guard);
        table.push(format!(
            "{:18} {}\n{:18} listed: {line}",
            c.id,
            rule.text(),
            ""
        ));
    }
    eprintln!("{}", table.join("\n"));
    assert!(guard.listed().is_empty());
}

/// Spellings that differ from what `auditctl -l` prints, each loaded, found and deleted.
#[test]
fn other_spellings_are_found_by_meaning_in_the_kernel_listing() {
    if !kernel_audit_usable() {
        return;
    }
    let guard = KeyGuard::new();
    let host = Host::new(false, "");
    let (dir, file) = watched(&host);
    let (dir, file) = (dir.display(), file.display());
    let k = &guard.key;
    let rules = [
        format!("-w {file} -k {k}"),
        format!("-w {dir}/ -p war -k {k}"),
        format!("-w {file} -p ax -F key={k}"),
        format!("-a exit,always -F path={file} -F perm=war -k {k}"),
        format!("-a always,exit -F perm=wa -F path={file} -k {k}"),
        format!("-a always,exit -S all -F dir={dir} -F perm=w -k {k}"),
        format!("-a always,exit -F arch=b64 -F path={file} -F perm=wa -k {k}"),
        format!("-a always,exit -F path={file} -S all -k {k}"),
        format!("-a always,exit -F arch=b64 -S init_module -S delete_module -k {k}"),
        format!("-a always,exit -F arch=x86_64 -S openat,open -S creat -F exit=-EACCES -k {k}"),
        format!("-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=4294967295 -k {k}"),
        format!("-a always,exit -F arch=b64 -S umount2 -F auid>=1000 -F auid!=unset -k {k}"),
        format!("-a always,exit -F arch=b64 -S chmod -F loginuid!=-1 -k {k}"),
        format!("-a always,exit -F arch=b64 -S chown -F uid=root -F gid=root -k {k}"),
        format!("-a always,exit -F arch=b64 -S fchownat -F a1=5 -F a2=0x10 -F a3=-1 -k {k}"),
        format!("-a always,exit -F arch=b64 -S openat -F a2&0100 -F exe=/usr/bin/cat -F filetype=file -k {k}"),
        format!("-a always,exit -F arch=b64 -S read -F pid>0x10 -F ppid<=010 -F exit=EACCES -k {k}"),
        format!("-a always,exit -F arch=b64 -S execve -C euid!=uid -F euid=0 -k {k}"),
        format!("-a always,exit -F arch=i386 -S read -F sessionid!=4294967295 -k {k} -k {k}-2"),
        format!("-A always,exit -F arch=b64 -S write -F exit=-1 -F success=0 -k {k}"),
        format!("-a never,exit -F arch=b64 -S fchmodat -F uid=4242 -k {k}"),
        format!("-a always,exit -F pid=1 -F exe=/usr/bin/cat -k {k}"),
    ];
    let mut table = Vec::new();
    for text in &rules {
        let rule = Rule::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let line = round_trip(&rule, &guard);
        table.push(format!("{text}\n    listed: {line}"));
    }
    eprintln!("{}", table.join("\n"));
    assert!(guard.listed().is_empty());
}

fn host_profile(rules: &[(&str, String)], rules_file: &Path) -> String {
    let mut p = String::from("[profile]\nname = \"audit-test\"\npolicy = \"enforce\"\n");
    for (id, rule) in rules {
        p.push_str(&format!(
            "\n[[control]]\nid = \"{id}\"\ntitle = \"{id}\"\nkind = \"audit-rule\"\nrule = \"{rule}\"\nrules_file = \"{}\"\n",
            rules_file.display()
        ));
    }
    p
}

#[test]
fn apply_persists_and_loads_check_finds_a_rule_deleted_behind_its_back() {
    if !kernel_audit_usable() {
        return;
    }
    let guard = KeyGuard::new();
    let other = KeyGuard::new();
    let host = Host::new(false, "");
    let (dir, file) = watched(&host);
    let rules_file = host.base.join("rules.d/hardend.rules");
    let k = &guard.key;
    // Someone else's rule on the same file: never touched.
    let theirs = format!("-w {} -p r -k {}", file.display(), other.key);
    live::load(&theirs).unwrap();
    let rules = [
        ("t-watch", format!("-w {} -p wa -k {k}", dir.display())),
        (
            "t-path",
            format!(
                "-a exit,always -F path={} -F perm=war -k {k}",
                file.display()
            ),
        ),
        (
            "t-syscall",
            format!(
                "-a always,exit -F arch=b64 -S init_module -S delete_module -F auid!=unset -k {k}"
            ),
        ),
    ];
    host.profile("10-audit.toml", &host_profile(&rules, &rules_file));

    let before = json_on_host(&host, 1, &["check", "--format", "json"]);
    for (id, _) in &rules {
        assert_eq!(status(&before, id), "drift", "{before:#}");
    }
    let applied = json_on_host(&host, 0, &["apply", "--format", "json"]);
    for (id, _) in &rules {
        assert_eq!(status(&applied, id), "fixed", "{applied:#}");
    }
    assert_eq!(guard.listed().len(), 3, "{:?}", guard.listed());
    assert_eq!(other.listed().len(), 1, "the other program's rule is gone");
    let mut lines: Vec<String> = rules.iter().map(|(_, r)| r.clone()).collect();
    lines.sort();
    assert_eq!(
        std::fs::read_to_string(&rules_file).unwrap(),
        format!("{HEADER}{}\n", lines.join("\n"))
    );
    let meta = std::fs::metadata(&rules_file).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (0, 0, 0o640)
    );

    let again = json_on_host(&host, 0, &["check", "--format", "json"]);
    for (id, _) in &rules {
        assert_eq!(status(&again, id), "pass", "{again:#}");
    }
    // The listing differs from the profile's spelling: found by meaning.
    assert_eq!(
        part(&again, "t-path", "kernel audit rules (live)")["actual"],
        format!("-w {} -p rwa -k {k}", file.display())
    );

    // Deleted behind hardend's back: the live part drifts, the file part still passes.
    let line = guard
        .listed()
        .into_iter()
        .find(|l| l.starts_with(&format!("-w {} ", file.display())))
        .unwrap();
    assert!(live::delete_candidates(&line)
        .iter()
        .any(|args| live::delete(args).is_ok()));
    let drifted = json_on_host(&host, 1, &["check", "--format", "json"]);
    assert_eq!(status(&drifted, "t-path"), "drift", "{drifted:#}");
    assert_eq!(status(&drifted, "t-watch"), "pass", "{drifted:#}");
    let live_part = part(&drifted, "t-path", "kernel audit rules (live)");
    assert_eq!(live_part["status"], "drift");
    assert_eq!(live_part["actual"], "not loaded");
    assert_eq!(
        part(&drifted, "t-path", &rules_file.display().to_string())["status"],
        "pass"
    );
    let reapplied = json_on_host(&host, 0, &["apply", "--format", "json"]);
    assert_eq!(status(&reapplied, "t-path"), "fixed", "{reapplied:#}");
    assert_eq!(guard.listed().len(), 3);
    assert_eq!(other.listed().len(), 1);
    let settled = json_on_host(&host, 0, &["apply", "--format", "json"]);
    assert_eq!(settled["summary"]["pass"], 3, "{settled:#}");
}

/// Waits until the guard's key lists `n` rules.
#[track_caller]
fn wait_listed(guard: &KeyGuard, n: usize, what: &str) {
    wait_for(DEADLINE, what, || (guard.listed().len() == n).then_some(()));
}

fn run_on_host(host: &Host) -> Daemon {
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--profiles")
        .arg(&host.profiles)
        .arg("--config")
        .arg(&host.config)
        .arg("--state-dir")
        .arg(&host.state);
    let d = Daemon::spawn(host, cmd);
    d.wait_ready();
    d
}

#[test]
fn run_in_enforce_loads_again_a_rule_deleted_behind_its_back() {
    if !kernel_audit_usable() {
        return;
    }
    let guard = KeyGuard::new();
    let host = Host::new(true, "poll_interval = \"200ms\"\n");
    let (dir, file) = watched(&host);
    let rules_file = host.base.join("rules.d/hardend.rules");
    let k = &guard.key;
    let rules = [
        ("r-watch", format!("-w {} -p wa -k {k}", dir.display())),
        ("r-file", format!("-w {} -k {k}", file.display())),
        (
            "r-modules",
            format!("-a always,exit -F arch=b64 -S init_module -S delete_module -k {k}"),
        ),
    ];
    host.profile("10-audit.toml", &host_profile(&rules, &rules_file));
    let mut d = run_on_host(&host);
    wait_listed(&guard, 3, "the first convergence to load the three rules");
    let persisted = std::fs::read_to_string(&rules_file).unwrap();
    for (_, r) in &rules {
        assert!(persisted.contains(&format!("{r}\n")), "{persisted}");
    }

    for (id, prefix) in [
        ("r-file", format!("-w {} ", file.display())),
        ("r-modules", "-a always,exit".to_string()),
    ] {
        let n = d.count(|e| e.is("drift-reverted", id));
        let line = guard
            .listed()
            .into_iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap();
        assert!(live::delete_candidates(&line)
            .iter()
            .any(|args| live::delete(args).is_ok()));
        let e = d.wait_event_after(n, &format!("{id} reverted"), |e| e.is("drift-reverted", id));
        assert_eq!(e.get("kind"), Some("audit-rule"), "{}", e.raw);
        assert_eq!(e.get("actual"), Some("not loaded"), "{}", e.raw);
        assert_eq!(e.get("action"), Some("reverted"), "{}", e.raw);
        wait_listed(&guard, 3, &format!("{id} loaded again"));
    }
    // The rules file is watched too: a rule removed from it is written back.
    std::fs::write(&rules_file, HEADER).unwrap();
    wait_until("the rules file to be written back", || {
        let text = std::fs::read_to_string(&rules_file).unwrap_or_default();
        rules.iter().all(|(_, r)| text.contains(&format!("{r}\n")))
    });
    assert!(d.terminate().success());
}

#[test]
fn run_in_report_mode_reports_a_deleted_rule_and_leaves_it_deleted() {
    if !kernel_audit_usable() {
        return;
    }
    let guard = KeyGuard::new();
    let host = Host::new(false, "poll_interval = \"200ms\"\n");
    let (_, file) = watched(&host);
    let rules_file = host.base.join("rules.d/hardend.rules");
    let rule = format!("-w {} -p wa -k {}", file.display(), guard.key);
    host.profile(
        "10-audit.toml",
        &host_profile(&[("p-file", rule.clone())], &rules_file),
    );
    json_on_host(&host, 0, &["apply", "--format", "json"]);
    wait_listed(&guard, 1, "apply to load the rule");
    let mut d = run_on_host(&host);
    let line = guard.listed().remove(0);
    assert!(live::delete_candidates(&line)
        .iter()
        .any(|args| live::delete(args).is_ok()));
    let e = d.wait_event("the deletion reported", |e| {
        e.is("drift-detected", "p-file")
    });
    assert_eq!(e.get("actual"), Some("not loaded"), "{}", e.raw);
    assert_eq!(e.get("action"), Some("reported"), "{}", e.raw);
    // Several poll ticks later it is still not loaded, and reported once.
    std::thread::sleep(Duration::from_millis(800));
    assert!(guard.listed().is_empty(), "report mode loaded the rule");
    assert_eq!(d.count(|e| e.is("drift-detected", "p-file")), 1);
    assert!(d.terminate().success());
}

#[test]
fn an_offline_root_gets_the_rules_file_and_skips_the_kernel() {
    let host = Host::new(false, "");
    host.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    mkdirs(&host.path("/run/containerd"));
    // A file from an earlier run: a rule of a control since removed (dropped: the file holds
    // only managed rules), a rule written another way, a comment and a setting that does not
    // belong here.
    host.file(
        "/etc/audit/rules.d/hardend.rules",
        b"# old header\n-w /etc/docker -p wa -k docker\n-w /usr/sbin/dockerd -p rwxa -k docker\n-e 2\n",
        0o600,
    );
    host.profile(
        "10-audit.toml",
        r#"
[profile]
name = "offline"
requires = ["docker"]

[[control]]
id = "o-dockerd"
title = "dockerd"
kind = "audit-rule"
rule = "-w /usr/sbin/dockerd -k docker"

[[control]]
id = "o-mounts"
title = "mounts"
kind = "audit-rule"
rule = "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts"

[[control]]
id = "o-sysconfig"
title = "no /etc/sysconfig here"
kind = "audit-rule"
rule = "-w /etc/sysconfig/docker -k docker"

[[control]]
id = "o-socket"
title = "a socket under /run"
kind = "audit-rule"
rule = "-w /run/containerd/containerd.sock -k docker"
"#,
    );
    let rules_file = host.path("/etc/audit/rules.d/hardend.rules");
    let before = std::fs::read(&rules_file).unwrap();
    let plan = host.hardend(&["plan"]);
    assert_eq!(plan.status.code(), Some(1));
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.contains(
            "+-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts"
        ),
        "{plan}"
    );
    assert_eq!(
        std::fs::read(&rules_file).unwrap(),
        before,
        "plan changed the file"
    );

    let out = host.hardend(&["apply", "--format", "json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(status(&report, "o-dockerd"), "skipped", "{report:#}");
    assert_eq!(
        part(&report, "o-dockerd", "/etc/audit/rules.d/hardend.rules")["status"],
        "fixed"
    );
    assert_eq!(status(&report, "o-mounts"), "skipped");
    assert_eq!(
        part(&report, "o-mounts", "/etc/audit/rules.d/hardend.rules")["status"],
        "fixed"
    );
    let live_part = part(&report, "o-mounts", "kernel audit rules (live)");
    assert_eq!(live_part["status"], "skipped");
    assert_eq!(status(&report, "o-sysconfig"), "not-applicable");
    assert!(control(&report, "o-sysconfig")["message"]
        .as_str()
        .unwrap()
        .contains("/etc/sysconfig does not exist"));
    // Under /run: not persisted (its directory does not exist at boot), nothing to load offline.
    assert_eq!(status(&report, "o-socket"), "skipped");
    assert_eq!(
        part(&report, "o-socket", "/etc/audit/rules.d/hardend.rules")["status"],
        "not-applicable"
    );
    assert_eq!(
        std::fs::read_to_string(&rules_file).unwrap(),
        format!(
            "{HEADER}-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts\n-w /usr/sbin/dockerd -p rwxa -k docker\n"
        )
    );
    // The owner and mode of the existing file are kept.
    assert_eq!(mode_of(&rules_file), Some(0o600));

    let after = std::fs::read(&rules_file).unwrap();
    let again = host.hardend(&["apply", "--format", "json"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(
        std::fs::read(&rules_file).unwrap(),
        after,
        "a second apply rewrote the file"
    );

    // A new root: the file and its directories are created, root:root 0640.
    let fresh = Host::new(false, "");
    fresh.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    fresh.profile(
        "10-audit.toml",
        "[profile]\nname = \"o\"\n\n[[control]]\nid = \"o-etc\"\ntitle = \"etc\"\nkind = \"audit-rule\"\nrule = \"-w /etc/docker -k docker\"\n",
    );
    let out = fresh.hardend(&["apply"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let created = fresh.path("/etc/audit/rules.d/hardend.rules");
    assert_eq!(
        std::fs::read_to_string(&created).unwrap(),
        format!("{HEADER}-w /etc/docker -k docker\n")
    );
    assert_eq!(mode_of(&created), Some(0o640));
    assert_eq!(owner_of(&created), Some((0, 0)));
}

#[test]
fn bad_rules_are_rejected_at_their_value() {
    let host = Host::new(false, "");
    let path = host.base.join("bad.toml");
    let text = r#"[profile]
name = "bad"

[[control]]
id = "a"
title = "a"
kind = "audit-rule"
rule = "-w /x -p q -k k"

[[control]]
id = "b"
title = "b"
kind = "audit-rule"
rule = "-a always,exit -F arch=b64 -S read -F ouid=1 -k k"

[[control]]
id = "c"
title = "c"
kind = "audit-rule"
rule = "-w usr/bin/dockerd -k docker"

[[control]]
id = "d"
title = "d"
kind = "audit-rule"
rule = "-w /x -k k"
rules_file = "/etc/audit/rules.d/hardend.conf"

[[control]]
id = "e"
title = "e"
kind = "audit-rule"
rule = "-w /x -k k"
rule_file = "/tmp/x.rules"
"#;
    std::fs::write(&path, text).unwrap();
    chmod(&path, 0o644);
    let out = host.hardend(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    for want in [
        format!("{p}:8:8: error: invalid audit rule \"-w /x -p q -k k\": `-p q`: permission `q`"),
        format!("{p}:14:8: error: invalid audit rule \"-a always,exit -F arch=b64 -S read -F ouid=1 -k k\": `-F ouid=1`: unknown field `ouid`"),
        format!("{p}:20:8: error: invalid audit rule \"-w usr/bin/dockerd -k docker\": `-w usr/bin/dockerd`: the path must start with '/'"),
        format!("{p}:27:14: error: `rules_file` \"/etc/audit/rules.d/hardend.conf\": an absolute path"),
        format!("{p}:34:1: error: unknown key `rule_file` in [[control]] (did you mean `rules_file`?)"),
    ] {
        assert!(stderr.contains(&want), "missing {want:?} in:\n{stderr}");
    }
}
