//! Driving `hardend run` as a real child process: a temporary host (`T/root` with its own
//! accounts, `T/profiles.d`, `T/state`, `T/hardend.toml`), a real `NOTIFY_SOCKET` the test binds
//! itself (readiness, STATUS=, RELOADING=, WATCHDOG=, STOPPING=), the daemon's stderr event
//! lines parsed into fields, and polling with deadlines instead of sleeps.
//!
//! Included by the `tests/run_*.rs` files with `#[path = "common/daemon.rs"] mod daemon;`; the
//! host layout itself is `tests/common/mod.rs`'s [`Env`].
#![allow(dead_code)]

#[path = "mod.rs"]
pub mod env;

pub use env::{chmod, mkdirs, Env, BIN};

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long a condition that must happen may take (only reached when it does not).
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The root tree's own accounts (not the host's): `svc` (4242) and `svcgrp` (4343).
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nsvc:x:4242:4343:svc:/home/svc:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\nsvcgrp:x:4343:svc\n";

/// Every `HARDEND_EVENT` value.
pub const EVENT_TYPES: &[&str] = &[
    "drift-detected",
    "drift-reverted",
    "drift-resolved",
    "revert-failed",
    "fight",
    "conflict",
    "profile-loaded",
    "profile-rejected",
    "waiver-expired",
    "restart-required",
];

/// Polls `f` every 10 ms until it gives `Some`, or panics naming `what` after `timeout`.
#[track_caller]
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls a condition with the default deadline.
#[track_caller]
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    wait_for(DEADLINE, what, || f().then_some(()))
}

pub fn chown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// Permission bits of `p` (not following a symlink), `None` when it is missing.
pub fn mode_of(p: &Path) -> Option<u32> {
    std::fs::symlink_metadata(p).ok().map(|m| m.mode() & 0o7777)
}

/// (uid, gid) of `p` (not following a symlink).
pub fn owner_of(p: &Path) -> Option<(u32, u32)> {
    std::fs::symlink_metadata(p)
        .ok()
        .map(|m| (m.uid(), m.gid()))
}

/// Whether `p` is a regular file (not a symlink) with exactly these bytes.
pub fn is_regular_with(p: &Path, bytes: &[u8]) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
        && std::fs::read(p).is_ok_and(|b| b == bytes)
}

/// hardend's short content digest: `sha256:` and the first 16 hex digits.
pub fn digest(bytes: &[u8]) -> String {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{}", &hex[..16])
}

/// A temporary host layout for `hardend run`: an [`Env`] (its paths and builders through
/// `Deref`) with the accounts `svc`/`svcgrp` and a staging directory for writes by rename.
pub struct Host {
    pub env: Env,
    /// The temporary directory, canonical.
    pub base: PathBuf,
    /// A directory on the same file system for atomic (rename) writes.
    pub staging: PathBuf,
}

impl std::ops::Deref for Host {
    type Target = Env;

    fn deref(&self) -> &Env {
        &self.env
    }
}

impl Host {
    /// `enforce = ENFORCE`, `builtin_profiles = []` and `extra` settings lines.
    pub fn new(enforce: bool, extra: &str) -> Host {
        let settings = format!("enforce = {enforce}\nbuiltin_profiles = []\n{extra}");
        let env = Env::with_accounts(&settings, PASSWD, GROUP);
        let base = env.base().canonicalize().expect("canonical tempdir");
        let host = Host {
            staging: base.join("staging"),
            base,
            env,
        };
        for d in [&host.state, &host.staging] {
            mkdirs(d);
        }
        host
    }

    /// Writes `path` atomically (a temp file in `staging`, then rename), root-owned.
    pub fn write_atomic(&self, path: &Path, text: &[u8], mode: u32) {
        let tmp = self
            .staging
            .join(format!("w{}", path.file_name().unwrap().to_string_lossy()));
        std::fs::write(&tmp, text).expect("write staging");
        chmod(&tmp, mode);
        std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
    }

    /// Rewrites the settings file (atomically, root-owned 0644).
    pub fn settings(&self, text: &str) {
        self.write_atomic(&self.config, text.as_bytes(), 0o644);
    }

    /// Installs `profiles.d/NAME` as a config-management tool does (write elsewhere, rename in).
    pub fn profile(&self, name: &str, text: &str) -> PathBuf {
        let p = self.profiles.join(name);
        self.write_atomic(&p, text.as_bytes(), 0o644);
        p
    }

    /// `--root … --profiles … --config … --state-dir …`
    pub fn global_args(&self) -> Vec<OsString> {
        self.env.globals().into_iter().map(OsString::from).collect()
    }

    /// `hardend run` with this host's paths.
    pub fn run_command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("run").args(self.global_args());
        c
    }

    /// Runs another subcommand (e.g. `status`) to completion.
    pub fn hardend(&self, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .args(self.global_args())
            .env_remove("NOTIFY_SOCKET")
            .output()
            .expect("run hardend")
    }

    /// The status file, parsed, once it exists.
    pub fn status_json(&self) -> Option<serde_json::Value> {
        let bytes = std::fs::read(self.state.join("status.json")).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Starts `hardend run` and waits for READY=1 (first convergence done, watches armed).
    pub fn start(&self) -> Daemon {
        let d = Daemon::spawn(self, self.run_command());
        d.wait_ready();
        d
    }
}

/// One event line from the daemon's stderr:
/// `hardend: TYPE key="value" …: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    pub ty: String,
    pub fields: BTreeMap<String, String>,
    pub message: String,
    pub raw: String,
}

impl Ev {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.get(key).map(String::as_str)
    }

    pub fn is(&self, ty: &str, control: &str) -> bool {
        self.ty == ty && self.get("control") == Some(control)
    }
}

/// Parses one stderr event line; `None` for other lines.
pub fn parse_event(line: &str) -> Option<Ev> {
    let rest = line.strip_prefix("hardend: ")?;
    let end = rest.find([' ', ':']).unwrap_or(rest.len());
    let ty = &rest[..end];
    if !EVENT_TYPES.contains(&ty) {
        return None;
    }
    let mut s = &rest[end..];
    let mut fields = BTreeMap::new();
    loop {
        if let Some(m) = s.strip_prefix(": ") {
            return Some(Ev {
                ty: ty.to_string(),
                fields,
                message: m.to_string(),
                raw: line.to_string(),
            });
        }
        if s.is_empty() || s == ":" {
            return Some(Ev {
                ty: ty.to_string(),
                fields,
                message: String::new(),
                raw: line.to_string(),
            });
        }
        let t = s.strip_prefix(' ')?;
        let eq = t.find("=\"")?;
        let key = &t[..eq];
        let (value, after) = parse_debug_str(&t[eq + 1..])?;
        fields.insert(key.to_string(), value);
        s = after;
    }
}

/// Parses a Rust `{:?}` string literal at the start of `s`; returns it and the rest.
fn parse_debug_str(s: &str) -> Option<(String, &str)> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'u' => {
                        let mut hex = String::new();
                        chars.next()?; // {
                        for (_, h) in chars.by_ref() {
                            if h == '}' {
                                break;
                            }
                            hex.push(h);
                        }
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    other => out.push(other),
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// One sd_notify datagram, with what the status file held when it arrived.
#[derive(Debug, Clone)]
pub struct Notification {
    pub text: String,
    pub at: Instant,
    /// `state/status.json` read right when the datagram was received.
    pub status_file: Option<String>,
}

impl Notification {
    /// The value of `KEY=` in the datagram.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.text
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    }

    pub fn has(&self, assignment: &str) -> bool {
        self.text.lines().any(|l| l == assignment)
    }
}

/// A bound `NOTIFY_SOCKET` and the thread collecting what arrives.
pub struct NotifySocket {
    pub path: PathBuf,
    pub received: Arc<Mutex<Vec<Notification>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NotifySocket {
    pub fn bind(path: PathBuf, state_dir: PathBuf) -> NotifySocket {
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).expect("bind NOTIFY_SOCKET");
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (Arc::clone(&received), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while !s.load(Ordering::Relaxed) {
                if let Ok(n) = sock.recv(&mut buf) {
                    let status_file = std::fs::read_to_string(state_dir.join("status.json")).ok();
                    r.lock().unwrap().push(Notification {
                        text: String::from_utf8_lossy(&buf[..n]).into_owned(),
                        at: Instant::now(),
                        status_file,
                    });
                }
            }
        });
        NotifySocket {
            path,
            received,
            stop,
            thread: Some(thread),
        }
    }

    pub fn all(&self) -> Vec<Notification> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running daemon: killed (and reaped) when dropped.
pub struct Daemon {
    pub child: Child,
    pub pid: i32,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    pub notify: NotifySocket,
    exit: Option<ExitStatus>,
}

impl Daemon {
    /// Spawns `cmd` with stderr piped and `NOTIFY_SOCKET` at `T/notify.sock` (unless the
    /// command already sets one). Does not wait.
    pub fn spawn(host: &Host, mut cmd: Command) -> Daemon {
        let notify = NotifySocket::bind(host.base.join("notify.sock"), host.state.clone());
        if !cmd.get_envs().any(|(k, _)| k == "NOTIFY_SOCKET") {
            cmd.env("NOTIFY_SOCKET", &notify.path);
        }
        if !cmd.get_envs().any(|(k, _)| k == "WATCHDOG_USEC") {
            cmd.env_remove("WATCHDOG_USEC").env_remove("WATCHDOG_PID");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hardend run");
        let pid = child.id() as i32;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let l = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                l.lock().unwrap().push(line);
            }
        });
        Daemon {
            child,
            pid,
            lines,
            reader: Some(reader),
            notify,
            exit: None,
        }
    }

    /// Every stderr line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every event line so far.
    pub fn events(&self) -> Vec<Ev> {
        self.lines().iter().filter_map(|l| parse_event(l)).collect()
    }

    pub fn count(&self, pred: impl Fn(&Ev) -> bool) -> usize {
        self.events().iter().filter(|e| pred(e)).count()
    }

    /// Waits for an event (already written or to come) that `pred` accepts.
    #[track_caller]
    pub fn wait_event(&self, what: &str, pred: impl Fn(&Ev) -> bool) -> Ev {
        self.wait_event_after(0, what, pred)
    }

    /// Waits for the `nth` (0-based) event that `pred` accepts.
    #[track_caller]
    pub fn wait_event_after(&self, nth: usize, what: &str, pred: impl Fn(&Ev) -> bool) -> Ev {
        wait_for(DEADLINE, what, || {
            self.assert_alive(what);
            self.events().into_iter().filter(|e| pred(e)).nth(nth)
        })
    }

    /// Whether the child has exited (a zombie not reaped yet, or gone).
    pub fn exited(&self) -> bool {
        self.exit.is_some()
            || std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
                .map(|s| s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
                .unwrap_or(true)
    }

    #[track_caller]
    fn assert_alive(&self, what: &str) {
        if self.exit.is_none() && self.exited() {
            // Give the stderr reader a moment to collect the last lines.
            std::thread::sleep(Duration::from_millis(50));
            panic!(
                "hardend run exited while waiting for {what}; stderr:\n{}",
                self.lines().join("\n")
            );
        }
    }

    /// Waits for a notification `pred` accepts, at index `from` or later; returns its index.
    #[track_caller]
    pub fn wait_notify(
        &self,
        from: usize,
        what: &str,
        pred: impl Fn(&Notification) -> bool,
    ) -> usize {
        wait_for(DEADLINE, what, || {
            self.notify
                .all()
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, n)| pred(n))
                .map(|(i, _)| i)
        })
    }

    /// Waits for READY=1.
    #[track_caller]
    pub fn wait_ready(&self) {
        wait_for(DEADLINE, "READY=1 from hardend run", || {
            self.assert_alive("READY=1");
            self.notify
                .all()
                .iter()
                .any(|n| n.has("READY=1"))
                .then_some(())
        });
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), sig).expect("kill");
    }

    /// Sends SIGTERM and waits for the exit.
    #[track_caller]
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        self.wait_exit()
    }

    #[track_caller]
    pub fn wait_exit(&mut self) -> ExitStatus {
        let status = wait_for(DEADLINE, "hardend run to exit", || {
            self.child.try_wait().expect("try_wait")
        });
        self.exit = Some(status);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }

    /// utime + stime of the daemon in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("stat");
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split(' ').collect();
        // after ")": state is field 3, utime 14 and stime 15 (1-based in proc(5)).
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// Voluntary + involuntary context switches of the daemon's threads (each wake-up from an
    /// idle wait is one voluntary switch).
    pub fn context_switches(&self) -> u64 {
        let mut total = 0;
        for t in std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .expect("task dir")
            .flatten()
        {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for l in status.lines() {
                if let Some(v) = l
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| l.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    total += v.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
        total
    }

    /// The process state letter from /proc/PID/stat (R, S, T, …).
    pub fn state(&self) -> char {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).expect("stat");
        stat[stat.rfind(')').unwrap() + 2..].chars().next().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if let Some(r) = self.reader.take() {
                let _ = r.join();
            }
        }
        if std::thread::panicking() {
            eprintln!(
                "--- hardend run (pid {}) stderr ---\n{}\n--- notifications ---\n{:#?}",
                self.pid,
                self.lines().join("\n"),
                self.notify
                    .all()
                    .iter()
                    .map(|n| n.text.clone())
                    .collect::<Vec<_>>()
            );
        }
    }
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clk_tck() -> u64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK")
}
