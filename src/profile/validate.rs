//! Checks across controls and files, once the set is merged.

use super::model::{Control, ProfileSet};
use crate::diag::{Diagnostics, Severity};
use crate::kinds::{FileContent, FileMode, KindSpec};

/// How to treat a waiver that names a control the set does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownWaiver {
    Error,
    Warning,
}

pub fn cross_check(set: &ProfileSet, unknown_waiver: UnknownWaiver, diags: &mut Diagnostics) {
    contradictory_file_controls(set, diags);
    contradictory_sysctls(set, diags);
    for waiver in &set.waivers {
        if set.control(&waiver.control).is_none() {
            let severity = match unknown_waiver {
                UnknownWaiver::Error => Severity::Error,
                UnknownWaiver::Warning => Severity::Warning,
            };
            diags.push(
                severity,
                waiver.origin.clone(),
                format!(
                    "waiver for control `{}`, which no loaded profile defines",
                    waiver.control
                ),
            );
        }
    }
}

/// A file-content control writes a file with an exact owner and mode; a file-mode control on
/// the same path that forbids them would make every apply undo the other's change.
fn contradictory_file_controls(set: &ProfileSet, diags: &mut Diagnostics) {
    let contents: Vec<(&Control, &FileContent)> = set
        .controls
        .iter()
        .filter_map(|c| match &c.spec {
            KindSpec::FileContent(f) => Some((c, f)),
            _ => None,
        })
        .collect();
    for control in &set.controls {
        let KindSpec::FileMode(fm) = &control.spec else {
            continue;
        };
        for (other, fc) in &contents {
            let path = fc.path.to_string_lossy();
            if !fm.paths.iter().any(|p| *p == path) {
                continue;
            }
            if let Some(why) = disagreement(fm, fc) {
                diags.error(
                    control.origin.clone(),
                    format!(
                        "control `{}` contradicts `{}` (at {}) on {path}: {why}; apply would never settle",
                        control.id, other.id, other.origin
                    ),
                );
            }
        }
    }
}

fn disagreement(fm: &FileMode, fc: &FileContent) -> Option<String> {
    if let Some(m) = fm.mode {
        let bad = if fm.mode_exact {
            m != fc.mode
        } else {
            fc.mode.0 & !m.0 != 0
        };
        if bad {
            return Some(format!(
                "it allows mode {m}, the file is written with {}",
                fc.mode
            ));
        }
    }
    if fm.owner.as_ref().is_some_and(|o| *o != fc.owner) {
        return Some("the owners differ".into());
    }
    if fm.group.as_ref().is_some_and(|g| *g != fc.group) {
        return Some("the groups differ".into());
    }
    None
}

/// Two controls that want one kernel parameter at different values can never both pass.
fn contradictory_sysctls(set: &ProfileSet, diags: &mut Diagnostics) {
    let sysctls: Vec<(&Control, &crate::kinds::Sysctl)> = set
        .controls
        .iter()
        .filter_map(|c| match &c.spec {
            KindSpec::Sysctl(s) => Some((c, s)),
            _ => None,
        })
        .collect();
    for (n, (a, sa)) in sysctls.iter().enumerate() {
        for (b, sb) in &sysctls[n + 1..] {
            if sa.key == sb.key && sa.value != sb.value {
                diags.error(
                    b.origin.clone(),
                    format!(
                        "control `{}` sets {} = {} but `{}` (at {}) sets it to {}",
                        b.id, sb.key, sb.value, a.id, a.origin, sa.value
                    ),
                );
            }
        }
    }
}

/// A `source` file must exist and be root's, as a profile must, and a seccomp or AppArmor
/// profile must compile. Only `validate` asks: at check and run time a bad source is that
/// control's `error` while the rest proceed.
pub fn check_sources(set: &ProfileSet, diags: &mut Diagnostics) {
    let trust = crate::fs::TrustPolicy { owner_uid: 0 };
    for control in &set.controls {
        let verdict = match &control.spec {
            KindSpec::FileContent(FileContent {
                content: crate::kinds::ContentSource::File(path),
                ..
            }) => crate::fs::read_trusted(path, &trust)
                .map(|_| None)
                .map_err(|e| format!("source {}: {e}", path.display())),
            KindSpec::SeccompProfile(s) => s.check_content(&trust),
            KindSpec::AppArmorProfile(a) => a.check_content(&trust).map(|()| None),
            _ => Ok(None),
        };
        match verdict {
            Ok(None) => {}
            Ok(Some(warning)) => diags.warning(
                control.origin.clone(),
                format!("control `{}`: {warning}", control.id),
            ),
            Err(e) => diags.error(
                control.origin.clone(),
                format!("control `{}`: {e}", control.id),
            ),
        }
    }
}
