//! The running kernel's audit rules, through auditctl: `auditctl -s` (is auditing there, is it
//! locked), `auditctl -l` (the rule list), `auditctl -a`/`-w` to load a rule.
//!
//! hardend never runs `auditctl -D` and never deletes a rule it does not manage: rules of other
//! programs are only read. One listing serves every control observed within [`FRESH`] (a
//! check or a poll tick looks at all audit-rule controls at once); loading a rule drops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use super::Rule;
use crate::fs::Accounts;

/// Where auditd's package installs auditctl (Debian: /sbin, merged into /usr/sbin).
pub const AUDITCTL: &[&str] = &["/usr/sbin/auditctl", "/sbin/auditctl"];

/// How long one listing is reused.
pub const FRESH: Duration = Duration::from_millis(100);

/// How long auditctl may take before it is killed (it talks to the kernel over netlink).
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the kernel's audit side looks like now.
#[derive(Debug, Clone)]
pub enum LiveState {
    /// auditctl is not installed (package auditd).
    NoAuditctl,
    /// The kernel offers no audit here (not built in, or a container without audit).
    NoKernelAudit(String),
    /// auditctl failed otherwise: no privilege, or an unexpected answer.
    Failed(String),
    Rules {
        /// `enabled` of `auditctl -s`: 0 off, 1 on, 2 on and locked until reboot.
        enabled: u8,
        /// Each line of `auditctl -l` and what it means (`None`: a rule hardend cannot read,
        /// which is someone else's and left alone).
        rules: Vec<(String, Option<Rule>)>,
    },
}

impl LiveState {
    /// The state from recorded `auditctl -s` and `auditctl -l` outputs.
    pub fn from_outputs(status: &str, list: &str) -> LiveState {
        let Some(enabled) = parse_enabled(status) else {
            return LiveState::Failed(format!(
                "auditctl -s printed no `enabled` line: {}",
                status.trim()
            ));
        };
        let rules = list
            .lines()
            .filter(|l| !l.trim().is_empty() && l.trim() != "No rules")
            .map(|l| (l.to_string(), Rule::parse_listed(l).ok()))
            .collect();
        LiveState::Rules { enabled, rules }
    }

    /// The listed line that means `rule`, if the kernel has it.
    pub fn find(&self, rule: &Rule, accounts: &Accounts) -> Option<&str> {
        let LiveState::Rules { rules, .. } = self else {
            return None;
        };
        rules.iter().find_map(|(line, parsed)| {
            parsed
                .as_ref()
                .filter(|p| p.same_as(rule, accounts))
                .map(|_| line.trim())
        })
    }

    /// The listed lines that carry `key`.
    pub fn lines_with_key(&self, key: &str) -> Vec<&str> {
        let LiveState::Rules { rules, .. } = self else {
            return Vec::new();
        };
        rules
            .iter()
            .filter(|(line, parsed)| match parsed {
                Some(r) => r.keys().contains(key),
                None => line
                    .split_whitespace()
                    .any(|t| t == key || t == format!("key={key}")),
            })
            .map(|(line, _)| line.as_str())
            .collect()
    }
}

/// The `enabled` value of `auditctl -s`.
pub fn parse_enabled(status: &str) -> Option<u8> {
    status.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        (words.next() == Some("enabled"))
            .then(|| words.next()?.parse().ok())
            .flatten()
    })
}

/// The installed auditctl, if any.
pub fn auditctl() -> Option<PathBuf> {
    AUDITCTL
        .iter()
        .map(PathBuf::from)
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// What auditctl printed, or why it failed.
#[derive(Debug)]
struct Ran {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(bin: &Path, args: &[&str]) -> Result<Ran, String> {
    let child = Command::new(bin)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(out)) => Ok(Ran {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        }),
        Ok(Err(e)) => Err(format!("{}: {e}", bin.display())),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            Err(format!(
                "{} {} did not answer within {}s",
                bin.display(),
                args.join(" "),
                TIMEOUT.as_secs()
            ))
        }
    }
}

/// Asks the kernel now (no cache).
pub fn read_state() -> LiveState {
    let Some(bin) = auditctl() else {
        return LiveState::NoAuditctl;
    };
    let status = match run(&bin, &["-s"]) {
        Ok(r) if r.ok => r.stdout,
        Ok(r) => return failure(&r.stderr),
        Err(e) => return LiveState::Failed(e),
    };
    let list = match run(&bin, &["-l"]) {
        Ok(r) if r.ok => r.stdout,
        Ok(r) => return failure(&r.stderr),
        Err(e) => return LiveState::Failed(e),
    };
    LiveState::from_outputs(&status, &list)
}

fn failure(stderr: &str) -> LiveState {
    let no_audit = [
        "audit support not in kernel",
        "Protocol not supported",
        "Cannot open netlink audit socket",
        "Connection refused",
    ];
    if no_audit.iter().any(|m| stderr.contains(m)) {
        LiveState::NoKernelAudit(stderr.to_string())
    } else {
        LiveState::Failed(format!("auditctl: {stderr}"))
    }
}

type Cached = Option<(Instant, Arc<LiveState>)>;
static CACHE: Mutex<Cached> = Mutex::new(None);

/// The kernel's audit state, reused for [`FRESH`].
pub fn snapshot() -> Arc<LiveState> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, state)) = cache.as_ref() {
        if at.elapsed() < FRESH {
            return Arc::clone(state);
        }
    }
    let state = Arc::new(read_state());
    *cache = Some((Instant::now(), Arc::clone(&state)));
    state
}

/// Forgets the cached listing (after a change).
pub fn invalidate() {
    *CACHE.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Loads a rule into the kernel (`auditctl -w …` / `-a …`); a rule that exists already is
/// success.
pub fn load(rule: &str) -> Result<(), String> {
    let bin = auditctl().ok_or("auditctl is not installed (package auditd)")?;
    let args: Vec<&str> = rule.split_whitespace().collect();
    let ran = run(&bin, &args);
    invalidate();
    let ran = ran?;
    if ran.ok || ran.stderr.contains("Rule exists") {
        Ok(())
    } else {
        Err(format!("auditctl {rule}: {}", ran.stderr))
    }
}

/// Deletes one rule given as auditctl deletion arguments (`-W …` or `-d …`).
pub fn delete(args: &[String]) -> Result<(), String> {
    let bin = auditctl().ok_or("auditctl is not installed (package auditd)")?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = run(&bin, &args);
    invalidate();
    let ran = ran?;
    if ran.ok {
        Ok(())
    } else {
        Err(format!("auditctl {}: {}", args.join(" "), ran.stderr))
    }
}

/// Ways to delete the rule a line of `auditctl -l` shows, most likely first. The kernel
/// deletes only a rule whose fields match in order, and the listing hides some of that: a
/// watch may be a `path=` or a `dir=` rule, with the perm field before or after the path.
pub fn delete_candidates(line: &str) -> Vec<Vec<String>> {
    let Ok(rule) = Rule::parse_listed(line) else {
        return Vec::new();
    };
    let mut out = vec![rule.delete_args()];
    if let super::Canonical::Watch { path, perms, keys } = rule.canonical() {
        let keys: Vec<String> = keys.iter().map(|k| format!("key={k}")).collect();
        for field in ["path", "dir"] {
            let target = format!("{field}={path}");
            let perm = format!("perm={perms}");
            for order in [[&target, &perm], [&perm, &target]] {
                let mut args = vec!["-d".to_string(), "always,exit".to_string()];
                for f in order
                    .iter()
                    .map(|s| s.to_string())
                    .chain(keys.iter().cloned())
                {
                    args.push("-F".into());
                    args.push(f);
                }
                out.push(args);
            }
        }
    }
    // The listing prints file types as numbers, which auditctl does not take back.
    for args in out.iter_mut() {
        for a in args.iter_mut() {
            if let Some(n) = a.strip_prefix("filetype=") {
                if let Some(name) = file_type_name(n) {
                    *a = format!("filetype={name}");
                }
            }
        }
    }
    out
}

fn file_type_name(mode: &str) -> Option<&'static str> {
    Some(match mode.parse::<u32>().ok()? {
        0o100000 => "file",
        0o040000 => "dir",
        0o140000 => "socket",
        0o120000 => "link",
        0o020000 => "character",
        0o060000 => "block",
        0o010000 => "fifo",
        _ => return None,
    })
}

/// Deletes every loaded rule that carries `key` (a test's cleanup, a decommissioning
/// script); returns the lines it could not delete.
pub fn delete_by_key(key: &str) -> Vec<String> {
    invalidate();
    let state = read_state();
    let mut left = Vec::new();
    for line in state.lines_with_key(key) {
        let deleted = delete_candidates(line)
            .iter()
            .any(|args| delete(args).is_ok());
        if !deleted {
            left.push(line.to_string());
        }
    }
    invalidate();
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS_ON: &str = "enabled 1\nfailure 1\npid 812\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n";
    const STATUS_LOCKED: &str = "enabled 2\nfailure 1\npid 812\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n";

    #[test]
    fn enabled_from_status() {
        assert_eq!(parse_enabled(STATUS_ON), Some(1));
        assert_eq!(parse_enabled(STATUS_LOCKED), Some(2));
        assert_eq!(parse_enabled("enabled 0\nfailure 1\n"), Some(0));
        assert_eq!(parse_enabled("nothing"), None);
    }

    #[test]
    fn a_listing_is_searched_by_meaning() {
        let list = "-a never,task -F uid=0\n-w /usr/sbin/dockerd -p rwxa -k docker\n-a always,exit -F arch=b64 -S init_module,delete_module -F key=modules\nsomething new -q\n";
        let state = LiveState::from_outputs(STATUS_ON, list);
        let accounts = Accounts::from_text("root:x:0:0::/:/bin/sh\n", "root:x:0:\n");
        let rule =
            Rule::parse("-a always,exit -F arch=b64 -S delete_module -S init_module -k modules")
                .unwrap();
        assert_eq!(
            state.find(&rule, &accounts),
            Some("-a always,exit -F arch=b64 -S init_module,delete_module -F key=modules")
        );
        let rule = Rule::parse("-w /usr/sbin/dockerd -k docker").unwrap();
        assert!(state.find(&rule, &accounts).is_some());
        let rule = Rule::parse("-w /usr/sbin/dockerd -p wa -k docker").unwrap();
        assert!(state.find(&rule, &accounts).is_none());
        assert_eq!(state.lines_with_key("docker").len(), 1);
        assert_eq!(state.lines_with_key("modules").len(), 1);
        let empty = LiveState::from_outputs(STATUS_ON, "No rules\n");
        assert!(matches!(empty, LiveState::Rules { ref rules, .. } if rules.is_empty()));
    }

    #[test]
    fn deleting_a_listed_watch_tries_the_field_orders() {
        let c = delete_candidates("-w /run/containerd -p rwa -k docker");
        assert_eq!(c[0], ["-W", "/run/containerd", "-p", "rwa", "-k", "docker"]);
        assert!(c.contains(
            &[
                "-d",
                "always,exit",
                "-F",
                "perm=rwa",
                "-F",
                "path=/run/containerd",
                "-F",
                "key=docker"
            ]
            .map(String::from)
            .to_vec()
        ));
        let c =
            delete_candidates("-a always,exit -F arch=b64 -S openat -F filetype=32768 -F key=x");
        assert_eq!(
            c[0].join(" "),
            "-d always,exit -F arch=b64 -S openat -F filetype=file -F key=x"
        );
    }
}
