//! The `sysctl` kind: a kernel parameter, live in `/proc/sys` and persisted in
//! `/etc/sysctl.d/99-zz-hardend.conf`.
//!
//! Safety: these tests never change the host's kernel parameters or its /etc. Live tests run in
//! a private network and mount namespace (`unshare -n -m --propagation private`) with the real
//! `/proc/sys` bind-mounted into `T/root/proc/sys`; there only `net.*` keys are touched, and
//! those are private to the new network namespace. Every live profile is checked to name only
//! `net.*` keys before it is used, and the host's own value is compared before and after.
//! Non-namespaced and one-way keys (`kernel.*`, `vm.*`, `fs.*`) are tested on offline roots only
//! (no `proc/sys`, or a fake kernel tree of plain files), and one-way keys with `plan` only.

#[path = "common/mod.rs"]
mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const PERSIST: &str = "/etc/sysctl.d/99-zz-hardend.conf";
const HEADER: &str = "# Managed by hardend: every key here is a control of a hardend profile.\n\
                      # Edits are reverted; change the profile instead.\n";
const SEND_REDIRECTS: &str = "net.ipv4.conf.all.send_redirects";
const PORT_RANGE: &str = "net.ipv4.ip_local_port_range";

/// How long something that must happen may take (only reached when it does not).
const DEADLINE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Profiles

/// One sysctl control; `extra` is more TOML lines (`one_way = true`, `policy = "report"`).
fn ctl(id: &str, key: &str, value: &str, extra: &str) -> String {
    format!(
        "\n[[control]]\nid = \"{id}\"\ntitle = \"{id}\"\nkind = \"sysctl\"\nkey = \"{key}\"\nvalue = \"{value}\"\n{extra}"
    )
}

fn profile(name: &str, controls: &[String]) -> String {
    format!(
        "[profile]\nname = \"{name}\"\npolicy = \"enforce\"\n{}",
        controls.concat()
    )
}

/// The live tests may only name `net.*` keys: anything else would be the host's own kernel.
#[track_caller]
fn assert_net_only(toml: &str) {
    for line in toml.lines() {
        if let Some(v) = line.trim().strip_prefix("key = ") {
            assert!(
                v.trim_matches('"').starts_with("net."),
                "a live test may only touch net.* keys, not {v}"
            );
        }
    }
}

/// `/proc/sys/...` of a dotted key (no `/` in these keys).
fn proc_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

// ---------------------------------------------------------------------------------------------
// Environments

/// A temporary host whose root has the layout the live tests need: `proc/sys` (an empty dir,
/// the mount point), `etc/sysctl.d`, `usr/lib/sysctl.d`.
fn live_env(settings: &str) -> Env {
    let env = Env::with_config(settings);
    env.dir("/proc/sys", 0o755);
    env.dir("/etc/sysctl.d", 0o755);
    env.dir("/usr/lib/sysctl.d", 0o755);
    env
}

/// An offline root (an image): no `proc/sys` at all.
fn offline_env() -> Env {
    let env = Env::new();
    env.dir("/etc/sysctl.d", 0o755);
    env.dir("/usr/lib/sysctl.d", 0o755);
    env
}

fn host_value(key: &str) -> String {
    std::fs::read_to_string(proc_path(key)).expect("read the host's /proc/sys")
}

fn read_persist(env: &Env) -> Option<String> {
    std::fs::read_to_string(env.path(PERSIST)).ok()
}

/// `HEADER` and `key = value` lines.
fn persisted(lines: &[(&str, &str)]) -> String {
    let mut s = HEADER.to_string();
    for (k, v) in lines {
        s.push_str(&format!("{k} = {v}\n"));
    }
    s
}

#[track_caller]
fn part<'a>(report: &'a Value, id: &str, target: &str) -> &'a Value {
    control(report, id)["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["target"] == target)
        .unwrap_or_else(|| panic!("{id} has no part {target}: {report:#}"))
}

/// The `changes[].target` of a control in a `plan --format json` report.
fn change_targets(report: &Value, id: &str) -> Vec<String> {
    control(report, id)["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["target"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[track_caller]
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

/// Runs a program inside the network and mount namespaces of `pid`.
fn in_ns<S: AsRef<OsStr>>(pid: u32, args: &[S]) -> Out {
    Command::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .args(["-n", "-m"])
        .args(args)
        .env_remove("HARDEND_FAULT")
        .env_remove("NOTIFY_SOCKET")
        .output()
        .expect("run nsenter")
        .into()
}

/// A kernel parameter as the namespace of `pid` sees it, exactly as the kernel prints it.
fn ns_read(pid: u32, key: &str) -> String {
    let out = in_ns(pid, &["cat", &proc_path(key)]);
    out.expect_code(0);
    out.stdout
}

/// Writes a `net.*` parameter inside the namespace of `pid` (never anything else).
fn ns_write(pid: u32, key: &str, value: &str) {
    assert!(key.starts_with("net."), "only net.* keys are written live");
    let path = proc_path(key);
    in_ns(
        pid,
        &[
            "sh",
            "-c",
            "printf '%s\\n' \"$1\" > \"$2\"",
            "sh",
            value,
            &path,
        ],
    )
    .expect_code(0);
}

/// Checks that `pid` really is in another network namespace, and that `T/root/proc/sys` is the
/// kernel's there: the safety net of every live test.
#[track_caller]
fn assert_isolated(pid: u32, env: &Env) {
    let ours = std::fs::read_link("/proc/self/ns/net").expect("our netns");
    let theirs = in_ns(pid, &["readlink", "/proc/self/ns/net"]);
    theirs.expect_code(0);
    assert_ne!(
        theirs.stdout.trim(),
        ours.to_string_lossy(),
        "the namespace must not be the host's"
    );
    let mounted = env.path("/proc/sys/net/ipv4/conf/all/send_redirects");
    in_ns(
        pid,
        &[OsStr::new("test"), OsStr::new("-f"), mounted.as_os_str()],
    )
    .expect_code(0);
    assert!(
        !mounted.exists(),
        "the bind mount must not be visible outside the namespace"
    );
}

/// A process holding a private network + mount namespace in which `T/root/proc/sys` is the
/// kernel's `/proc/sys`; hardend commands are run in it with `nsenter`. Killed on drop.
struct Netns {
    child: Child,
}

impl Netns {
    fn new(env: &Env) -> Netns {
        let mut child = Command::new("unshare")
            .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind /proc/sys \"$1\" && echo ready && exec sleep 600")
            .arg("sh")
            .arg(env.path("/proc/sys"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        let ns = Netns { child };
        assert_eq!(line.trim(), "ready", "the namespace could not be set up");
        assert_isolated(ns.pid(), env);
        ns
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `hardend GLOBALS ARGS` inside the namespace.
    fn hardend(&self, env: &Env, args: &[&str]) -> Out {
        let mut all = vec![BIN.to_string()];
        all.extend(env.globals());
        all.extend(args.iter().map(|s| s.to_string()));
        in_ns(self.pid(), &all)
    }

    #[track_caller]
    fn json(&self, env: &Env, code: i32, args: &[&str]) -> Value {
        let out = self.hardend(env, args);
        out.expect_code(code);
        out.json()
    }

    fn read(&self, key: &str) -> String {
        ns_read(self.pid(), key)
    }

    fn write(&self, key: &str, value: &str) {
        ns_write(self.pid(), key, value)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `hardend run` exec'd inside a fresh private namespace (its own pid names the namespace),
/// its stderr collected line by line. SIGKILLed on drop if still running.
struct LiveDaemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl LiveDaemon {
    fn start(env: &Env) -> LiveDaemon {
        let mut child = Command::new("unshare")
            .args(["-n", "-m", "--propagation", "private", "sh", "-c"])
            .arg("mount --bind /proc/sys \"$1\" && shift && exec \"$@\"")
            .arg("sh")
            .arg(env.path("/proc/sys"))
            .arg(BIN)
            .arg("run")
            .args(env.globals())
            .env_remove("NOTIFY_SOCKET")
            .env_remove("HARDEND_FAULT")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn unshare");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let d = LiveDaemon {
            child,
            lines,
            reader: Some(reader),
        };
        // The status file is written once the first convergence is done and the watches are
        // armed (just before READY=1).
        let status = env.state.join("status.json");
        wait_until("the daemon's first status file", || {
            assert!(
                d.running(),
                "the daemon exited:\n{}",
                d.lines.lock().unwrap().join("\n")
            );
            status.exists()
        });
        assert_isolated(d.pid(), env);
        d
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn running(&self) -> bool {
        // The reader thread ends with the process's stderr.
        self.reader.as_ref().is_some_and(|r| !r.is_finished())
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The event lines of type `ty` for `control`.
    fn events(&self, ty: &str, control: &str) -> Vec<String> {
        let head = format!("hardend: {ty} ");
        let id = format!("control=\"{control}\"");
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(&head) && l.contains(&id))
            .cloned()
            .collect()
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        let status = self.child.wait().expect("wait");
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status.code()
    }
}

impl Drop for LiveDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Live, in a namespace: check, apply, persistence, idempotence, multi-value keys

#[test]
fn live_check_apply_persist_and_second_apply_changes_nothing() {
    let host_before = host_value(SEND_REDIRECTS);
    let env = live_env(NO_BUILTINS);
    // Deliberately out of key order: the file is sorted by key.
    let toml = profile(
        "live",
        &[
            ctl("sr", SEND_REDIRECTS, "0", ""),
            ctl("range", PORT_RANGE, "32768 60999", ""),
            ctl("asr", "net.ipv4.conf.all.accept_source_route", "0", ""),
        ],
    );
    assert_net_only(&toml);
    env.profile("10-live", &toml);
    let ns = Netns::new(&env);
    assert_eq!(ns.read(SEND_REDIRECTS), "1\n", "a new namespace's default");
    // The kernel prints the range tab-separated; the profile writes it with a space.
    assert_eq!(ns.read(PORT_RANGE), "32768\t60999\n");

    let check = ns.json(&env, 1, &["check", "--format", "json"]);
    assert_eq!(field(&check, "sr", "status"), "drift");
    let live = part(&check, "sr", &format!("{SEND_REDIRECTS} (live)"));
    assert_eq!(live["status"], "drift", "{check:#}");
    assert_eq!(live["expected"], format!("{SEND_REDIRECTS} = 0"));
    assert_eq!(live["actual"], format!("{SEND_REDIRECTS} = 1"));
    // Equal multi-value key: the live part passes; only the persistence is missing.
    let range_live = part(&check, "range", &format!("{PORT_RANGE} (live)"));
    assert_eq!(range_live["status"], "pass", "{check:#}");
    assert_eq!(range_live["actual"], format!("{PORT_RANGE} = 32768 60999"));
    assert_eq!(part(&check, "range", PERSIST)["status"], "drift");
    assert_eq!(read_persist(&env), None, "check writes nothing");

    // plan names the kernel write.
    let plan = ns.json(&env, 1, &["plan", "--format", "json"]);
    let targets = change_targets(&plan, "sr");
    assert!(
        targets.iter().any(|t| t == &proc_path(SEND_REDIRECTS)),
        "{plan:#}"
    );
    assert_eq!(ns.read(SEND_REDIRECTS), "1\n", "plan changes nothing");

    let apply = ns.json(&env, 0, &["apply", "--format", "json"]);
    assert_eq!(
        statuses(&apply),
        expect_statuses(&[("sr", "fixed"), ("range", "fixed"), ("asr", "fixed")]),
        "{apply:#}"
    );
    assert_eq!(ns.read(SEND_REDIRECTS), "0\n");
    assert_eq!(ns.read("net.ipv4.conf.all.accept_source_route"), "0\n");
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(
            persisted(&[
                ("net.ipv4.conf.all.accept_source_route", "0"),
                (SEND_REDIRECTS, "0"),
                (PORT_RANGE, "32768 60999"),
            ])
            .as_str()
        )
    );
    assert_eq!(mode_of(&env.path(PERSIST)), 0o644);

    // A second apply: everything passes, nothing on disk or in the kernel changes.
    let tree = env.tree_snapshot();
    let again = ns.json(&env, 0, &["apply", "--format", "json"]);
    assert_eq!(
        statuses(&again),
        expect_statuses(&[("sr", "pass"), ("range", "pass"), ("asr", "pass")]),
        "{again:#}"
    );
    assert_same_tree(&tree, &env.tree_snapshot(), "a second apply");
    assert_eq!(ns.read(SEND_REDIRECTS), "0\n");
    let check = ns.json(&env, 0, &["check", "--format", "json"]);
    assert_eq!(summary(&check), expect_summary(&[("pass", 3)]));

    // The live value drifts again: only the live part is off, and apply puts it back without
    // touching the file.
    ns.write(SEND_REDIRECTS, "1");
    let check = ns.json(&env, 1, &["check", "--format", "json"]);
    assert_eq!(part(&check, "sr", PERSIST)["status"], "pass", "{check:#}");
    assert_eq!(
        part(&check, "sr", &format!("{SEND_REDIRECTS} (live)"))["status"],
        "drift"
    );
    let apply = ns.json(&env, 0, &["apply", "--format", "json"]);
    assert_eq!(field(&apply, "sr", "status"), "fixed", "{apply:#}");
    assert_eq!(ns.read(SEND_REDIRECTS), "0\n");
    assert_same_tree(&tree, &env.tree_snapshot(), "a live-only revert");

    drop(ns);
    assert_eq!(
        host_value(SEND_REDIRECTS),
        host_before,
        "the host's own value is untouched"
    );
}

#[test]
fn live_multi_value_key_compares_by_fields_and_is_written_with_a_space() {
    let host_before = host_value(PORT_RANGE);
    let env = live_env(NO_BUILTINS);
    // Another range, written in the profile with extra blanks: normalised to one space.
    let toml = profile("range", &[ctl("range", PORT_RANGE, "40000   50000", "")]);
    assert_net_only(&toml);
    env.profile("10-range", &toml);
    let ns = Netns::new(&env);
    let check = ns.json(&env, 1, &["check", "--format", "json"]);
    assert_eq!(
        part(&check, "range", &format!("{PORT_RANGE} (live)"))["actual"],
        format!("{PORT_RANGE} = 32768 60999")
    );
    assert_eq!(
        field(&check, "range", "expected"),
        format!("{PORT_RANGE} = 40000 50000")
    );
    ns.hardend(&env, &["apply"]).expect_code(0);
    assert_eq!(ns.read(PORT_RANGE), "40000\t50000\n");
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(persisted(&[(PORT_RANGE, "40000 50000")]).as_str())
    );
    let check = ns.json(&env, 0, &["check", "--format", "json"]);
    assert_eq!(field(&check, "range", "status"), "pass");
    drop(ns);
    assert_eq!(host_value(PORT_RANGE), host_before);
}

// ---------------------------------------------------------------------------------------------
// 2. The daemon: the poll timer sees /proc/sys drift

#[test]
fn run_enforce_reverts_a_live_write_on_the_poll_timer() {
    let host_before = host_value(SEND_REDIRECTS);
    let env = live_env("enforce = true\nbuiltin_profiles = []\npoll_interval = \"200ms\"\n");
    let toml = profile("live", &[ctl("sr", SEND_REDIRECTS, "0", "")]);
    assert_net_only(&toml);
    env.profile("10-live", &toml);
    let d = LiveDaemon::start(&env);
    let pid = d.pid();
    // The first convergence set it and persisted it.
    assert_eq!(ns_read(pid, SEND_REDIRECTS), "0\n", "{}", d.stderr());
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(persisted(&[(SEND_REDIRECTS, "0")]).as_str())
    );
    let before = d.events("drift-reverted", "sr").len();

    // Drift behind hardend's back: inotify cannot see /proc/sys; the timer must.
    ns_write(pid, SEND_REDIRECTS, "1");
    wait_until("the poll timer to revert the live value", || {
        ns_read(pid, SEND_REDIRECTS) == "0\n"
    });
    wait_until("a drift-reverted event", || {
        d.events("drift-reverted", "sr").len() > before
    });
    let e = d.events("drift-reverted", "sr").pop().unwrap();
    for want in [
        "kind=\"sysctl\"",
        &format!("target=\"{SEND_REDIRECTS}\""),
        &format!("expected=\"{SEND_REDIRECTS} = 0\""),
        &format!("actual=\"{SEND_REDIRECTS} = 1\""),
        "action=\"reverted\"",
        "latency_us=",
    ] {
        assert!(e.contains(want), "{want} missing in {e}");
    }

    // An edit of the persisted file is put back through inotify.
    std::fs::write(env.path(PERSIST), format!("{SEND_REDIRECTS} = 1\n")).unwrap();
    wait_until("the persisted file to be restored", || {
        read_persist(&env).as_deref() == Some(persisted(&[(SEND_REDIRECTS, "0")]).as_str())
    });
    assert_eq!(ns_read(pid, SEND_REDIRECTS), "0\n");

    assert_eq!(d.stop(), Some(0));
    assert_eq!(host_value(SEND_REDIRECTS), host_before);
}

#[test]
fn run_report_policy_reports_live_drift_once_and_changes_nothing() {
    let host_before = host_value(SEND_REDIRECTS);
    let env = live_env("enforce = true\nbuiltin_profiles = []\npoll_interval = \"200ms\"\n");
    let toml = profile(
        "live",
        &[ctl("sr", SEND_REDIRECTS, "0", "policy = \"report\"\n")],
    );
    assert_net_only(&toml);
    env.profile("10-live", &toml);
    let d = LiveDaemon::start(&env);
    let pid = d.pid();
    wait_until("a drift-detected event", || {
        !d.events("drift-detected", "sr").is_empty()
    });
    // Several poll ticks later: still one event, nothing changed.
    std::thread::sleep(Duration::from_millis(1200));
    let detected = d.events("drift-detected", "sr");
    assert_eq!(detected.len(), 1, "{}", d.stderr());
    assert!(
        detected[0].contains("action=\"reported\""),
        "{}",
        detected[0]
    );
    assert!(
        d.events("drift-reverted", "sr").is_empty(),
        "{}",
        d.stderr()
    );
    assert_eq!(
        ns_read(pid, SEND_REDIRECTS),
        "1\n",
        "report policy never writes"
    );
    assert_eq!(read_persist(&env), None, "nor persists");
    assert_eq!(d.stop(), Some(0));
    assert_eq!(host_value(SEND_REDIRECTS), host_before);
}

/// A sysctl.d file that sorts after hardend's and is dropped in while `run` watches makes the
/// control a conflict, in every directory systemd-sysctl reads (`/usr/local/lib/sysctl.d`
/// included, which `src/sysctl.rs` DIRS lists).
#[test]
fn run_notices_a_conflicting_file_in_every_sysctl_d_directory() {
    let host_before = host_value(SEND_REDIRECTS);
    let env = live_env("enforce = true\nbuiltin_profiles = []\npoll_interval = \"200ms\"\n");
    env.dir("/run/sysctl.d", 0o755);
    env.dir("/usr/local/lib/sysctl.d", 0o755);
    let toml = profile("live", &[ctl("sr", SEND_REDIRECTS, "0", "")]);
    assert_net_only(&toml);
    env.profile("10-live", &toml);
    let d = LiveDaemon::start(&env);
    assert_eq!(ns_read(d.pid(), SEND_REDIRECTS), "0\n", "{}", d.stderr());
    for dir in ["/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d"] {
        let file = format!("{dir}/99-zzz-other.conf");
        let before = d.events("conflict", "sr").len();
        env.file(&file, format!("{SEND_REDIRECTS} = 1\n").as_bytes(), 0o644);
        // inotify reports these at once; the poll tick only re-reads the live value.
        let limit = Duration::from_secs(3);
        let start = Instant::now();
        while d.events("conflict", "sr").len() == before && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        let events = d.events("conflict", "sr");
        assert!(
            events.len() > before,
            "no conflict event for {file} within {limit:?}:\n{}",
            d.stderr()
        );
        assert!(events.last().unwrap().contains(&file), "{events:?}");
        let resolved = d.events("drift-resolved", "sr").len();
        std::fs::remove_file(env.path(&file)).unwrap();
        wait_until("the control to pass again (drift-resolved)", || {
            d.events("drift-resolved", "sr").len() > resolved
        });
    }
    assert_eq!(d.stop(), Some(0));
    assert_eq!(host_value(SEND_REDIRECTS), host_before);
}

// ---------------------------------------------------------------------------------------------
// 3. Persistence on offline roots

#[test]
fn offline_apply_persists_exactly_and_skips_the_live_part() {
    let env = offline_env();
    env.profile(
        "10-k",
        &profile(
            "k",
            &[
                ctl("suid", "fs.suid_dumpable", "0", ""),
                ctl("kptr", "kernel.kptr_restrict", "2", ""),
                ctl("sr", SEND_REDIRECTS, "0", ""),
            ],
        ),
    );
    let check = env.check_json(1, &[]);
    for id in ["suid", "kptr", "sr"] {
        assert_eq!(field(&check, id, "status"), "drift", "{check:#}");
    }
    let live = part(&check, "kptr", "kernel.kptr_restrict (live)");
    assert_eq!(live["status"], "skipped", "{check:#}");
    let apply = env.apply_json(0, &[]);
    for id in ["suid", "kptr", "sr"] {
        assert_eq!(field(&apply, id, "status"), "skipped", "{apply:#}");
        assert_eq!(part(&apply, id, PERSIST)["status"], "fixed", "{apply:#}");
    }
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(
            persisted(&[
                ("fs.suid_dumpable", "0"),
                ("kernel.kptr_restrict", "2"),
                (SEND_REDIRECTS, "0"),
            ])
            .as_str()
        )
    );
    assert_eq!(mode_of(&env.path(PERSIST)), 0o644);
    assert!(
        !env.path("/proc").exists(),
        "nothing is created for the live part on an image"
    );
    let tree = env.tree_snapshot();
    env.apply_json(0, &[]);
    assert_same_tree(&tree, &env.tree_snapshot(), "a second apply");
}

#[test]
fn offline_apply_of_one_control_keeps_the_other_managed_keys() {
    let env = offline_env();
    let a = ctl("a", "kernel.kptr_restrict", "2", "");
    let b = ctl("b", "kernel.dmesg_restrict", "1", "");
    env.profile("10-k", &profile("k", &[a.clone(), b.clone()]));
    env.apply_json(0, &[]);
    // `a` changes its value; only `a` is applied.
    let a1 = ctl("a", "kernel.kptr_restrict", "1", "");
    env.profile("10-k", &profile("k", &[a1, b]));
    let report = env.apply_json(0, &["--control", "a"]);
    // The live part is skipped on an image, and skipped ranks above fixed.
    assert_eq!(field(&report, "a", "status"), "skipped", "{report:#}");
    assert_eq!(part(&report, "a", PERSIST)["status"], "fixed", "{report:#}");
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(
            persisted(&[
                ("kernel.dmesg_restrict", "1"),
                ("kernel.kptr_restrict", "1")
            ])
            .as_str()
        )
    );
    let check = env.check_json(0, &[]);
    assert_eq!(
        statuses(&check),
        expect_statuses(&[("a", "skipped"), ("b", "skipped")])
    );
}

#[test]
fn offline_an_existing_persist_file_is_rewritten_with_only_managed_keys() {
    let env = offline_env();
    // A file someone wrote by hand, with a stale value of our key, unsorted, and a key no
    // control manages: hardend's file holds only managed keys (the original stays in the
    // backups for rollback).
    env.file(
        PERSIST,
        b"vm.swappiness = 10\n# a comment\nkernel.kptr_restrict=0\n",
        0o644,
    );
    env.profile(
        "10-k",
        &profile("k", &[ctl("a", "kernel.kptr_restrict", "2", "")]),
    );
    let check = env.check_json(1, &[]);
    assert_eq!(
        part(&check, "a", PERSIST)["actual"],
        "kernel.kptr_restrict = 0",
        "{check:#}"
    );
    env.apply_json(0, &[]);
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(persisted(&[("kernel.kptr_restrict", "2")]).as_str())
    );
    env.run(&["rollback"]).expect_code(0);
    assert_eq!(
        read_persist(&env).as_deref(),
        Some("vm.swappiness = 10\n# a comment\nkernel.kptr_restrict=0\n")
    );
}

/// A control removed from the profile takes its line out of hardend's file: the file holds
/// exactly the keys the loaded set manages, as its header says.
#[test]
fn offline_a_removed_control_takes_its_key_out_of_the_persist_file() {
    let env = offline_env();
    let a = ctl("a", "kernel.kptr_restrict", "2", "");
    let b = ctl("b", "kernel.dmesg_restrict", "1", "");
    env.profile("10-k", &profile("k", &[a.clone(), b]));
    env.apply_json(0, &[]);
    env.profile("10-k", &profile("k", &[a]));
    let check = env.check_json(1, &[]);
    assert!(
        part(&check, "a", PERSIST)["message"]
            .as_str()
            .is_some_and(|m| m.contains("kernel.dmesg_restrict")),
        "{check:#}"
    );
    env.apply_json(0, &[]);
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(persisted(&[("kernel.kptr_restrict", "2")]).as_str())
    );
}

/// Whoever can write a sysctl.d file sets kernel parameters at boot (`kernel.core_pattern =
/// |/tmp/x` runs a program as root). hardend's own file must not stay writable by others once
/// hardend has written its keys into it, as profiles and settings must not be.
#[test]
fn offline_the_persist_file_is_written_root_owned_and_not_writable_by_others() {
    let env = offline_env();
    env.file_owned(PERSIST, b"kernel.kptr_restrict = 0\n", 0o666, 4242, 4343);
    env.profile(
        "10-k",
        &profile("k", &[ctl("a", "kernel.kptr_restrict", "2", "")]),
    );
    env.apply_json(0, &[]);
    let meta = std::fs::metadata(env.path(PERSIST)).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o022),
        (0, 0, 0),
        "hardend's persist file after apply: uid {} gid {} mode {:o}",
        meta.uid(),
        meta.gid(),
        meta.mode() & 0o7777
    );
}

#[test]
fn rollback_removes_a_persist_file_that_did_not_exist_and_its_new_directory() {
    let env = Env::new();
    let tree = env.tree_snapshot();
    env.profile(
        "10-k",
        &profile(
            "k",
            &[
                ctl("a", "kernel.kptr_restrict", "2", ""),
                ctl("b", "kernel.dmesg_restrict", "1", ""),
            ],
        ),
    );
    env.apply_json(0, &[]);
    assert!(read_persist(&env).is_some());
    let out = env.run(&["rollback"]);
    out.expect_code(0);
    assert_same_tree(&tree, &env.tree_snapshot(), "apply then rollback");
}

#[test]
fn rollback_restores_the_persist_file_that_existed() {
    let env = offline_env();
    let original =
        b"# written by the image builder\nkernel.kptr_restrict = 1\nvm.swappiness = 10\n";
    env.file(PERSIST, original, 0o640);
    let tree = env.tree_snapshot();
    env.profile(
        "10-k",
        &profile("k", &[ctl("a", "kernel.kptr_restrict", "2", "")]),
    );
    env.apply_json(0, &[]);
    assert_ne!(std::fs::read(env.path(PERSIST)).unwrap(), original);
    assert_eq!(
        mode_of(&env.path(PERSIST)),
        0o640,
        "the file's mode is kept"
    );
    env.run(&["rollback"]).expect_code(0);
    assert_same_tree(&tree, &env.tree_snapshot(), "apply then rollback");
}

// ---------------------------------------------------------------------------------------------
// 4. Conflicts with other sysctl.d files

const RP: &str = "net.ipv4.conf.all.rp_filter";

fn rp_env() -> Env {
    let env = offline_env();
    env.profile("10-k", &profile("k", &[ctl("rp", RP, "1", "")]));
    env
}

#[track_caller]
fn assert_conflict_naming(env: &Env, file: &str) {
    let tree = env.tree_snapshot();
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "conflict", "{check:#}");
    assert!(
        field(&check, "rp", "message").contains(file),
        "the message names {file}: {check:#}"
    );
    assert!(
        field(&check, "rp", "actual").contains(&format!("{RP} = 0")),
        "{check:#}"
    );
    let apply = env.apply_json(1, &[]);
    assert_eq!(field(&apply, "rp", "status"), "conflict", "{apply:#}");
    assert_same_tree(&tree, &env.tree_snapshot(), "apply on a conflict");
    assert!(!env
        .state
        .join("backups/objects")
        .read_dir()
        .is_ok_and(|mut d| d.next().is_some()));
}

#[test]
fn conflict_with_a_later_usr_lib_file() {
    let env = rp_env();
    let file = "/usr/lib/sysctl.d/99-zzz-override_cilium.conf";
    env.file(file, format!("{RP} = 0\n").as_bytes(), 0o644);
    assert_conflict_naming(&env, file);
}

#[test]
fn conflict_with_a_later_etc_file_with_a_dash() {
    let env = rp_env();
    let file = "/etc/sysctl.d/99-zzz-x.conf";
    env.file(file, format!("# x\n-{RP}=0\n").as_bytes(), 0o644);
    assert_conflict_naming(&env, file);
}

#[test]
fn conflict_with_a_later_symlinked_file() {
    let env = rp_env();
    env.file("/etc/sysctl.conf", format!("{RP} = 0\n").as_bytes(), 0o644);
    env.symlink("/etc/sysctl.d/99-zzz-sysctl.conf", "../sysctl.conf");
    assert_conflict_naming(&env, "/etc/sysctl.d/99-zzz-sysctl.conf");
}

#[test]
fn the_last_setting_in_later_files_decides() {
    let env = rp_env();
    // A later file sets 0, an even later one sets our value back: no conflict.
    env.file(
        "/usr/lib/sysctl.d/99-zzz-a.conf",
        format!("{RP} = 0\n").as_bytes(),
        0o644,
    );
    env.file(
        "/etc/sysctl.d/99-zzzz-b.conf",
        format!("{RP} = 1\n").as_bytes(),
        0o644,
    );
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "drift", "{check:#}");
}

#[test]
fn a_glob_for_other_interfaces_is_not_a_conflict() {
    let env = rp_env();
    env.file(
        "/usr/lib/sysctl.d/99-zzz-override_cilium.conf",
        b"-net.ipv4.conf.lxc*.rp_filter = 0\n-net.ipv4.conf.cilium_*.rp_filter = 0\n",
        0o644,
    );
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "drift", "{check:#}");
    env.apply_json(0, &[]);
    assert_eq!(
        read_persist(&env).as_deref(),
        Some(persisted(&[(RP, "1")]).as_str())
    );
}

/// systemd-sysctl applies a glob only to keys that no file sets explicitly ("Not setting %s
/// (explicit setting exists)" in `apply_all`, src/sysctl/sysctl.c), whatever the file order.
/// Once hardend's file sets the key explicitly, a later `net.ipv4.conf.*.rp_filter = 0` does not
/// change it at boot: hardend can persist its value, so this is no conflict.
#[test]
fn a_later_glob_does_not_override_an_explicit_key_so_it_is_no_conflict() {
    let env = rp_env();
    env.file(
        "/usr/lib/sysctl.d/99-zzz-override_cilium.conf",
        b"-net.ipv4.conf.*.rp_filter = 0\n",
        0o644,
    );
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "drift", "{check:#}");
}

#[test]
fn a_file_sorting_before_ours_is_not_a_conflict() {
    let env = rp_env();
    // Debian's /etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf sorts before 99-zz-hardend.conf.
    env.file("/etc/sysctl.conf", format!("{RP} = 0\n").as_bytes(), 0o644);
    env.symlink("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf");
    env.file(
        "/usr/lib/sysctl.d/50-default.conf",
        format!("{RP} = 2\n").as_bytes(),
        0o644,
    );
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "drift", "{check:#}");
    env.apply_json(0, &[]);
    assert_eq!(env.check_json(0, &[])["controls"][0]["status"], "skipped");
}

#[test]
fn an_etc_file_masks_the_same_name_in_usr_lib() {
    let env = rp_env();
    let name = "99-zzz-x.conf";
    env.file(
        &format!("/usr/lib/sysctl.d/{name}"),
        format!("{RP} = 0\n").as_bytes(),
        0o644,
    );
    env.file(
        &format!("/etc/sysctl.d/{name}"),
        b"# the admin's version, without rp_filter\nnet.ipv4.tcp_syncookies = 1\n",
        0o644,
    );
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "drift", "{check:#}");
    // Without the mask, the same /usr/lib file is a conflict.
    std::fs::remove_file(env.path(&format!("/etc/sysctl.d/{name}"))).unwrap();
    let check = env.check_json(1, &[]);
    assert_eq!(field(&check, "rp", "status"), "conflict", "{check:#}");
}

// ---------------------------------------------------------------------------------------------
// 5. Keys the kernel lacks or refuses (live namespace)

#[test]
fn live_a_key_the_kernel_lacks_is_not_applicable_and_not_persisted() {
    let env = live_env(NO_BUILTINS);
    let toml = profile("k", &[ctl("nokey", "net.ipv4.no_such_key", "1", "")]);
    assert_net_only(&toml);
    env.profile("10-k", &toml);
    let ns = Netns::new(&env);
    let check = ns.json(&env, 0, &["check", "--format", "json"]);
    assert_eq!(field(&check, "nokey", "status"), "not-applicable");
    assert!(
        field(&check, "nokey", "message").contains("net.ipv4.no_such_key"),
        "{check:#}"
    );
    let apply = ns.json(&env, 0, &["apply", "--format", "json"]);
    assert_eq!(field(&apply, "nokey", "status"), "not-applicable");
    assert_eq!(read_persist(&env), None);
}

/// A value the kernel refuses (min above max: EINVAL). On this kernel
/// `net.ipv4.conf.all.rp_filter = 7` is accepted (no range check), so the port range is used.
#[test]
fn live_a_value_the_kernel_refuses_is_an_error_with_the_errno_text() {
    let host_before = host_value(PORT_RANGE);
    let env = live_env(NO_BUILTINS);
    let toml = profile("k", &[ctl("bad", PORT_RANGE, "60999 32768", "")]);
    assert_net_only(&toml);
    env.profile("10-k", &toml);
    let ns = Netns::new(&env);
    let apply = ns.json(&env, 1, &["apply", "--format", "json"]);
    assert_eq!(field(&apply, "bad", "status"), "error", "{apply:#}");
    let live = part(&apply, "bad", &format!("{PORT_RANGE} (live)"));
    assert_eq!(live["status"], "error");
    assert!(
        live["message"]
            .as_str()
            .unwrap()
            .contains("Invalid argument"),
        "{apply:#}"
    );
    assert!(field(&apply, "bad", "message").contains("Invalid argument"));
    assert_eq!(
        ns.read(PORT_RANGE),
        "32768\t60999\n",
        "the kernel kept its value"
    );
    drop(ns);
    assert_eq!(host_value(PORT_RANGE), host_before);
}

/// A value the kernel just refused must not be written into the boot configuration:
/// systemd-sysctl would fail on it at every boot, and the persist part would then `pass`.
#[test]
fn live_a_value_the_kernel_refuses_is_not_persisted() {
    let env = live_env(NO_BUILTINS);
    let toml = profile("k", &[ctl("bad", PORT_RANGE, "60999 32768", "")]);
    assert_net_only(&toml);
    env.profile("10-k", &toml);
    let ns = Netns::new(&env);
    ns.json(&env, 1, &["apply", "--format", "json"]);
    assert_eq!(
        read_persist(&env),
        None,
        "a value the kernel refused was persisted"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. One-way keys (offline root with a fake kernel tree; plan only)

const KEXEC: &str = "kernel.kexec_load_disabled";

fn kexec_env(extra: &str, value: &str) -> Env {
    let env = offline_env();
    // A plain file standing for the kernel's: a root with proc/sys/kernel has a kernel.
    env.file("/proc/sys/kernel/kexec_load_disabled", b"0\n", 0o644);
    env.profile("10-k", &profile("k", &[ctl("kexec", KEXEC, value, extra)]));
    env
}

#[test]
fn one_way_without_one_way_is_drift_without_a_kernel_write() {
    let env = kexec_env("", "1");
    let tree = env.tree_snapshot();
    let out = env.run(&["plan", "--format", "json"]);
    out.expect_code(1);
    let plan = out.json();
    assert_eq!(field(&plan, "kexec", "status"), "drift", "{plan:#}");
    let live = part(&plan, "kexec", &format!("{KEXEC} (live)"));
    assert_eq!(live["status"], "drift");
    assert!(
        live["message"]
            .as_str()
            .unwrap()
            .contains("cannot be undone until reboot"),
        "{plan:#}"
    );
    assert!(
        !change_targets(&plan, "kexec")
            .iter()
            .any(|t| t == "/proc/sys/kernel/kexec_load_disabled"),
        "{plan:#}"
    );
    assert_same_tree(&tree, &env.tree_snapshot(), "plan");
}

/// Without `one_way = true` nothing may set the key: persisting it sets it at the next boot,
/// which is the same one-way change, just later. `plan` must offer no change at all.
#[test]
fn one_way_without_one_way_is_not_persisted_either() {
    let env = kexec_env("", "1");
    let plan = env.run(&["plan", "--format", "json"]).json();
    assert_eq!(
        change_targets(&plan, "kexec"),
        Vec::<String>::new(),
        "{plan:#}"
    );
    // The same on an image without a kernel tree: the file would lock kexec at first boot.
    let env = offline_env();
    env.profile("10-k", &profile("k", &[ctl("kexec", KEXEC, "1", "")]));
    let plan = env.run(&["plan", "--format", "json"]).json();
    assert_eq!(
        change_targets(&plan, "kexec"),
        Vec::<String>::new(),
        "{plan:#}"
    );
}

/// The guard compares strings: "01" is 1 to the kernel (proc_dointvec parses base 0).
#[test]
fn one_way_guard_is_not_bypassed_by_another_spelling_of_the_value() {
    let env = kexec_env("", "01");
    let plan = env.run(&["plan", "--format", "json"]).json();
    assert!(
        !change_targets(&plan, "kexec")
            .iter()
            .any(|t| t == "/proc/sys/kernel/kexec_load_disabled"),
        "{plan:#}"
    );
}

#[test]
fn one_way_with_one_way_true_plans_the_write_and_says_it_cannot_be_rolled_back() {
    let env = kexec_env("one_way = true\n", "1");
    let tree = env.tree_snapshot();
    let out = env.run(&["plan"]);
    out.expect_code(1);
    assert!(
        out.stdout
            .contains("/proc/sys/kernel/kexec_load_disabled: write \"1\""),
        "{out:?}"
    );
    let plan = env.run(&["plan", "--format", "json"]).json();
    assert!(
        change_targets(&plan, "kexec")
            .iter()
            .any(|t| t == "/proc/sys/kernel/kexec_load_disabled"),
        "{plan:#}"
    );
    assert!(
        field(&plan, "kexec", "message").contains("cannot be rolled back"),
        "{plan:#}"
    );
    assert_same_tree(&tree, &env.tree_snapshot(), "plan");
}

// ---------------------------------------------------------------------------------------------
// 7. Validation

#[test]
fn validate_rejects_two_controls_with_different_values_for_one_key() {
    let env = offline_env();
    env.profile("10-a", &profile("a", &[ctl("rp-strict", RP, "1", "")]));
    // The same key in its slash form, the value as an integer.
    env.profile(
        "20-b",
        "[profile]\nname = \"b\"\n\n[[control]]\nid = \"rp-loose\"\ntitle = \"t\"\nkind = \"sysctl\"\nkey = \"net/ipv4/conf/all/rp_filter\"\nvalue = 2\n",
    );
    let out = env.run(&["validate"]);
    out.expect_code(2);
    assert!(out.stderr.contains("rp-strict"), "{out:?}");
    assert!(out.stderr.contains("rp-loose"), "{out:?}");
    assert!(out.stderr.contains("20-b.toml:"), "{out:?}");
    // check refuses to evaluate anything either.
    env.run(&["check"]).expect_code(2);

    // The same value spelled differently is no contradiction.
    env.profile(
        "20-b",
        "[profile]\nname = \"b\"\n\n[[control]]\nid = \"rp-loose\"\ntitle = \"t\"\nkind = \"sysctl\"\nkey = \"net/ipv4/conf/all/rp_filter\"\nvalue = 1\n",
    );
    env.run(&["validate"]).expect_code(0);
}

#[test]
fn validate_names_file_line_col_of_an_invalid_key() {
    let env = offline_env();
    let text = profile(
        "k",
        &[ctl("ok", RP, "1", ""), ctl("bad", "net..x", "1", "")],
    );
    let line = text
        .lines()
        .position(|l| l == "key = \"net..x\"")
        .expect("the key line")
        + 1;
    let path = env.profile("10-k", &text);
    let out = env.run(&["validate"]);
    out.expect_code(2);
    let want = format!("{}:{line}:7: error", path.display());
    assert!(out.stderr.contains(&want), "want {want}: {out:?}");
    assert!(out.stderr.contains("net..x"), "{out:?}");
    // `validate FILE` on a candidate says the same.
    let cand = env.candidate("k.toml", &text);
    let out = env.run(&["validate", cand.to_str().unwrap()]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains(&format!("{}:{line}:7: error", cand.display())),
        "{out:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 8. The built-in profiles

const BUILTINS: &str = "builtin_profiles = [\"kernel\", \"kubelet-kernel\"]\n";
const KUBELET_PKD: [&str; 6] = [
    "kubelet-pkd-overcommit-memory",
    "kubelet-pkd-panic-on-oom",
    "kubelet-pkd-panic",
    "kubelet-pkd-panic-on-oops",
    "kubelet-pkd-root-maxkeys",
    "kubelet-pkd-root-maxbytes",
];

/// An offline Debian-like root: its own sysctl.d files, which sort before hardend's.
fn builtin_env() -> Env {
    let env = Env::with_config(BUILTINS);
    env.file(
        "/etc/sysctl.conf",
        b"# Debian\n#net.ipv4.ip_forward=1\n",
        0o644,
    );
    env.symlink("/etc/sysctl.d/99-sysctl.conf", "../sysctl.conf");
    env.file(
        "/usr/lib/sysctl.d/99-protect-links.conf",
        b"fs.protected_fifos = 1\nfs.protected_hardlinks = 1\nfs.protected_regular = 2\nfs.protected_symlinks = 1\n",
        0o644,
    );
    env
}

#[test]
fn builtin_kernel_profiles_load_and_validate() {
    let env = builtin_env();
    let out = env.run(&["validate"]);
    out.expect_code(0);
    assert!(out.stdout.contains("valid"), "{out:?}");
}

#[test]
fn builtin_kubelet_kernel_is_not_applicable_without_a_kubelet() {
    let env = builtin_env();
    let check = env.check_json(1, &[]);
    for id in KUBELET_PKD {
        assert_eq!(field(&check, id, "status"), "not-applicable", "{check:#}");
    }
    // The kernel profile is evaluated: no conflict with Debian's files (they sort before
    // 99-zz-hardend.conf), every control only needs persisting on this image.
    let all = statuses(&check);
    let kernel: Vec<_> = all
        .iter()
        .filter(|(id, _)| !id.starts_with("kubelet-pkd-"))
        .collect();
    assert!(kernel.len() > 30, "{all:?}");
    for (id, status) in kernel {
        assert_eq!(status, "drift", "{id}: {check:#}");
    }
}

#[test]
fn builtin_kubelet_kernel_is_evaluated_with_a_kubelet() {
    let env = builtin_env();
    env.file("/usr/bin/kubelet", b"\x7fELF", 0o755);
    let check = env.check_json(1, &[]);
    for id in KUBELET_PKD {
        assert_eq!(field(&check, id, "status"), "drift", "{check:#}");
        assert_eq!(
            part(&check, id, PERSIST)["status"],
            "drift",
            "{id}: {check:#}"
        );
    }
    assert_eq!(
        field(&check, "kubelet-pkd-panic", "expected"),
        "kernel.panic = 10"
    );
    // Applied to the image, the six land in hardend's file with the kernel profile's keys.
    env.apply_json(1, &[]);
    let text = read_persist(&env).expect("persisted");
    for line in [
        "kernel.keys.root_maxbytes = 25000000",
        "kernel.keys.root_maxkeys = 1000000",
        "kernel.panic = 10",
        "kernel.panic_on_oops = 1",
        "vm.overcommit_memory = 1",
        "vm.panic_on_oom = 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
    }
    let keys: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(" = ").next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "sorted by key");
    assert!(text.starts_with(HEADER));
}
