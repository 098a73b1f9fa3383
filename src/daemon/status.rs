//! The status file `<state-dir>/status.json`: what the running daemon sees, kept current
//! atomically so `hardend status` can read it (and still read it after the daemon stopped).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::write_state_file;
use crate::sandbox::SandboxStatus;

pub const STATUS_FILE: &str = "status.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ControlStatus {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub target: String,
    pub message: String,
    pub restart_required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonStatus {
    pub pid: u32,
    pub started_at: String,
    pub updated_at: String,
    pub last_convergence: String,
    pub enforce: bool,
    pub root: PathBuf,
    pub profile_files: Vec<PathBuf>,
    /// When the profiles in force are the last-known-good copy: when it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good_since: Option<String>,
    pub watched_directories: usize,
    pub polled_controls: usize,
    /// hardend's own sandbox (absent in files written before it existed: all off).
    #[serde(default)]
    pub sandbox: SandboxStatus,
    /// Every control whose status is not `pass` (the passing ones are only counted, so the
    /// file stays small however many files are managed).
    pub controls: Vec<ControlStatus>,
    pub summary: BTreeMap<String, usize>,
}

impl DaemonStatus {
    /// One line for systemd's STATUS=: "28 controls: 25 pass, 2 drift, 1 error".
    pub fn one_line(&self) -> String {
        let counts: Vec<String> = self
            .summary
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{n} {s}"))
            .collect();
        format!(
            "{} controls: {}{}{}",
            self.summary.values().sum::<usize>(),
            if counts.is_empty() {
                "none".to_string()
            } else {
                counts.join(", ")
            },
            if self.enforce { "" } else { " (report only)" },
            if self.last_good_since.is_some() {
                "; profiles on disk rejected, last-known-good set in force"
            } else {
                ""
            }
        )
    }

    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).expect("status is plain data");
        std::fs::create_dir_all(state_dir)?;
        write_state_file(&state_dir.join(STATUS_FILE), &bytes, 0o644)
            .map_err(|e| std::io::Error::other(e.to_string()))
    }

    pub fn load(state_dir: &Path) -> Result<DaemonStatus, String> {
        let path = state_dir.join(STATUS_FILE);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
