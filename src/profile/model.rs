//! The validated profile model: what the engine works from.

use std::fmt;
use std::path::PathBuf;

use crate::diag::Location;
use crate::kinds::KindSpec;

/// Whether hardend may change a control's target on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// `apply` changes it; `run` changes it when the settings say `enforce = true`.
    Enforce,
    /// Only reported; `apply` changes it when it is named with `--control`.
    Report,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s {
            "enforce" => Some(Policy::Enforce),
            "report" => Some(Policy::Report),
            _ => None,
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::Enforce => "enforce",
            Policy::Report => "report",
        })
    }
}

/// A host component whose absence makes its controls `not-applicable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    Docker,
    Kubelet,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::Docker, Component::Kubelet];

    pub fn parse(s: &str) -> Option<Component> {
        Component::ALL.into_iter().find(|c| c.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            Component::Docker => "docker",
            Component::Kubelet => "kubelet",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Control {
    pub id: String,
    pub title: String,
    pub policy: Policy,
    /// The profile's `requires` plus the control's own.
    pub requires: Vec<Component>,
    pub spec: KindSpec,
    /// Where `id` was written.
    pub origin: Location,
    /// The `[profile] name` of the file it came from.
    pub profile: String,
}

#[derive(Debug, Clone)]
pub struct Waiver {
    pub control: String,
    pub reason: String,
    /// The last day on which the waiver applies.
    pub expires: time::Date,
    pub origin: Location,
}

/// One parsed profile file.
#[derive(Debug, Clone)]
pub struct ProfileFile {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub controls: Vec<Control>,
    pub waivers: Vec<Waiver>,
}

/// The merged set in force: later files replace earlier controls of the same `id`.
#[derive(Debug, Clone, Default)]
pub struct ProfileSet {
    pub controls: Vec<Control>,
    pub waivers: Vec<Waiver>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

impl ProfileSet {
    pub fn control(&self, id: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.id == id)
    }

    /// The waiver in force for a control, if any: the last one written wins.
    pub fn waiver(&self, id: &str) -> Option<&Waiver> {
        self.waivers.iter().rev().find(|w| w.control == id)
    }

    /// Adds a file's controls: a control with an `id` already present replaces it in place.
    pub fn merge(&mut self, file: ProfileFile) {
        let mut position: std::collections::HashMap<String, usize> = self
            .controls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        for control in file.controls {
            match position.get(&control.id) {
                Some(&i) => self.controls[i] = control,
                None => {
                    position.insert(control.id.clone(), self.controls.len());
                    self.controls.push(control);
                }
            }
        }
        self.waivers.extend(file.waivers);
        self.files.push(file.path);
    }
}
