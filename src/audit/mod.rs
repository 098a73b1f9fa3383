//! Linux audit rules: the rule parser and its canonical form ([`rule`]), hardend's rules file
//! in `/etc/audit/rules.d/` (this module), and the running kernel's rule list through auditctl
//! ([`live`]).
//!
//! hardend's rules file holds only managed rules, one per line, under a header that says so.
//! augenrules(8) concatenates every `*.rules` file of the directory into
//! `/etc/audit/audit.rules` at boot (moving any `-e` to the end), so the file holds no audit
//! settings (`-D`, `-e`, `-b`, `-f`) and no comment other than the header.
//!
//! A control adds its rule to whatever rules the file already holds: a kind sees only its own
//! control, so it cannot tell a rule of a control that was removed from the profiles from a
//! rule of another control. Removing a control therefore leaves its line in the file (and its
//! rule in the kernel) until the file is edited; nothing is ever removed behind the admin's
//! back. The merge is done again when the fix is performed, from the file as it is then, so
//! that several controls fixed in one pass keep each other's lines.

#![forbid(unsafe_code)]

mod errno;
pub mod live;
pub mod rule;

use std::path::Path;

pub use rule::{Canonical, Rule};

use crate::fs::{FileType, Root};
use crate::kinds::Fix;

/// Where hardend keeps its rules unless a control says otherwise.
pub const RULES_FILE: &str = "/etc/audit/rules.d/hardend.rules";

/// The first lines of hardend's rules file.
pub const HEADER: &str = "\
## Managed by hardend: every rule below belongs to an audit-rule control of its profiles.
## Changes here are overwritten; change the profile instead. augenrules(8) merges this file
## into /etc/audit/audit.rules, which is loaded at boot.
";

/// The mode of a new rules file (as auditd's package ships its rules).
const NEW_FILE_MODE: u32 = 0o640;

/// The rule lines of a rules file, in file order. Comments, blank lines, audit settings and
/// lines that are not valid rules are left out (hardend rewrites the file without them).
pub fn file_rules(text: &str) -> Vec<Rule> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| Rule::parse(l).ok())
        .collect()
}

/// hardend's rules file holding `rules` once each (by meaning; the first spelling is kept), in
/// a deterministic order: `never` rules first (they are exceptions to the `always` rules after
/// them), rules on volatile paths (`/run`) last (at boot their directory may not exist yet, and
/// auditctl stops loading a file at its first failing line), then by text.
pub fn render(rules: &[Rule]) -> Vec<u8> {
    let mut unique: Vec<&Rule> = Vec::new();
    for r in rules {
        if !unique.iter().any(|u| u.canonical() == r.canonical()) {
            unique.push(r);
        }
    }
    let mut lines: Vec<(u8, String)> = unique
        .into_iter()
        .map(|r| {
            let rank = if r.is_never() {
                0
            } else if r.watched_paths().iter().any(|p| is_volatile(p)) {
                2
            } else {
                1
            };
            (rank, r.text())
        })
        .collect();
    lines.sort();
    let mut out = String::from(HEADER);
    for (_, line) in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.into_bytes()
}

/// The file's text with `rule` added (or kept).
pub fn with_rule(current: Option<&str>, rule: &Rule, managed: &[String]) -> Vec<u8> {
    let mut rules = only_managed(current.map(file_rules).unwrap_or_default(), managed);
    rules.push(rule.clone());
    render(&rules)
}

/// The rules among `rules` that a control of the loaded set manages (by meaning): lines of
/// controls since removed from the profiles are dropped.
pub fn only_managed(rules: Vec<Rule>, managed: &[String]) -> Vec<Rule> {
    let managed: Vec<Rule> = managed.iter().filter_map(|m| Rule::parse(m).ok()).collect();
    rules
        .into_iter()
        .filter(|r| managed.iter().any(|m| m.canonical() == r.canonical()))
        .collect()
}

fn is_volatile(path: &str) -> bool {
    ["/run/", "/var/run/", "/dev/shm/"]
        .iter()
        .any(|p| path.starts_with(p) || path == &p[..p.len() - 1])
}

/// The write that adds `rule` to the rules file at `path` as the file is *now*; `None` when it
/// is there already, unchanged. Its owner and mode are kept; a new file is root:root 0640.
pub fn merge_fix(
    root: &Root,
    path: &Path,
    rule: &str,
    managed: &[String],
) -> Result<Option<Fix>, String> {
    let rule = Rule::parse(rule).map_err(|e| format!("audit rule {rule:?}: {e}"))?;
    let lookup = root.lookup(path).map_err(|e| e.to_string())?;
    let (old, meta) = match lookup.entry {
        None => (None, None),
        Some(m) if m.file_type == FileType::Regular => {
            (Some(lookup.read().map_err(|e| e.to_string())?), Some(m))
        }
        Some(m) => {
            return Err(format!(
                "{} is {}; hardend writes its rules file only as a regular file",
                path.display(),
                m.file_type.describe()
            ))
        }
    };
    let text = old.as_deref().map(String::from_utf8_lossy);
    let content = with_rule(text.as_deref(), &rule, managed);
    if old.as_deref() == Some(content.as_slice()) {
        return Ok(None);
    }
    Ok(Some(Fix::WriteFile {
        path: path.to_path_buf(),
        content,
        uid: meta.map_or(0, |m| m.uid),
        gid: meta.map_or(0, |m| m.gid),
        mode: meta.map_or(NEW_FILE_MODE, |m| m.mode),
        old,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Rule {
        Rule::parse(s).unwrap()
    }

    #[test]
    fn rules_no_control_manages_are_dropped() {
        let current = format!("{HEADER}-w /etc/docker -k docker\n-w /usr/sbin/dockerd -k docker\n");
        let out = String::from_utf8(with_rule(
            Some(&current),
            &rule("-w /usr/bin/containerd -k docker"),
            &[
                "-w /usr/bin/containerd -k docker".into(),
                "-w /usr/sbin/dockerd -p rwxa -k docker".into(),
            ],
        ))
        .unwrap();
        assert_eq!(
            out,
            format!("{HEADER}-w /usr/bin/containerd -k docker\n-w /usr/sbin/dockerd -k docker\n")
        );
    }

    #[test]
    fn the_file_keeps_other_rules_once_each_in_a_stable_order() {
        let current = format!(
            "{HEADER}-w /usr/sbin/dockerd -p rwxa -k docker\n-w /run/containerd -k docker\n# a comment\n-e 2\n-a never,exit -F arch=b64 -S mount -F uid=0 -k m\n-w /etc/docker -k docker\n"
        );
        // Every rule line of the file is managed here; dropping unmanaged ones is tested below.
        let managed: Vec<String> = current
            .lines()
            .map(str::to_string)
            .chain(["-w /usr/bin/containerd -k docker".to_string()])
            .collect();
        let out = String::from_utf8(with_rule(
            Some(&current),
            &rule("-w /usr/sbin/dockerd -k docker"),
            &managed,
        ))
        .unwrap();
        assert_eq!(
            out,
            format!(
                "{HEADER}-a never,exit -F arch=b64 -S mount -F uid=0 -k m\n-w /etc/docker -k docker\n-w /usr/sbin/dockerd -p rwxa -k docker\n-w /run/containerd -k docker\n"
            )
        );
        let added = String::from_utf8(with_rule(
            Some(&out),
            &rule("-w /usr/bin/containerd -k docker"),
            &managed,
        ))
        .unwrap();
        assert!(added.contains(
            "-w /etc/docker -k docker\n-w /usr/bin/containerd -k docker\n-w /usr/sbin/dockerd"
        ));
        // The same rules in another order give the same file.
        let mut lines: Vec<&str> = added.lines().filter(|l| !l.starts_with('#')).collect();
        lines.reverse();
        let shuffled = lines.join("\n");
        assert_eq!(
            String::from_utf8(with_rule(
                Some(&shuffled),
                &rule("-w /etc/docker -k docker"),
                &managed
            ))
            .unwrap(),
            added
        );
    }

    #[test]
    fn a_new_file_is_the_header_and_the_rule() {
        let out = with_rule(None, &rule("-w /etc/docker -k docker"), &[]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{HEADER}-w /etc/docker -k docker\n")
        );
    }
}
