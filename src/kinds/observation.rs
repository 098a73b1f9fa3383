//! What a kind reports about its target: one [`Part`] per object it looked at, each with the
//! [`Fix`] that would bring it to the profile. Kinds describe fixes; the engine performs them,
//! so that backups and the order "back up, then change" live in one place.

use std::path::PathBuf;

use crate::engine::Status;

#[derive(Debug, Clone)]
pub struct Observation {
    /// The target as used: the path found among alternatives, or the glob pattern.
    pub target: String,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Part {
    pub target: String,
    pub status: Status,
    pub expected: String,
    pub actual: String,
    pub message: String,
    /// The component reads this only at start: the change waits for its restart.
    pub restart_required: bool,
    #[serde(skip)]
    pub fix: Option<Fix>,
}

impl Part {
    pub fn new(target: impl Into<String>, status: Status) -> Part {
        Part {
            target: target.into(),
            status,
            expected: String::new(),
            actual: String::new(),
            message: String::new(),
            restart_required: false,
            fix: None,
        }
    }

    pub fn restart_required(mut self, yes: bool) -> Part {
        self.restart_required = yes;
        self
    }

    pub fn expected(mut self, s: impl Into<String>) -> Part {
        self.expected = s.into();
        self
    }

    pub fn actual(mut self, s: impl Into<String>) -> Part {
        self.actual = s.into();
        self
    }

    pub fn message(mut self, s: impl Into<String>) -> Part {
        self.message = s.into();
        self
    }

    pub fn fix(mut self, fix: Fix) -> Part {
        self.fix = Some(fix);
        self
    }
}

/// A change to one object, described so it can be shown (`plan`) and then performed (`apply`).
#[derive(Debug, Clone, PartialEq)]
pub enum Fix {
    /// chown/chmod in place; `None` leaves that attribute alone.
    SetOwnerMode {
        path: PathBuf,
        uid: Option<u32>,
        gid: Option<u32>,
        mode: Option<u32>,
    },
    /// Replace (or create) the whole file atomically.
    WriteFile {
        path: PathBuf,
        content: Vec<u8>,
        uid: u32,
        gid: u32,
        mode: u32,
        /// What is there now, for the diff; `None` when missing or not a regular file.
        old: Option<Vec<u8>>,
    },
    /// Write a kernel parameter in place (`/proc/sys` files cannot be replaced by rename).
    WriteKernel { path: PathBuf, value: String },
    /// Add one rule to hardend's audit rules file, merged with the file's rules as they are
    /// when the fix is performed (another control's fix may have written it since);
    /// `preview` is that write as the file is now, for `plan`.
    MergeAuditRule {
        path: PathBuf,
        rule: String,
        /// Every rule the loaded set manages in that file: the others are dropped.
        managed: Vec<String>,
        preview: Box<Fix>,
    },
    /// Load one rule into the running kernel with auditctl (`Rule exists` is success).
    LoadAuditRule { rule: String },
    /// Load (or replace) the profiles of a deployed AppArmor file in the kernel with
    /// `apparmor_parser -r`, in `mode`; done after the file is written.
    LoadAppArmor {
        path: PathBuf,
        mode: crate::apparmor::ProfileMode,
        /// The profiles the file defines, for messages.
        names: Vec<String>,
    },
    /// SIGHUP to the running dockerd, which re-reads daemon.json and applies the reloadable
    /// keys; done after the file is written, then confirmed from its live state.
    ReloadDocker {
        pid: u32,
        socket: PathBuf,
        key: String,
        expected: serde_json::Value,
    },
}

impl Fix {
    /// The object the fix changes: a path, or the process it signals.
    pub fn target(&self) -> String {
        match self {
            Fix::SetOwnerMode { path, .. } | Fix::WriteFile { path, .. } => {
                path.display().to_string()
            }
            Fix::ReloadDocker { pid, .. } => format!("dockerd pid {pid}"),
            Fix::WriteKernel { path, .. } => path.display().to_string(),
            Fix::MergeAuditRule { path, .. } => path.display().to_string(),
            Fix::LoadAuditRule { .. } => "kernel audit rules".to_string(),
            Fix::LoadAppArmor { names, .. } => super::apparmor_profile::live_target(names),
        }
    }
}
