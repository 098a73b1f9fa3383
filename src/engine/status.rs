//! Control statuses, as DESIGN.md defines them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Drift,
    Fixed,
    Waived,
    NotApplicable,
    Skipped,
    Unsupported,
    Conflict,
    Error,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pass,
        Status::Drift,
        Status::Fixed,
        Status::Waived,
        Status::NotApplicable,
        Status::Skipped,
        Status::Unsupported,
        Status::Conflict,
        Status::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Drift => "drift",
            Status::Fixed => "fixed",
            Status::Waived => "waived",
            Status::NotApplicable => "not-applicable",
            Status::Skipped => "skipped",
            Status::Unsupported => "unsupported",
            Status::Conflict => "conflict",
            Status::Error => "error",
        }
    }

    /// Severity for combining parts: a control shows its worst part, in the order error,
    /// conflict, drift, unsupported, skipped, then the rest.
    pub fn severity(self) -> u8 {
        match self {
            Status::Error => 9,
            Status::Conflict => 8,
            Status::Drift => 7,
            Status::Unsupported => 6,
            Status::Skipped => 5,
            Status::Fixed => 4,
            Status::Waived => 3,
            Status::Pass => 2,
            Status::NotApplicable => 1,
        }
    }

    /// Statuses that make `check` exit 1.
    pub fn is_failure(self) -> bool {
        matches!(self, Status::Drift | Status::Conflict | Status::Error)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The worst of several statuses; `None` for none.
pub fn worst(statuses: impl IntoIterator<Item = Status>) -> Option<Status> {
    statuses.into_iter().max_by_key(|s| s.severity())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_part_wins_in_design_order() {
        use Status::*;
        assert_eq!(worst([Pass, Unsupported, Skipped]), Some(Unsupported));
        assert_eq!(worst([Drift, Conflict]), Some(Conflict));
        assert_eq!(worst([Fixed, Pass]), Some(Fixed));
        assert_eq!(worst([Pass, NotApplicable]), Some(Pass));
        assert_eq!(worst([Error, Conflict, Drift]), Some(Error));
    }
}
