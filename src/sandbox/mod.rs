//! hardend's own sandbox for `hardend run`: keep only the capabilities the enabled controls
//! need ([`capabilities`]), set no_new_privs, and install a seccomp allow-list ([`filter`]).
//! The setting `sandbox = false` turns it off.
//!
//! It is entered once, right after the first profile set is loaded (the kept capabilities
//! follow from its kinds) and before any control is looked at, so the first convergence
//! already runs under it. The daemon has one thread at that point; the filter is loaded with
//! TSYNC all the same.
//!
//! Limits: a capability dropped at start cannot be regained. A reload that enables a control
//! needing one writes a `restart-required` event per such control and lists it in the status
//! file (`missing_capabilities`); until hardend restarts, the kernel refuses that control's
//! changes (an `error`). The same goes for turning `sandbox` on or off: it takes effect at the
//! next start. A fight's writer is named only when hardend may read that process's
//! `/proc/PID/fd` (CAP_SYS_PTRACE, kept only for component controls on the host and for
//! `kernel.yama.*` sysctls, is needed for a writer holding more capabilities).
//!
//! Under `--root` (a root that is not `/`) live parts are `skipped`, so the capabilities only
//! they need (CAP_AUDIT_CONTROL, CAP_MAC_ADMIN, CAP_SYS_PTRACE for /proc/PID) are neither kept
//! nor reported missing: a restricted set such as the Kubernetes DaemonSet's is enough.

mod capabilities;
mod filter;

use std::collections::BTreeMap;

use caps::CapSet;
use serde::{Deserialize, Serialize};

use crate::journal::{self, Action, Event, EventType};
use crate::profile::ProfileSet;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot {what}: {reason}")]
    Capabilities { what: String, reason: String },
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(nix::Error),
    #[error("seccomp filter: cannot {what}: {reason}")]
    Filter { what: String, reason: String },
}

/// What the sandbox holds, as the status file and `hardend status` show it. Read back from the
/// kernel after entering, so it is the process's real state, sandbox on or off.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SandboxStatus {
    /// The `sandbox` setting the daemon started with.
    pub enabled: bool,
    /// Effective capabilities (the permitted set is the same), e.g. `CAP_CHOWN`.
    pub capabilities: Vec<String>,
    /// The bounding set: the most a program hardend runs can hold.
    pub bounding: Vec<String>,
    pub no_new_privs: bool,
    pub seccomp_filter: bool,
    /// How many system calls the filter allows (0 without a filter).
    pub allowed_syscalls: usize,
    /// Capabilities the loaded profile set needs that hardend does not hold (dropped at start
    /// for an earlier set, or never given to it), with the controls that need them: the kernel
    /// refuses those controls' changes until hardend restarts with them available.
    pub missing_capabilities: BTreeMap<String, Vec<String>>,
}

pub struct Sandbox {
    status: SandboxStatus,
    /// Whether the root is the host's `/` (live parts run, and need their capabilities).
    host: bool,
}

impl Sandbox {
    /// Enters the sandbox for `set` when `enabled`; either way reads back the process's state.
    /// `host` says whether the root is the host's `/`.
    pub fn enter(enabled: bool, host: bool, set: &ProfileSet) -> Result<Sandbox, SandboxError> {
        let mut allowed = 0;
        if enabled {
            let keep: caps::CapsHashSet = capabilities::for_set(set, host).into_keys().collect();
            capabilities::keep_only(&keep)?;
            nix::sys::prctl::set_no_new_privs().map_err(SandboxError::NoNewPrivs)?;
            allowed = filter::install()?;
        }
        probe();
        let mut sandbox = Sandbox {
            status: read_back(enabled, allowed),
            host,
        };
        sandbox.note_needs(set);
        for (cap, ids) in &sandbox.status.missing_capabilities {
            tracing::warn!(
                "hardend was started without {cap}, which {} need; the kernel will refuse their changes",
                ids.join(", ")
            );
        }
        Ok(sandbox)
    }

    pub fn status(&self) -> &SandboxStatus {
        &self.status
    }

    /// After a reload: says which controls of the new set need a capability the sandbox no
    /// longer has (one `restart-required` event per control, once per reload that finds it).
    pub fn after_reload(&mut self, set: &ProfileSet, enabled: bool) {
        if enabled != self.status.enabled {
            let mut e = Event::new(
                EventType::RestartRequired,
                format!(
                    "`sandbox = {enabled}` takes effect when hardend restarts; it runs {} its sandbox until then",
                    if self.status.enabled { "in" } else { "without" }
                ),
            );
            e.action = Some(Action::Skipped);
            journal::emit(&e);
        }
        self.note_needs(set);
        let mut by_control: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (cap, ids) in &self.status.missing_capabilities {
            for id in ids {
                by_control.entry(id).or_default().push(cap);
            }
        }
        for (id, caps) in by_control {
            let mut e = Event::new(
                EventType::RestartRequired,
                format!(
                    "control {id} needs {}, which hardend no longer holds (its sandbox keeps only what the controls loaded at start need); restart hardend for it to take effect",
                    caps.join(", ")
                ),
            );
            e.control = Some(id.to_string());
            e.control_kind = set
                .controls
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.spec.name());
            e.action = Some(Action::Skipped);
            journal::emit(&e);
        }
    }

    /// Records what `set` needs that the process does not hold (without the sandbox, only
    /// what it was started without, which is not the sandbox's to report).
    fn note_needs(&mut self, set: &ProfileSet) {
        self.status.missing_capabilities = if self.status.enabled {
            let held = caps::read(None, CapSet::Permitted).unwrap_or_default();
            capabilities::for_set(set, self.host)
                .into_iter()
                .filter(|(cap, _)| !held.contains(cap))
                .map(|(cap, ids)| (cap.to_string(), ids))
                .collect()
        } else {
            BTreeMap::new()
        };
    }
}

/// The process's state as the kernel has it.
fn read_back(enabled: bool, allowed: usize) -> SandboxStatus {
    let read = |set| capabilities::names(&caps::read(None, set).unwrap_or_default());
    let seccomp_filter = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.strip_prefix("Seccomp:").is_some_and(|v| v.trim() == "2"))
    });
    SandboxStatus {
        enabled,
        capabilities: read(CapSet::Effective),
        bounding: read(CapSet::Bounding),
        no_new_privs: nix::sys::prctl::get_no_new_privs().unwrap_or(false),
        seccomp_filter,
        allowed_syscalls: if seccomp_filter { allowed } else { 0 },
        missing_capabilities: BTreeMap::new(),
    }
}

/// A test hook, compiled into debug builds only: with `HARDEND_SANDBOX_PROBE=1`, the daemon
/// tries `mount` and `ptrace` once its sandbox is in place and prints the errno each gave,
/// so a test sees what the kernel does to the daemon process itself.
fn probe() {
    #[cfg(debug_assertions)]
    if std::env::var_os("HARDEND_SANDBOX_PROBE").is_some_and(|v| v == "1") {
        let (mount, ptrace) = crate::sys::try_mount_and_ptrace();
        eprintln!("hardend: sandbox-probe mount={mount} ptrace={ptrace}");
    }
}
