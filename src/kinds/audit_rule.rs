//! `audit-rule`: one auditctl rule, persisted in hardend's rules file (so that augenrules loads
//! it at boot) and loaded in the running kernel.
//!
//! Both halves compare by meaning ([`crate::audit::rule`]): `-w /x -k k` in the profile is
//! found as `-w /x -p rwxa -k k` in `auditctl -l` or in the file. Rules hardend does not manage
//! are never removed from the kernel or the file. A managed rule deleted from the kernel is
//! drift (the daemon polls the rule list, as inotify cannot see it) and is loaded again.
//!
//! The live half is `skipped` under `--root`, `unsupported` without auditctl or kernel audit,
//! and `unsupported` while the audit configuration is locked (`-e 2`) and the rule is not
//! loaded: it cannot be until reboot, and the file makes it load then.
//!
//! A watch whose parent directory does not exist is `not-applicable`: the kernel refuses it,
//! and a failing line in a rules file stops auditctl from loading the rest at boot. For the
//! same reason a watch in a directory below `/run` (which exists only once a service has made
//! it) is loaded but not persisted: its file part is `not-applicable`.
//!
//! The rules file holds every rule it already holds plus this control's (see
//! [`crate::audit`]): a control removed from the profiles leaves its line until the file is
//! edited, and its rule in the kernel until it is deleted or the host reboots.

use std::path::{Component, Path, PathBuf};

use super::attrs::is_glob;
use super::{Context, Fix, Kind, Observation, Part};
use crate::audit::live::{self, LiveState};
use crate::audit::{file_rules, with_rule, Rule, RULES_FILE};
use crate::engine::Status;
use crate::fs::{Accounts, FileType};
use crate::profile::reader::TableReader;

/// The live part's target.
pub const LIVE_TARGET: &str = "kernel audit rules (live)";

#[derive(Debug, Clone)]
pub struct AuditRule {
    pub rule: Rule,
    /// hardend's rules file (default /etc/audit/rules.d/hardend.rules).
    pub rules_file: PathBuf,
}

impl AuditRule {
    pub fn parse(r: &mut TableReader) -> Option<AuditRule> {
        let text = r.req_str("rule");
        let rules_file = match r.str("rules_file") {
            None => PathBuf::from(RULES_FILE),
            Some(p) => {
                let path = Path::new(&p.value);
                let plain = path.is_absolute()
                    && path
                        .components()
                        .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
                    && !p.value.split('/').any(|c| c == "." || c == "..")
                    && !is_glob(&p.value);
                if !plain || !p.value.ends_with(".rules") {
                    r.error(
                        p.location,
                        format!(
                            "`rules_file` {:?}: an absolute path without `.`, `..` or globs, ending in .rules (augenrules reads only *.rules files)",
                            p.value
                        ),
                    );
                    return None;
                }
                path.to_path_buf()
            }
        };
        let text = text?;
        let rule = match Rule::parse(&text.value) {
            Ok(rule) => rule,
            Err(why) => {
                r.error(
                    text.location,
                    format!("invalid audit rule {:?}: {why}", text.value),
                );
                return None;
            }
        };
        let numbers = rule.numeric_syscalls();
        if !numbers.is_empty() {
            r.warning(
                text.location,
                format!(
                    "syscall number(s) {}: auditctl -l lists syscalls by name, so hardend never finds this rule loaded; name the syscalls",
                    numbers.join(", ")
                ),
            );
        }
        Some(AuditRule { rule, rules_file })
    }

    fn part(&self, target: &str, status: Status) -> Part {
        Part::new(target, status).expected(self.rule.text())
    }

    /// A watched path whose parent directory is missing in the root, if any.
    fn missing_parent(&self, ctx: &Context) -> Option<(String, String)> {
        self.rule.watched_paths().into_iter().find_map(|p| {
            let parent = Path::new(p).parent()?;
            if parent == Path::new("/") {
                return None;
            }
            let lookup = ctx.root.lookup(parent).ok()?;
            (!lookup.exists()).then(|| (p.to_string(), parent.display().to_string()))
        })
    }

    /// A watched path whose directory lies below /run: it is created at run time (by
    /// containerd, say), after augenrules loads the rules at boot.
    fn boot_volatile(&self) -> Option<(String, String)> {
        self.rule.watched_paths().into_iter().find_map(|p| {
            let parent = Path::new(p).parent()?.display().to_string();
            ["/run/", "/var/run/"]
                .iter()
                .any(|v| parent.starts_with(v))
                .then(|| (p.to_string(), parent))
        })
    }

    /// Is the rule in hardend's rules file?
    /// Every rule the loaded set's audit-rule controls keep in this control's rules file.
    fn managed_rules(&self, ctx: &Context) -> Vec<String> {
        ctx.set
            .controls
            .iter()
            .filter_map(|c| match &c.spec {
                super::KindSpec::AuditRule(a) if a.rules_file == self.rules_file => {
                    Some(a.rule.text())
                }
                _ => None,
            })
            .collect()
    }

    fn file_part(&self, ctx: &Context) -> Part {
        let shown = self.rules_file.display().to_string();
        if let Some((path, parent)) = self.boot_volatile() {
            return self.part(&shown, Status::NotApplicable).message(format!(
                "not persisted: {parent} does not exist yet when the rules load at boot, so the kernel would refuse the watch on {path} and auditctl would stop loading the rules after it; hardend loads it once {parent} exists"
            ));
        }
        let lookup = match ctx.root.lookup(&self.rules_file) {
            Ok(l) => l,
            Err(e) => return self.part(&shown, Status::Error).message(e.to_string()),
        };
        let text = match lookup.entry {
            None => None,
            Some(m) if m.file_type == FileType::Regular => match lookup.read() {
                Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Err(e) => return self.part(&shown, Status::Error).message(e.to_string()),
            },
            Some(m) => {
                return self
                    .part(&shown, Status::Error)
                    .actual(m.file_type.describe())
                    .message(format!(
                        "is {}; hardend writes its rules file only as a regular file, never through a link",
                        m.file_type.describe()
                    ))
            }
        };
        let managed = self.managed_rules(ctx);
        let in_file = text.as_deref().map(file_rules).unwrap_or_default();
        let stale = in_file.len() - crate::audit::only_managed(in_file.clone(), &managed).len();
        if let Some(line) = in_file.iter().find(|r| r.same_as(&self.rule, ctx.accounts)) {
            if stale == 0 {
                return self.part(&shown, Status::Pass).actual(line.text());
            }
        }
        let (actual, message) = match &text {
            Some(_) if stale > 0 => (
                format!("{stale} rule(s) no control manages"),
                "holds rules of controls no longer in the profiles: they would still load at boot",
            ),
            None => (
                "rules file missing".to_string(),
                "the rules file is missing: the rule would not load at boot",
            ),
            Some(_) => (
                format!("not in {shown}"),
                "not persisted: the rule would not load at boot",
            ),
        };
        let preview = Fix::WriteFile {
            path: self.rules_file.clone(),
            content: with_rule(text.as_deref(), &self.rule, &managed),
            uid: lookup.entry.map_or(0, |m| m.uid),
            gid: lookup.entry.map_or(0, |m| m.gid),
            mode: lookup.entry.map_or(0o640, |m| m.mode),
            old: text.map(String::into_bytes),
        };
        self.part(&shown, Status::Drift)
            .actual(actual)
            .message(message)
            .fix(Fix::MergeAuditRule {
                path: self.rules_file.clone(),
                rule: self.rule.text(),
                managed,
                preview: Box::new(preview),
            })
    }

    /// Is the rule loaded in the running kernel?
    fn live_part(&self, ctx: &Context) -> Part {
        if !ctx.root.is_host() {
            return self.part(LIVE_TARGET, Status::Skipped).message(
                "an offline root has no running kernel; the rules file loads the rule at boot",
            );
        }
        judge(
            &self.rule,
            &live::snapshot(),
            ctx.accounts,
            &self.rules_file,
        )
    }
}

/// The live part, from what auditctl showed.
pub fn judge(rule: &Rule, state: &LiveState, accounts: &Accounts, rules_file: &Path) -> Part {
    let file = rules_file.display();
    let part = |status| Part::new(LIVE_TARGET, status).expected(rule.text());
    match state {
        LiveState::NoAuditctl => part(Status::Unsupported)
            .actual("auditctl not installed")
            .message(format!(
                "auditctl is not installed (package auditd): the rule is persisted in {file} but cannot be loaded or checked in the running kernel"
            )),
        LiveState::NoKernelAudit(why) => part(Status::Unsupported)
            .actual("no kernel audit")
            .message(format!(
                "the kernel offers no audit here ({why}); the rule is persisted in {file}"
            )),
        LiveState::Failed(why) => part(Status::Error)
            .message(format!("cannot read the kernel's audit rules: {why}")),
        LiveState::Rules { enabled, .. } => {
            let disabled = if *enabled == 0 {
                "; auditing is disabled (auditctl -s: enabled 0), so the kernel logs nothing for it until auditing is enabled"
            } else {
                ""
            };
            match state.find(rule, accounts) {
                Some(line) => part(Status::Pass)
                    .actual(line)
                    .message(disabled.trim_start_matches("; ")),
                None if *enabled == 2 => part(Status::Unsupported)
                    .actual("not loaded")
                    .message(format!(
                        "audit rules are locked until reboot (auditctl -s: enabled 2): the rule cannot be loaded now; it is persisted in {file} and loads at the next boot"
                    )),
                None => part(Status::Drift)
                    .actual("not loaded")
                    .message(format!(
                        "not in the kernel's rule list (auditctl -l){disabled}"
                    ))
                    .fix(Fix::LoadAuditRule { rule: rule.text() }),
            }
        }
    }
}

impl Kind for AuditRule {
    fn target(&self) -> String {
        self.rule.text()
    }

    fn watch_paths(&self) -> Vec<String> {
        vec![self.rules_file.display().to_string()]
    }

    fn polled(&self) -> bool {
        true
    }

    fn live_matches(&self, ctx: &Context) -> Option<bool> {
        if !ctx.root.is_host() {
            return None;
        }
        match live::snapshot().as_ref() {
            state @ LiveState::Rules { .. } => Some(state.find(&self.rule, ctx.accounts).is_some()),
            _ => None,
        }
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let target = self.rule.text();
        if let Some((path, parent)) = self.missing_parent(ctx) {
            return Observation {
                parts: vec![self.part(&target, Status::NotApplicable).message(format!(
                    "{parent} does not exist, so the kernel cannot watch {path} (and a rule that fails to load stops auditctl from loading the rules after it at boot)"
                ))],
                target,
            };
        }
        Observation {
            parts: vec![self.file_part(ctx), self.live_part(ctx)],
            target,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCKED: &str = "enabled 2\nfailure 1\npid 812\nrate_limit 0\nbacklog_limit 8192\nlost 0\nbacklog 0\nbacklog_wait_time 60000\nbacklog_wait_time_actual 0\nloginuid_immutable 0 unlocked\n";
    const ON: &str = "enabled 1\nfailure 1\npid 812\n";
    const OFF: &str = "enabled 0\nfailure 1\npid 0\n";
    const LISTING: &str = "-w /usr/sbin/dockerd -p rwxa -k docker\n-a always,exit -F arch=b64 -S init_module,delete_module -F key=modules\n";

    fn accounts() -> Accounts {
        Accounts::from_text("root:x:0:0::/:/bin/sh\n", "root:x:0:\n")
    }

    fn judged(status: &str, list: &str, rule: &str) -> Part {
        let rule = Rule::parse(rule).unwrap();
        judge(
            &rule,
            &LiveState::from_outputs(status, list),
            &accounts(),
            Path::new(RULES_FILE),
        )
    }

    #[test]
    fn a_loaded_rule_passes_by_meaning() {
        let p = judged(ON, LISTING, "-w /usr/sbin/dockerd -k docker");
        assert_eq!(p.status, Status::Pass);
        assert_eq!(p.actual, "-w /usr/sbin/dockerd -p rwxa -k docker");
        assert!(p.fix.is_none());
    }

    #[test]
    fn a_missing_rule_is_drift_with_a_load() {
        let p = judged(ON, LISTING, "-w /etc/docker -k docker");
        assert_eq!(p.status, Status::Drift);
        assert_eq!(
            p.fix,
            Some(Fix::LoadAuditRule {
                rule: "-w /etc/docker -k docker".into()
            })
        );
        let p = judged(OFF, "No rules\n", "-w /etc/docker -k docker");
        assert_eq!(p.status, Status::Drift);
        assert!(p.message.contains("auditing is disabled"), "{}", p.message);
    }

    #[test]
    fn locked_rules_are_unsupported_unless_loaded() {
        let p = judged(LOCKED, LISTING, "-w /etc/docker -k docker");
        assert_eq!(p.status, Status::Unsupported);
        assert!(p.message.contains("locked until reboot"), "{}", p.message);
        assert!(p.message.contains(RULES_FILE), "{}", p.message);
        assert!(p.fix.is_none());
        let p = judged(
            LOCKED,
            LISTING,
            "-a always,exit -F arch=b64 -S delete_module,init_module -k modules",
        );
        assert_eq!(p.status, Status::Pass);
    }

    #[test]
    fn no_auditctl_or_no_kernel_audit_is_unsupported() {
        let rule = Rule::parse("-w /etc/docker -k docker").unwrap();
        let p = judge(
            &rule,
            &LiveState::NoAuditctl,
            &accounts(),
            Path::new(RULES_FILE),
        );
        assert_eq!(p.status, Status::Unsupported);
        assert!(
            p.message.contains("auditctl is not installed"),
            "{}",
            p.message
        );
        let p = judge(
            &rule,
            &LiveState::NoKernelAudit("Error - audit support not in kernel".into()),
            &accounts(),
            Path::new(RULES_FILE),
        );
        assert_eq!(p.status, Status::Unsupported);
        let p = judge(
            &rule,
            &LiveState::Failed("auditctl: You must be root to run this program.".into()),
            &accounts(),
            Path::new(RULES_FILE),
        );
        assert_eq!(p.status, Status::Error);
    }
}
