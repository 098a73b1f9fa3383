//! `docker-daemon` against a real dockerd (Debian's docker.io 20.10).
//!
//! One private dockerd serves every live step: it runs in its own mount namespace with a
//! tmpfs on /run/docker and everything else (config, data, exec root, pid file, API socket)
//! under a temporary directory D, so the machine's own dockerd, /etc/docker, /run/docker and
//! /var/lib/docker are never touched. hardend runs on the live host (no `--root`) and finds
//! that dockerd as it finds any: the newest process named `dockerd`, its `--config-file` and
//! `-H unix://` read from /proc/PID/cmdline. Profiles carry no `path`, so daemon.json's path
//! comes from `--config-file`.
//!
//! hardend takes the newest dockerd, so the live steps run one after the other inside one
//! `#[test]`; each sets up the daemon.json and live state it needs, a failing step does not
//! stop the others, and the test fails at the end naming every failed step. Set
//! `HARDEND_DOCKERD_STEPS=name,name` to run only some steps. Before every hardend run that may
//! write, the test checks that the newest `dockerd` is still ours, so a stray dockerd can never
//! make hardend fall back to the host's /etc/docker/daemon.json.
//!
//! Steps: reloadable_key, live_only_drift, fixed_message, start_only_key,
//! run_reverts_tampering, report_policy, errors, conflicts, flag_conflict,
//! value_dockerd_refuses, flag_overrides_absent_ok, untrusted_dockerd (each documented below).
//!
//! The offline-root, trailing-comma and `validate` tests at the end need no dockerd.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{Map, Value};

use common::*;

const DOCKERD: &str = "/usr/sbin/dockerd";
const LR: &str = "dd-live-restore";
const NNP: &str = "dd-no-new-privileges";
const HOSTS: &str = "dd-hosts";
const ICC: &str = "dd-icc";
const UNKNOWN: &str = "dd-unknown-key";
const CONTAINERD: &str = "dd-containerd";
const MCD: &str = "dd-max-concurrent-downloads";

/// Debian's docker.service `ExecStart`.
const DEBIAN_UNIT: &str = "[Unit]\nDescription=Docker Application Container Engine\n\n\
    [Service]\nType=notify\n\
    ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n\
    ExecReload=/bin/kill -s HUP $MAINPID\n";

/// A daemon.json with a nested object, arrays and several keys around `live-restore`, written
/// the way people write it (not hardend's formatting). `None` leaves `live-restore` out.
fn daemon_json(live_restore: Option<bool>) -> String {
    let lr = live_restore.map_or_else(String::new, |v| format!("    \"live-restore\": {v},\n"));
    format!(
        "{{\n    \"debug\": false,\n    \"log-driver\": \"json-file\",\n    \
         \"log-opts\": {{ \"max-size\": \"10m\", \"max-file\": \"3\" }},\n{lr}    \
         \"dns\": [\"192.0.2.53\", \"198.51.100.53\"],\n    \
         \"max-concurrent-downloads\": 4,\n    \"labels\": [\"env=test\", \"tier=ci\"]\n}}\n"
    )
}

/// One `docker-daemon` control; `extra` is more TOML lines (e.g. a `policy`).
fn ctl(id: &str, key: &str, value: &str, extra: &str) -> String {
    format!(
        "\n[[control]]\nid = \"{id}\"\ntitle = \"{id}\"\nkind = \"docker-daemon\"\n\
         key = \"{key}\"\nvalue = {value}\n{extra}"
    )
}

fn profile_text(controls: &[String]) -> String {
    format!(
        "[profile]\nname = \"docker-live\"\ndescription = \"docker-daemon integration test\"\n{}",
        controls.concat()
    )
}

/// The `[[control]]` block of `id` in the shipped profiles/cis-docker.toml.
fn shipped_control(id: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/profiles/cis-docker.toml");
    let text = fs::read_to_string(path).expect("profiles/cis-docker.toml");
    let block = text
        .split("[[control]]")
        .find(|b| b.contains(&format!("id = \"{id}\"")))
        .unwrap_or_else(|| panic!("no {id} in {path}"));
    let block: String = block
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("\n[[control]]{}", block.trim_end()) + "\n"
}

/// Polls `ok` until it holds, panicking with `what` after `secs` seconds.
#[track_caller]
fn wait_until(secs: u64, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn signal(pid: u32, sig: Signal) -> nix::Result<()> {
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), sig)
}

fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_string())
}

/// The process hardend takes for dockerd: the highest pid named `dockerd` (as
/// `components::find_process` chooses it).
fn newest_dockerd() -> Option<u32> {
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| comm(*pid).as_deref() == Some("dockerd"))
        .max()
}

/// Processes whose command line mentions `dir` (only ours: `dir` is a fresh temp dir).
fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let me = std::process::id();
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

/// Waits up to `secs` for a child to exit; its status, or `None` when it still runs.
fn wait_child(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Everything that says a file was left alone: content (or link text), inode, mode, owner,
/// mtime and ctime (lstat: a symlink is described, not followed).
#[derive(Debug, PartialEq)]
struct FileState {
    bytes: Vec<u8>,
    symlink: bool,
    ino: u64,
    mode: u32,
    uid: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileState {
    #[track_caller]
    fn of(p: &Path) -> FileState {
        let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
        let symlink = m.file_type().is_symlink();
        let bytes = if symlink {
            fs::read_link(p)
                .expect("readlink")
                .into_os_string()
                .into_encoded_bytes()
        } else {
            fs::read(p).expect("read")
        };
        FileState {
            bytes,
            symlink,
            ino: m.ino(),
            mode: m.mode(),
            uid: m.uid(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The `parts` of control `id`.
#[track_caller]
fn parts<'a>(report: &'a Value, id: &str) -> &'a Vec<Value> {
    control(report, id)["parts"]
        .as_array()
        .unwrap_or_else(|| panic!("{id} has no parts: {report:#}"))
}

/// The part of control `id` whose target is `target`.
#[track_caller]
fn part<'a>(report: &'a Value, id: &str, target: &str) -> &'a Value {
    parts(report, id)
        .iter()
        .find(|p| p["target"] == target)
        .unwrap_or_else(|| panic!("{id} has no part for {target}: {report:#}"))
}

/// The live part (`dockerd pid N (live)`) of control `id`.
#[track_caller]
fn live_part<'a>(report: &'a Value, id: &str) -> &'a Value {
    parts(report, id)
        .iter()
        .find(|p| p["target"].as_str().is_some_and(|t| t.ends_with("(live)")))
        .unwrap_or_else(|| panic!("{id} has no live part: {report:#}"))
}

/// daemon.json parsed (key order kept: serde_json has `preserve_order` here).
#[track_caller]
fn read_json(p: &Path) -> Map<String, Value> {
    let text = fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()));
    match serde_json::from_str(&text) {
        Ok(Value::Object(m)) => m,
        other => panic!("{} is not a JSON object ({other:?}):\n{text}", p.display()),
    }
}

fn keys(m: &Map<String, Value>) -> Vec<&str> {
    m.keys().map(String::as_str).collect()
}

/// `line:col` right after `prefix:` in `message`, if there.
fn line_col_after(message: &str, prefix: &str) -> Option<(u32, u32)> {
    let rest = &message[message.find(&format!("{prefix}:"))? + prefix.len() + 1..];
    let mut it = rest.splitn(3, ':');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// A private dockerd under `dir` (see the module comment).
struct PrivateDockerd {
    dir: PathBuf,
    child: Child,
    pid: u32,
    extra: Vec<String>,
    /// daemon.json as dockerd read it at start.
    config_at_start: String,
}

impl PrivateDockerd {
    /// Starts dockerd; `Err` with its log when it does not come up (e.g. it refuses daemon.json).
    fn start(dir: &Path, extra: &[&str]) -> Result<PrivateDockerd, String> {
        let p = |name: &str| dir.join(name).display().to_string();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .expect("open dockerd.log");
        let _ = fs::remove_file(dir.join("docker.pid"));
        let config_at_start = fs::read_to_string(dir.join("daemon.json")).unwrap_or_default();
        let host = format!("unix://{}", p("docker.sock"));
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg("mkdir -p /run/docker && mount -t tmpfs tmpfs /run/docker && exec \"$@\"")
            .args(["sh", DOCKERD, "--config-file", &p("daemon.json")])
            .args(["--data-root", &p("data"), "--exec-root", &p("exec")])
            .args(["--pidfile", &p("docker.pid"), "-H", &host])
            .args(["--iptables=false", "--bridge=none"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn unshare ... dockerd");
        // unshare and sh exec: the child is dockerd itself.
        let pid = child.id();
        let mut d = PrivateDockerd {
            dir: dir.to_path_buf(),
            child,
            pid,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            config_at_start,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!(
                    "dockerd {extra:?} exited during start-up ({status}); its log ends:\n{}",
                    d.log_tail()
                ));
            }
            if dir.join("docker.pid").exists()
                && UnixStream::connect(dir.join("docker.sock")).is_ok()
            {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "dockerd did not start in 60 s; its log ends:\n{}",
                    d.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let from_file = fs::read_to_string(dir.join("docker.pid")).expect("docker.pid");
        assert_eq!(
            from_file.trim(),
            pid.to_string(),
            "dockerd is not the child"
        );
        assert_eq!(comm(pid).as_deref(), Some("dockerd"));
        Ok(d)
    }

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// SIGTERM, wait for the exit; SIGKILL (dockerd and the containerd it started) if it hangs.
    fn stop(&mut self) {
        if self.running() {
            let _ = signal(self.pid, Signal::SIGTERM);
            if wait_child(&mut self.child, 30).is_none() {
                let _ = signal(self.pid, Signal::SIGKILL);
                let _ = self.child.wait();
            }
        }
        for pid in processes_mentioning(&self.dir.join("exec")) {
            let _ = signal(pid, Signal::SIGKILL);
        }
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `hardend run` in the background, its stderr in a file.
struct RunningHardend {
    child: Child,
    stderr: PathBuf,
}

impl RunningHardend {
    fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn events(&self, kind: &str) -> Vec<String> {
        let prefix = format!("hardend: {kind} ");
        self.stderr()
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(str::to_string)
            .collect()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RunningHardend {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The live test's world: D, its dockerd and the docker CLI.
struct Live {
    dockerd: Option<PrivateDockerd>,
    d: PathBuf,
    cli: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Live {
    fn new() -> Live {
        let tmp = tempfile::Builder::new()
            .prefix("hdd")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let d = tmp.path().canonicalize().expect("canonical");
        chmod(&d, 0o755);
        for sub in ["profiles.d", "cli"] {
            fs::create_dir(d.join(sub)).expect("mkdir");
            chmod(&d.join(sub), 0o755);
        }
        fs::write(d.join("hardend.toml"), NO_BUILTINS).expect("settings");
        fs::write(
            d.join("enforce.toml"),
            format!("{NO_BUILTINS}enforce = true\n"),
        )
        .expect("settings");
        chmod(&d.join("hardend.toml"), 0o644);
        chmod(&d.join("enforce.toml"), 0o644);
        let cli = ["/usr/local/bin/docker", "/usr/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .expect("the docker CLI (/usr/local/bin/docker or /usr/bin/docker)");
        let mut live = Live {
            dockerd: None,
            d,
            cli,
            _tmp: tmp,
        };
        live.write_daemon_json(&daemon_json(Some(false)));
        live.ensure(&[]);
        live
    }

    fn daemon_json(&self) -> PathBuf {
        self.d.join("daemon.json")
    }

    fn daemon_json_str(&self) -> String {
        self.daemon_json().display().to_string()
    }

    /// Our dockerd runs with exactly `extra` beyond the base flags; (re)started otherwise.
    fn ensure(&mut self, extra: &[&str]) {
        let ok = self
            .dockerd
            .as_mut()
            .is_some_and(|d| d.running() && d.extra == extra);
        if !ok {
            self.restart(extra);
        }
    }

    #[track_caller]
    fn restart(&mut self, extra: &[&str]) {
        if let Err(e) = self.try_restart(extra) {
            panic!("{e}");
        }
    }

    /// Stops our dockerd and starts it again with the base flags and `extra`, as an admin's
    /// `systemctl restart docker` would.
    fn try_restart(&mut self, extra: &[&str]) -> Result<(), String> {
        if let Some(mut old) = self.dockerd.take() {
            old.stop();
        }
        self.dockerd = Some(PrivateDockerd::start(&self.d, extra)?);
        // The API answers once the socket does; the CLI confirms.
        wait_until(30, "docker info to answer", || {
            self.try_info("{{.ID}}").is_some()
        });
        Ok(())
    }

    /// A step's starting point: daemon.json is `text`, dockerd runs with the base flags and
    /// `extra` and has reloaded `text` (its live `live-restore` shows it).
    #[track_caller]
    fn reset(&mut self, text: &str, extra: &[&str]) {
        self.write_daemon_json(text);
        self.ensure(extra);
        let doc: Value = serde_json::from_str(text).expect("a valid daemon.json");
        let on = doc["live-restore"] == true || extra.contains(&"--live-restore");
        self.reload_and_wait(if on { "true" } else { "false" });
    }

    fn pid(&self) -> u32 {
        self.dockerd.as_ref().expect("dockerd started").pid
    }

    /// Whether our dockerd read `key: true` from daemon.json when it started.
    fn started_with(&self, key: &str) -> bool {
        let d = self.dockerd.as_ref().expect("dockerd started");
        serde_json::from_str::<Value>(&d.config_at_start).is_ok_and(|v| v[key] == true)
    }

    /// The checks that keep hardend on our dockerd (and off the host's /etc/docker).
    #[track_caller]
    fn preflight(&mut self) {
        let d = self.dockerd.as_mut().expect("dockerd started");
        assert!(
            d.running(),
            "our dockerd died; its log ends:\n{}",
            d.log_tail()
        );
        let pid = d.pid;
        assert_eq!(
            newest_dockerd(),
            Some(pid),
            "another process named dockerd is newer than ours (pid {pid}): hardend would manage it \
             instead; stop it and run again"
        );
    }

    fn globals(&self, config: &str) -> Vec<String> {
        vec![
            "--profiles".into(),
            self.d.join("profiles.d").display().to_string(),
            "--state-dir".into(),
            self.d.join("state").display().to_string(),
            "--config".into(),
            self.d.join(config).display().to_string(),
        ]
    }

    /// `hardend GLOBALS ARGS` on the live host, after the preflight.
    #[track_caller]
    fn hardend(&mut self, args: &[&str]) -> Out {
        self.preflight();
        self.hardend_unchecked(args)
    }

    fn hardend_unchecked(&self, args: &[&str]) -> Out {
        let mut all = self.globals("hardend.toml");
        all.extend(args.iter().map(|s| s.to_string()));
        run_raw(&all, &[])
    }

    /// `hardend ARGS --format json`, its exit code asserted.
    #[track_caller]
    fn json(&mut self, code: i32, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.hardend(&all);
        out.expect_code(code);
        out.json()
    }

    fn spawn_run(&mut self) -> RunningHardend {
        self.preflight();
        let stderr = self.d.join("run.stderr");
        let _ = fs::remove_file(self.d.join("state").join("status.json"));
        let mut args = self.globals("enforce.toml");
        args.push("run".into());
        let child = Command::new(BIN)
            .args(&args)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&stderr).expect("run.stderr"))
            .spawn()
            .expect("spawn hardend run");
        RunningHardend { child, stderr }
    }

    /// profiles.d holds exactly this one profile (root-owned 0644).
    fn profile(&self, controls: &[String]) {
        let dir = self.d.join("profiles.d");
        for e in fs::read_dir(&dir).expect("profiles.d") {
            fs::remove_file(e.expect("entry").path()).expect("rm profile");
        }
        let p = dir.join("10-docker.toml");
        fs::write(&p, profile_text(controls)).expect("write profile");
        chmod(&p, 0o644);
    }

    /// daemon.json as a fresh regular file, root:root 0640.
    fn write_daemon_json(&self, text: &str) {
        let p = self.daemon_json();
        let _ = fs::remove_file(&p);
        fs::write(&p, text).expect("write daemon.json");
        chmod(&p, 0o640);
    }

    /// daemon.json replaced as an editor saves: a new file renamed over it.
    fn replace_daemon_json(&self, text: &str) {
        let tmp = self.d.join(".daemon.json.swp");
        fs::write(&tmp, text).expect("write temp");
        chmod(&tmp, 0o640);
        fs::rename(&tmp, self.daemon_json()).expect("rename over daemon.json");
    }

    fn try_info(&self, format: &str) -> Option<String> {
        let sock = format!("unix://{}", self.d.join("docker.sock").display());
        let out = Command::new(&self.cli)
            .env("DOCKER_CONFIG", self.d.join("cli"))
            .args(["-H", &sock, "info", "--format", format])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// `docker info --format FORMAT` of our dockerd.
    #[track_caller]
    fn info(&self, format: &str) -> String {
        self.try_info(format)
            .unwrap_or_else(|| panic!("docker info --format {format} failed"))
    }

    fn live_restore(&self) -> String {
        self.info("{{.LiveRestoreEnabled}}")
    }

    /// SIGHUPs dockerd has received (it logs each).
    fn reloads(&self) -> usize {
        fs::read_to_string(self.d.join("dockerd.log"))
            .unwrap_or_default()
            .matches("Got signal to reload configuration")
            .count()
    }

    /// Reloads dockerd as `systemctl reload docker` does and waits for `live-restore`.
    #[track_caller]
    fn reload_and_wait(&self, live_restore: &str) {
        let before = self.reloads();
        signal(self.pid(), Signal::SIGHUP).expect("SIGHUP dockerd");
        wait_until(10, "dockerd to log the reload", || self.reloads() > before);
        wait_until(10, &format!("live-restore = {live_restore}"), || {
            self.live_restore() == live_restore
        });
    }

    /// `live-restore` in daemon.json now.
    fn file_live_restore(&self) -> Option<bool> {
        let text = fs::read_to_string(self.daemon_json()).ok()?;
        serde_json::from_str::<Value>(&text).ok()?["live-restore"].as_bool()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut d) = self.dockerd.take() {
            d.stop();
        }
    }
}

/// Step 1: a reloadable key is written with every other key kept, applied by one SIGHUP and
/// confirmed from dockerd's live state; rollback restores the original bytes.
fn reloadable_key(l: &mut Live) {
    let original = daemon_json(Some(false));
    l.reset(&original, &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let pid = l.pid();
    let path = l.daemon_json_str();
    let live_target = format!("dockerd pid {pid} (live)");

    let report = l.json(1, &["check"]);
    assert_eq!(field(&report, LR, "status"), "drift", "{report:#}");
    assert_eq!(
        field(&report, LR, "target"),
        path,
        "path from --config-file"
    );
    let file = part(&report, LR, &path);
    assert_eq!(file["status"], "drift", "{report:#}");
    assert_eq!(file["actual"], "live-restore = false", "{report:#}");
    let live = part(&report, LR, &live_target);
    assert_eq!(live["status"], "drift", "{report:#}");
    assert_eq!(live["actual"], "live-restore = false", "{report:#}");

    let hups = l.reloads();
    let report = l.json(0, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "fixed", "{report:#}");
    assert_eq!(
        control(&report, LR)["restart_required"],
        false,
        "{report:#}"
    );
    assert_eq!(part(&report, LR, &path)["status"], "fixed", "{report:#}");
    assert_eq!(
        part(&report, LR, &live_target)["status"],
        "fixed",
        "{report:#}"
    );

    // Every other key kept, with its value and in its place; nested objects too.
    let before: Map<String, Value> = serde_json::from_str(&original).expect("original JSON");
    let after = read_json(&l.daemon_json());
    assert_eq!(keys(&after), keys(&before), "key order changed");
    for (k, v) in &before {
        let want = if k == "live-restore" {
            &Value::Bool(true)
        } else {
            v
        };
        assert_eq!(&after[k], want, "daemon.json key {k}");
    }
    assert_eq!(
        keys(after["log-opts"].as_object().expect("log-opts object")),
        ["max-size", "max-file"]
    );
    let meta = fs::metadata(l.daemon_json()).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o640, "daemon.json mode kept");
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "daemon.json owner kept");

    // One SIGHUP to the same dockerd, and the live state shows the value.
    assert_eq!(l.reloads(), hups + 1, "dockerd reloaded exactly once");
    assert_eq!(l.pid(), pid);
    l.preflight();
    assert_eq!(l.live_restore(), "true", "docker info after apply");

    let report = l.json(0, &["check"]);
    assert_eq!(field(&report, LR, "status"), "pass", "{report:#}");
    for p in parts(&report, LR) {
        assert_eq!(p["status"], "pass", "{report:#}");
    }

    // The original went to the store first: rollback restores it byte for byte.
    l.hardend(&["rollback", "--control", LR]).expect_code(0);
    assert_eq!(
        fs::read_to_string(l.daemon_json()).expect("read"),
        original,
        "rollback restores the original daemon.json"
    );
    assert_eq!(mode_of(&l.daemon_json()), 0o640);
}

/// Step 1b: the file is right but dockerd runs with another value (edited without a reload):
/// apply reloads dockerd and leaves the file alone.
fn live_only_drift(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.write_daemon_json(&daemon_json(Some(true)));
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let path = l.daemon_json_str();
    let before = FileState::of(&l.daemon_json());
    let report = l.json(1, &["check"]);
    assert_eq!(part(&report, LR, &path)["status"], "pass", "{report:#}");
    assert_eq!(live_part(&report, LR)["status"], "drift", "{report:#}");
    let hups = l.reloads();
    let report = l.json(0, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "fixed", "{report:#}");
    assert_eq!(live_part(&report, LR)["status"], "fixed", "{report:#}");
    assert_eq!(l.reloads(), hups + 1, "one SIGHUP");
    assert_eq!(l.live_restore(), "true");
    assert_eq!(
        FileState::of(&l.daemon_json()),
        before,
        "a right file was rewritten"
    );
}

/// Step 1c: the message of a fixed two-part control reads as a sentence (it ended in a
/// dangling "…(live): " when the fixed parts have no message).
fn fixed_message(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let report = l.json(0, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "fixed", "{report:#}");
    let msg = field(&report, LR, "message");
    assert!(
        !msg.trim_end().ends_with(':'),
        "the message of a fixed control ends in a dangling colon: {msg:?}"
    );
}

/// Step 2: a start-only key is written and flagged as waiting for a restart; dockerd keeps
/// running (same pid) until it restarts, and after the restart the flag is gone.
fn start_only_key(l: &mut Live) {
    let original = daemon_json(Some(true));
    l.write_daemon_json(&original);
    if l.started_with("no-new-privileges") {
        l.restart(&[]);
    }
    l.reset(&original, &[]);
    l.profile(&[ctl(NNP, "no-new-privileges", "true", "")]);
    let pid = l.pid();
    let path = l.daemon_json_str();

    let report = l.json(1, &["check"]);
    assert_eq!(field(&report, NNP, "status"), "drift", "{report:#}");
    assert_eq!(
        control(&report, NNP)["restart_required"],
        true,
        "{report:#}"
    );

    let report = l.json(0, &["apply"]);
    let c = control(&report, NNP);
    assert_eq!(c["status"], "fixed", "{report:#}");
    assert_eq!(c["restart_required"], true, "{report:#}");
    assert!(
        field(&report, NNP, "message").contains("restart"),
        "the control's message tells about the restart: {report:#}"
    );
    assert_eq!(part(&report, NNP, &path)["status"], "fixed", "{report:#}");
    let live = live_part(&report, NNP);
    assert_eq!(live["restart_required"], true, "{report:#}");
    let msg = live["message"].as_str().expect("message");
    assert!(
        msg.contains("only at start"),
        "the live part says the value waits for a restart: {msg}"
    );

    // Written at the end, every other key kept.
    let before: Map<String, Value> = serde_json::from_str(&original).expect("JSON");
    let after = read_json(&l.daemon_json());
    let mut want_keys = keys(&before);
    want_keys.push("no-new-privileges");
    assert_eq!(keys(&after), want_keys);
    assert_eq!(after["no-new-privileges"], true);
    for (k, v) in &before {
        assert_eq!(&after[k], v, "daemon.json key {k}");
    }

    // Not restarted: the same process runs on.
    l.preflight();
    assert_eq!(l.pid(), pid, "dockerd was restarted");

    let report = l.json(0, &["check"]);
    assert_eq!(field(&report, NNP, "status"), "pass", "{report:#}");
    assert_eq!(
        control(&report, NNP)["restart_required"],
        true,
        "{report:#}"
    );
    assert!(
        field(&report, NNP, "message").contains("restart"),
        "{report:#}"
    );

    // The admin restarts dockerd (hardend never does): it reads daemon.json, with
    // no-new-privileges, at this start, so nothing waits for a restart any more.
    l.restart(&[]);
    assert!(l.started_with("no-new-privileges"));
    let report = l.json(0, &["check"]);
    assert_eq!(field(&report, NNP, "status"), "pass", "{report:#}");
    let live = live_part(&report, NNP);
    assert_eq!(
        control(&report, NNP)["restart_required"],
        false,
        "dockerd (pid {}) was restarted after daemon.json got no-new-privileges: true, yet \
         hardend still says it waits for a restart; docker info's SecurityOptions are {}; \
         live part: {live:#}",
        l.pid(),
        l.info("{{json .SecurityOptions}}"),
    );
    assert_eq!(live["status"], "pass", "{report:#}");
}

/// Step 3: `hardend run` with `enforce = true` converges at start (file + SIGHUP), then puts
/// back a daemon.json an editor replaced, and reloads dockerd when it runs with the tampered
/// value; SIGTERM stops it with exit 0.
fn run_reverts_tampering(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let pid = l.pid();
    let path = l.daemon_json_str();

    let mut run = l.spawn_run();
    let show = |run: &RunningHardend| format!("daemon stderr:\n{}", run.stderr());
    wait_until(
        20,
        "the daemon's first convergence (file and live state)",
        || l.file_live_restore() == Some(true) && l.live_restore() == "true",
    );
    let status_file = l.d.join("state").join("status.json");
    wait_until(10, "the daemon's status file (watches armed)", || {
        status_file.exists()
    });

    // An editor's save: a new file renamed over daemon.json.
    let n = run.events("drift-reverted").len();
    l.replace_daemon_json(&daemon_json(Some(false)));
    wait_until(10, "the daemon to revert the editor's save", || {
        l.file_live_restore() == Some(true) && run.events("drift-reverted").len() > n
    });
    let line = run
        .events("drift-reverted")
        .pop()
        .expect("a drift-reverted line");
    assert!(line.contains(&format!("control=\"{LR}\"")), "{line}");
    assert!(line.contains(&format!("target=\"{path}\"")), "{line}");
    assert!(line.contains("action=\"reverted\""), "{line}");
    assert_eq!(l.live_restore(), "true", "{}", show(&run));

    // The tamperer also reloads dockerd (`systemctl reload docker`). The daemon is paused
    // meanwhile so that it finds dockerd running with the tampered value: its revert must
    // reload dockerd, not only put the file back.
    let n = run.events("drift-reverted").len();
    signal(run.pid(), Signal::SIGSTOP).expect("SIGSTOP hardend");
    l.replace_daemon_json(&daemon_json(Some(false)));
    l.reload_and_wait("false");
    let hups = l.reloads();
    signal(run.pid(), Signal::SIGCONT).expect("SIGCONT hardend");
    wait_until(
        10,
        "the daemon to revert the file and reload dockerd",
        || {
            l.file_live_restore() == Some(true)
                && l.live_restore() == "true"
                && run.events("drift-reverted").len() > n
        },
    );
    assert!(l.reloads() > hups, "the daemon sent SIGHUP");
    assert_eq!(l.pid(), pid, "dockerd was restarted");
    assert!(
        run.events("fight").is_empty(),
        "two tampers are no fight; {}",
        show(&run)
    );

    signal(run.pid(), Signal::SIGTERM).expect("SIGTERM hardend");
    let status = wait_child(&mut run.child, 15).expect("hardend run stops after SIGTERM");
    assert_eq!(status.code(), Some(0), "{}", show(&run));
    l.preflight();
    let after = read_json(&l.daemon_json());
    let before: Map<String, Value> = serde_json::from_str(&daemon_json(Some(true))).expect("JSON");
    assert_eq!(after, before, "the revert keeps every other key");
    assert_eq!(keys(&after), keys(&before));
}

/// Step 4: a `report`-policy control is not applied by a plain `apply`: no write, no signal.
fn report_policy(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "policy = \"report\"\n")]);
    let pid = l.pid();
    let before = FileState::of(&l.daemon_json());
    let hups = l.reloads();

    let report = l.json(1, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "drift", "{report:#}");
    assert!(
        field(&report, LR, "message").contains("report policy"),
        "{report:#}"
    );
    assert_eq!(
        FileState::of(&l.daemon_json()),
        before,
        "daemon.json changed"
    );
    assert_eq!(l.reloads(), hups, "dockerd got a SIGHUP");
    assert_eq!(l.pid(), pid);
    assert_eq!(l.live_restore(), "false");

    // Named, it is applied.
    let report = l.json(0, &["apply", "--control", LR]);
    assert_eq!(field(&report, LR, "status"), "fixed", "{report:#}");
    assert_eq!(l.live_restore(), "true");
}

/// Step 5: daemon.json that dockerd could not read (comment, trailing comma) or a symlink is
/// an `error`; nothing is written and dockerd is not signalled.
fn errors(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let path = l.daemon_json_str();
    let hups = l.reloads();

    // A comment at line 3, column 3.
    l.write_daemon_json("{\n  \"debug\": false,\n  // x\n  \"live-restore\": false\n}\n");
    let before = FileState::of(&l.daemon_json());
    let report = l.json(1, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "error", "{report:#}");
    let msg = field(&report, LR, "message");
    assert_eq!(line_col_after(msg, &path), Some((3, 3)), "{msg}");
    assert_eq!(FileState::of(&l.daemon_json()), before, "rewritten");

    // A trailing comma. (Which line:col: `trailing_comma_is_located_at_the_comma`.)
    l.write_daemon_json("{\n  \"debug\": false,\n  \"live-restore\": false,\n}\n");
    let before = FileState::of(&l.daemon_json());
    let report = l.json(1, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "error", "{report:#}");
    let msg = field(&report, LR, "message");
    assert!(
        line_col_after(msg, &path).is_some(),
        "no {path}:LINE:COL in: {msg}"
    );
    assert!(msg.contains("trailing comma"), "{msg}");
    assert_eq!(FileState::of(&l.daemon_json()), before, "rewritten");

    // A symlink: reported, neither the link nor its target touched.
    let real = l.d.join("real-daemon.json");
    fs::write(&real, daemon_json(Some(false))).expect("write target");
    chmod(&real, 0o644);
    fs::remove_file(l.daemon_json()).expect("rm");
    std::os::unix::fs::symlink("real-daemon.json", l.daemon_json()).expect("symlink");
    let link_before = FileState::of(&l.daemon_json());
    let real_before = FileState::of(&real);
    let report = l.json(1, &["apply"]);
    assert_eq!(field(&report, LR, "status"), "error", "{report:#}");
    assert!(field(&report, LR, "message").contains("link"), "{report:#}");
    assert_eq!(
        FileState::of(&l.daemon_json()),
        link_before,
        "the link changed"
    );
    assert_eq!(
        FileState::of(&real),
        real_before,
        "the link's target changed"
    );
    assert_eq!(l.reloads(), hups, "dockerd got a SIGHUP");
    assert_eq!(l.live_restore(), "false");
}

/// Step 6: options that would stop dockerd from starting are a `conflict` and never written:
/// `hosts` (dockerd runs with `-H unix://…`), `icc: false` (it runs with `--iptables=false`),
/// a key dockerd does not know.
fn conflicts(l: &mut Live) {
    l.reset(&daemon_json(Some(true)), &[]);
    l.profile(&[
        ctl(HOSTS, "hosts", "[\"unix:///run/hdtest.sock\"]", ""),
        ctl(ICC, "icc", "false", ""),
        ctl(UNKNOWN, "no-such-option", "true", ""),
    ]);
    let pid = l.pid();
    let before = FileState::of(&l.daemon_json());
    let hups = l.reloads();
    for cmd in ["check", "apply"] {
        let report = l.json(1, &[cmd]);
        assert_eq!(
            statuses(&report),
            expect_statuses(&[
                (HOSTS, "conflict"),
                (ICC, "conflict"),
                (UNKNOWN, "conflict")
            ]),
            "{cmd}: {report:#}"
        );
        assert!(
            field(&report, HOSTS, "message").contains("--host"),
            "{report:#}"
        );
        assert!(
            field(&report, ICC, "message").contains("iptables"),
            "{report:#}"
        );
        assert!(
            field(&report, UNKNOWN, "message").contains("no-such-option"),
            "{report:#}"
        );
    }
    assert_eq!(
        FileState::of(&l.daemon_json()),
        before,
        "daemon.json changed"
    );
    assert_eq!(l.reloads(), hups, "dockerd got a SIGHUP");
    assert_eq!(l.pid(), pid);
}

/// Step 7: dockerd started with `--live-restore`: `live-restore` in daemon.json would stop it
/// from starting (and reloading), so the control is a conflict and nothing is written.
fn flag_conflict(l: &mut Live) {
    l.reset(&daemon_json(None), &["--live-restore"]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    let pid = l.pid();
    let before = FileState::of(&l.daemon_json());
    let hups = l.reloads();
    for cmd in ["check", "apply"] {
        let report = l.json(1, &[cmd]);
        assert_eq!(
            field(&report, LR, "status"),
            "conflict",
            "{cmd}: {report:#}"
        );
        assert!(
            field(&report, LR, "message").contains("--live-restore"),
            "{report:#}"
        );
    }
    assert_eq!(
        FileState::of(&l.daemon_json()),
        before,
        "daemon.json changed"
    );
    assert_eq!(l.reloads(), hups, "dockerd got a SIGHUP");
    assert_eq!(l.pid(), pid);
}

/// Step 8: a value dockerd refuses (`max-concurrent-downloads: -1`, "invalid max concurrent
/// downloads") is not `fixed` when the reload is refused, and hardend does not leave a
/// daemon.json behind that stops dockerd from starting.
fn value_dockerd_refuses(l: &mut Live) {
    let original = daemon_json(Some(true));
    l.reset(&original, &[]);
    l.profile(&[ctl(MCD, "max-concurrent-downloads", "-1", "")]);
    let out = l.hardend(&["apply", "--format", "json"]);
    // Rejecting the profile (exit 2, no report) would be a fine answer too.
    let status = match serde_json::from_str::<Value>(&out.stdout) {
        Ok(report) => field(&report, MCD, "status").to_string(),
        Err(_) => format!("no report, exit {:?}: {}", out.code, out.stderr.trim()),
    };
    let left = fs::read_to_string(l.daemon_json()).expect("read");
    let refused = fs::read_to_string(l.d.join("dockerd.log"))
        .unwrap_or_default()
        .lines()
        .rev()
        .find(|x| x.contains("validation failed") || x.contains("Error reconfiguring"))
        .map(str::to_string);
    // The consequence: the admin's next `systemctl restart docker`.
    let restart = l.try_restart(&[]);
    l.write_daemon_json(&original);
    if restart.is_err() {
        l.restart(&[]);
    }
    let mut problems = Vec::new();
    if status == "fixed" {
        problems.push(format!(
            "dockerd refused the reload ({}), yet apply says fixed (exit {:?})",
            refused.as_deref().unwrap_or("no log line"),
            out.code
        ));
    }
    if let Err(e) = restart {
        problems.push(format!(
            "after apply ({status}) dockerd no longer starts with the daemon.json hardend \
             left:\n{left}{}",
            e.lines().last().unwrap_or_default()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Step 8b: a flag on dockerd's command line decides over an absent key: dockerd runs with
/// `--iptables=false`, so the shipped cis-docker-2.4 (`iptables = true`, `absent_ok = true`)
/// does not pass; writing the key would stop dockerd (flag and file), so it is a conflict.
fn flag_overrides_absent_ok(l: &mut Live) {
    l.reset(&daemon_json(Some(true)), &[]);
    let shipped = shipped_control("cis-docker-2.4");
    assert!(shipped.contains("absent_ok = true"), "{shipped}");
    l.profile(&[shipped]);
    let before = FileState::of(&l.daemon_json());
    let out = l.hardend(&["check", "--format", "json"]);
    let report = out.json();
    let c = control(&report, "cis-docker-2.4");
    assert_eq!(
        c["status"],
        "conflict",
        "dockerd (pid {}) runs with --iptables=false and daemon.json has no `iptables`, yet \
         check says {} (exit {:?}), actual {}",
        l.pid(),
        c["status"],
        out.code,
        c["actual"]
    );
    out.expect_code(1);
    assert!(field(&report, "cis-docker-2.4", "message").contains("--iptables"));
    l.json(1, &["apply"]);
    assert_eq!(
        FileState::of(&l.daemon_json()),
        before,
        "daemon.json changed"
    );
}

/// Step 9: an unprivileged user's process named `dockerd` must not choose what hardend (root)
/// edits. The user's process runs as nobody with `--config-file` naming a root-owned JSON file
/// (here inside D, so nothing outside D can be written whatever hardend does). hardend must
/// keep managing the root dockerd's daemon.json and leave the other file alone.
fn untrusted_dockerd(l: &mut Live) {
    l.reset(&daemon_json(Some(false)), &[]);
    l.profile(&[ctl(LR, "live-restore", "true", "")]);
    l.preflight();
    let victim = l.d.join("victim.json");
    fs::write(&victim, "{\"owner\": \"root\"}\n").expect("victim");
    chmod(&victim, 0o644);
    let fake_dir = l.d.join("fake");
    let _ = fs::create_dir(&fake_dir);
    chmod(&fake_dir, 0o755);
    let fake = fake_dir.join("dockerd");
    fs::copy("/bin/sh", &fake).expect("copy sh");
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
    // `sh -c 'read x'` waits on its stdin: a process named dockerd (comm) with the user's
    // command line, no children.
    let fake_sock = format!("unix://{}", l.d.join("fake.sock").display());
    let mut user = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&fake)
        .args(["-c", "read x", "dockerd", "--config-file"])
        .arg(&victim)
        .args(["-H", &fake_sock])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the user's fake dockerd");
    struct Reap(Child, Option<ChildStdin>);
    impl Drop for Reap {
        fn drop(&mut self) {
            drop(self.1.take());
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdin = user.stdin.take();
    let user = Reap(user, stdin);
    let upid = user.0.id();
    wait_until(5, "the fake to be named dockerd", || {
        comm(upid).as_deref() == Some("dockerd")
    });
    let uid = fs::metadata(format!("/proc/{upid}")).expect("proc").uid();
    assert_eq!(uid, 65534, "the fake runs as nobody");
    assert_eq!(
        newest_dockerd(),
        Some(upid),
        "the user's process is the newest dockerd"
    );
    let dockerd = l.dockerd.as_mut().expect("dockerd");
    assert!(dockerd.running(), "our dockerd runs");

    let victim_before = FileState::of(&victim);
    let check = l.hardend_unchecked(&["check", "--format", "json"]);
    let apply = l.hardend_unchecked(&["apply", "--format", "json"]);
    let victim_after = FileState::of(&victim);
    let victim_text = String::from_utf8_lossy(&victim_after.bytes).into_owned();
    drop(user);

    let report = check.json();
    assert_eq!(
        field(&report, LR, "target"),
        l.daemon_json_str(),
        "hardend took a process of uid 65534 named dockerd for the Docker daemon and its \
         --config-file for daemon.json: check targets {}; after apply that root-owned file \
         reads {victim_text:?}",
        field(&report, LR, "target"),
    );
    assert_eq!(
        victim_after,
        victim_before,
        "hardend rewrote {}",
        victim.display()
    );
    apply.expect_code(0);
    assert_eq!(l.live_restore(), "true");
}

type Step = (&'static str, fn(&mut Live));

const STEPS: &[Step] = &[
    ("reloadable_key", reloadable_key),
    ("live_only_drift", live_only_drift),
    ("fixed_message", fixed_message),
    ("start_only_key", start_only_key),
    ("run_reverts_tampering", run_reverts_tampering),
    ("report_policy", report_policy),
    ("errors", errors),
    ("conflicts", conflicts),
    ("flag_conflict", flag_conflict),
    ("value_dockerd_refuses", value_dockerd_refuses),
    ("flag_overrides_absent_ok", flag_overrides_absent_ok),
    ("untrusted_dockerd", untrusted_dockerd),
];

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// The host's /etc/docker, described (never changed by these tests).
fn host_etc_docker() -> Option<Snapshot> {
    Path::new("/etc/docker")
        .exists()
        .then(|| Snapshot::of(Path::new("/etc/docker")))
}

#[test]
fn docker_daemon_against_a_real_dockerd() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the dockerd tests run as root"
    );
    assert!(
        Path::new(DOCKERD).exists(),
        "{DOCKERD} is missing: apt-get install docker.io"
    );
    let etc_docker = host_etc_docker();
    let only: Option<Vec<String>> = std::env::var("HARDEND_DOCKERD_STEPS")
        .ok()
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    let started = Instant::now();
    let mut live = Live::new();
    eprintln!("dockerd up in {:.1?}", started.elapsed());
    let mut failed = Vec::new();
    for (name, step) in STEPS {
        if only.as_ref().is_some_and(|o| !o.iter().any(|x| x == name)) {
            continue;
        }
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| step(&mut live)));
        let verdict = if result.is_ok() { "ok" } else { "FAILED" };
        eprintln!("step {name}: {verdict} ({:.1?})", t.elapsed());
        if let Err(e) = result {
            failed.push(format!("{name}: {}", panic_text(&*e)));
        }
    }
    drop(live);
    eprintln!("all steps and teardown in {:.1?}", started.elapsed());
    assert!(
        host_etc_docker() == etc_docker,
        "the host's /etc/docker changed"
    );
    assert!(
        failed.is_empty(),
        "{} live step(s) failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

/// An offline root is judged by the dockerd its unit would start: Debian's
/// `ExecStart=/usr/sbin/dockerd -H fd:// --containerd=…` makes `hosts` and `containerd` a
/// conflict; `live-restore` is written, its live part `skipped`.
#[test]
fn offline_root_judged_by_the_unit_and_live_part_skipped() {
    let env = Env::new();
    env.file("/usr/sbin/dockerd", b"", 0o755);
    env.file(
        "/usr/lib/systemd/system/docker.service",
        DEBIAN_UNIT.as_bytes(),
        0o644,
    );
    let original = daemon_json(Some(false));
    let json = env.file("/etc/docker/daemon.json", original.as_bytes(), 0o644);
    env.profile(
        "10-docker",
        &profile_text(&[
            ctl(HOSTS, "hosts", "[\"unix:///run/docker.sock\"]", ""),
            ctl(
                CONTAINERD,
                "containerd",
                "\"/run/containerd/containerd.sock\"",
                "",
            ),
            ctl(LR, "live-restore", "true", ""),
        ]),
    );
    let unit = "ExecStart of /usr/lib/systemd/system/docker.service";

    let report = env.check_json(1, &[]);
    assert_eq!(
        statuses(&report),
        expect_statuses(&[(HOSTS, "conflict"), (CONTAINERD, "conflict"), (LR, "drift")]),
        "{report:#}"
    );
    let hosts = field(&report, HOSTS, "message");
    assert!(hosts.contains("--host") && hosts.contains(unit), "{hosts}");
    let ctd = field(&report, CONTAINERD, "message");
    assert!(ctd.contains("--containerd") && ctd.contains(unit), "{ctd}");
    assert_eq!(
        part(&report, LR, "/etc/docker/daemon.json")["status"],
        "drift"
    );
    assert_eq!(part(&report, LR, "dockerd (live)")["status"], "skipped");

    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, HOSTS, "status"), "conflict", "{report:#}");
    assert_eq!(
        field(&report, CONTAINERD, "status"),
        "conflict",
        "{report:#}"
    );
    assert_eq!(
        part(&report, LR, "/etc/docker/daemon.json")["status"],
        "fixed",
        "{report:#}"
    );
    assert_eq!(part(&report, LR, "dockerd (live)")["status"], "skipped");
    // The worst part decides (DESIGN: ... skipped, then the rest).
    assert_eq!(field(&report, LR, "status"), "skipped", "{report:#}");

    let before: Map<String, Value> = serde_json::from_str(&original).expect("JSON");
    let after = read_json(&json);
    assert_eq!(
        keys(&after),
        keys(&before),
        "no hosts or containerd written"
    );
    assert_eq!(after["live-restore"], true);
    assert_eq!(after["log-opts"], before["log-opts"]);

    // Nothing left to do for it: a second apply changes nothing.
    let snap = env.tree_snapshot();
    env.apply_json(0, &["--control", LR]);
    assert_same_tree(&snap, &env.tree_snapshot(), "second apply");
}

/// A trailing comma is reported where it is (line 3, column 24), not where the parser noticed
/// it (the `}` on line 4).
#[test]
fn trailing_comma_is_located_at_the_comma() {
    let env = Env::new();
    env.file("/usr/sbin/dockerd", b"", 0o755);
    let text = "{\n  \"debug\": false,\n  \"live-restore\": false,\n}\n";
    let json = env.file("/etc/docker/daemon.json", text.as_bytes(), 0o644);
    env.profile(
        "10-docker",
        &profile_text(&[ctl(LR, "live-restore", "true", "")]),
    );
    let before = FileState::of(&json);
    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, LR, "status"), "error", "{report:#}");
    assert_eq!(FileState::of(&json), before, "rewritten");
    let msg = field(&report, LR, "message");
    assert_eq!(
        line_col_after(msg, "/etc/docker/daemon.json"),
        Some((3, 24)),
        "the comma is at 3:24: {msg}"
    );
}

/// A value of the wrong type for a key dockerd knows is a profile error: `validate` exits 2
/// naming file:line:col of the value.
#[test]
fn validate_rejects_a_wrong_value_type() {
    let env = Env::new();
    let text = profile_text(&[ctl(ICC, "icc", "\"no\"", "")]);
    let file = env.candidate("icc.toml", &text);
    let line = text
        .lines()
        .position(|l| l.starts_with("value = "))
        .expect("value line")
        + 1;
    let out = env.run(&["validate", file.to_str().expect("utf-8")]);
    out.expect_code(2);
    let want = format!("{}:{line}:9:", file.display());
    assert!(out.stderr.contains(&want), "no {want} in: {out:?}");
    assert!(out.stderr.contains("icc"), "{out:?}");
}
