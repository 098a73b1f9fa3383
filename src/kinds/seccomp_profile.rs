//! `seccomp-profile`: an OCI/Docker seccomp profile deployed where its consumers read it (the
//! kubelet's `/var/lib/kubelet/seccomp/` for `localhost/` profiles, or the file daemon.json's
//! `seccomp-profile` names).
//!
//! The file is a `file-content` file (atomic write, owner and mode, a symlink replaced, drift
//! reverted, originals backed up) whose content must first pass [`crate::seccomp::validate`]:
//! an invalid profile makes the control `error` with the reason and is never written, because
//! a runtime that reads it fails every container it starts. Syscall names this libseccomp does
//! not know are a warning in the message, as runtimes skip them. Under the kubelet's directory
//! Docker-only keys are a warning too: containerd drops them (see `seccomp::oci`).

use super::file_content::observe_content;
use super::{Context, FileContent, Kind, Observation, Part};
use crate::engine::Status;
use crate::fs::TrustPolicy;
use crate::profile::reader::TableReader;
use crate::seccomp::{self, Validated};

/// Where the kubelet's `localhost/` profiles live: the runtime (containerd) reads them as plain
/// OCI JSON.
const KUBELET_PROFILES: &str = "/var/lib/kubelet/seccomp/";

#[derive(Debug, Clone)]
pub struct SeccompProfile {
    pub file: FileContent,
}

impl SeccompProfile {
    pub fn parse(r: &mut TableReader) -> Option<SeccompProfile> {
        FileContent::parse(r).map(|file| SeccompProfile { file })
    }

    /// The profile's verdict, for `hardend validate`: a warning, or the reason it is invalid.
    pub fn check_content(&self, trust: &TrustPolicy) -> Result<Option<String>, String> {
        let content = self.file.read_desired(trust)?;
        match seccomp::validate(&content).as_ref() {
            Ok(v) => Ok(self.warning(v)),
            Err(e) => Err(format!(
                "invalid seccomp profile ({}): {e}",
                self.file.origin()
            )),
        }
    }

    /// Unknown syscall names, and Docker-only keys in a profile the kubelet will hand to
    /// containerd.
    fn warning(&self, v: &Validated) -> Option<String> {
        let kubelet = self
            .file
            .path
            .starts_with(KUBELET_PROFILES)
            .then(|| v.kubelet_warning())
            .flatten();
        let notes: Vec<String> = [v.warning(), kubelet].into_iter().flatten().collect();
        (!notes.is_empty()).then(|| notes.join("; "))
    }
}

impl Kind for SeccompProfile {
    fn target(&self) -> String {
        self.file.target()
    }

    fn watch_paths(&self) -> Vec<String> {
        self.file.watch_paths()
    }

    fn host_watch_paths(&self) -> Vec<std::path::PathBuf> {
        self.file.host_watch_paths()
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let shown = self.target();
        let part = match self.file.desired(ctx) {
            Err(e) => Part::new(shown, Status::Error).message(e),
            Ok(content) => match seccomp::validate(&content).as_ref() {
                Err(e) => Part::new(shown, Status::Error)
                    .expected("a valid seccomp profile")
                    .message(format!(
                        "invalid seccomp profile ({}), not deployed: {e}",
                        self.file.origin()
                    )),
                Ok(v) => {
                    let mut part = observe_content(&self.file, ctx, content);
                    let notes: Vec<String> = [
                        Some(part.message.clone()),
                        Some(v.summary()),
                        self.warning(v),
                    ]
                    .into_iter()
                    .flatten()
                    .filter(|m| !m.is_empty())
                    .collect();
                    part.message = notes.join("; ");
                    part
                }
            },
        };
        Observation {
            target: self.target(),
            parts: vec![part],
        }
    }
}
