//! Checks across controls and files, once the set is merged.

use super::model::ProfileSet;
use crate::diag::{Diagnostics, Severity};

/// How to treat a waiver that names a control the set does not define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownWaiver {
    Error,
    Warning,
}

pub fn cross_check(set: &ProfileSet, unknown_waiver: UnknownWaiver, diags: &mut Diagnostics) {
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
