//! The result of one control, as every report format shows it.

use serde::{Serialize, Serializer};

use super::status::{worst, Status};
use crate::kinds::{Observation, Part};
use crate::profile::{Control, Policy};

#[derive(Debug, Clone, Serialize)]
pub struct WaiverState {
    pub reason: String,
    #[serde(serialize_with = "iso_date")]
    pub expires: time::Date,
    pub expired: bool,
}

fn iso_date<S: Serializer>(d: &time::Date, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&d.to_string())
}

#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    pub kind: &'static str,
    pub profile: String,
    pub policy: Policy,
    pub target: String,
    pub status: Status,
    pub expected: String,
    pub actual: String,
    pub message: String,
    pub restart_required: bool,
    pub waiver: Option<WaiverState>,
    pub parts: Vec<Part>,
}

impl ControlResult {
    fn base(control: &Control, target: String, status: Status) -> ControlResult {
        ControlResult {
            id: control.id.clone(),
            title: control.title.clone(),
            kind: control.spec.name(),
            profile: control.profile.clone(),
            policy: control.policy,
            target,
            status,
            expected: String::new(),
            actual: String::new(),
            message: String::new(),
            restart_required: false,
            waiver: None,
            parts: Vec::new(),
        }
    }

    pub fn not_applicable(control: &Control, component: &str) -> ControlResult {
        let mut r =
            ControlResult::base(control, control.spec.kind().target(), Status::NotApplicable);
        r.message = format!("{component} is not present on this host");
        r
    }

    /// Summarises an observation: the control shows its worst part.
    pub fn new(control: &Control, obs: Observation, waiver: Option<WaiverState>) -> ControlResult {
        let status = worst(obs.parts.iter().map(|p| p.status)).unwrap_or(Status::NotApplicable);
        let mut r = ControlResult::base(control, obs.target, status);
        if let Some(w) = obs.parts.iter().rev().max_by_key(|p| p.status.severity()) {
            r.expected = w.expected.clone();
            r.actual = w.actual.clone();
            let n = obs.parts.iter().filter(|p| p.status == status).count();
            r.message = if obs.parts.len() == 1 {
                r.target = w.target.clone();
                w.message.clone()
            } else if n > 1 && crate::kinds::is_glob(&r.target) && w.message.is_empty() {
                format!("{n} of {} {status}", obs.parts.len())
            } else if n > 1 && crate::kinds::is_glob(&r.target) {
                format!(
                    "{n} of {} {status}; first {}: {}",
                    obs.parts.len(),
                    w.target,
                    w.message
                )
            } else if w.target != r.target && !w.message.is_empty() {
                format!("{}: {}", w.target, w.message)
            } else {
                w.message.clone()
            };
            // A pending restart is news even when everything else passes.
            if status != Status::Drift {
                if let Some(p) = obs
                    .parts
                    .iter()
                    .find(|p| p.restart_required && !p.message.is_empty())
                {
                    if r.message.is_empty() {
                        r.message = p.message.clone();
                    }
                }
            }
        }
        r.restart_required = obs.parts.iter().any(|p| p.restart_required);
        r.parts = obs.parts;
        if let Some(w) = &waiver {
            if w.expired {
                r = r.with_note(&format!("waiver expired on {}", w.expires));
            } else {
                r.status = Status::Waived;
                r.message = format!("waived until {}: {}", w.expires, w.reason);
            }
        }
        r.waiver = waiver;
        r
    }

    /// Whether apply has something to do: a drifted part with a fix.
    pub fn has_fixes(&self) -> bool {
        self.parts
            .iter()
            .any(|p| p.status == Status::Drift && p.fix.is_some())
    }

    pub fn is_waived(&self) -> bool {
        self.status == Status::Waived
    }

    /// Adds a note in front of the message.
    pub fn with_note(mut self, note: &str) -> ControlResult {
        self.message = if self.message.is_empty() {
            note.to_string()
        } else {
            format!("{note}; {}", self.message)
        };
        self
    }
}
