//! Control kinds: one module per kind, each parsing its own profile keys and observing its
//! target. Adding a kind touches its file, the enum below and [`KIND_NAMES`], nothing else.

#![forbid(unsafe_code)]

mod apparmor_profile;
mod attrs;
mod audit_rule;
mod docker_daemon;
mod file_content;
mod file_mode;
mod kubelet_config;
mod observation;
mod seccomp_profile;
mod sysctl;

pub use apparmor_profile::AppArmorProfile;
pub use attrs::{is_glob, Mode};
pub use audit_rule::AuditRule;
pub use docker_daemon::DockerDaemon;
pub use file_content::{ContentSource, FileContent};
pub use file_mode::FileMode;
pub use kubelet_config::KubeletConfig;
pub use observation::{Fix, Observation, Part};
pub use seccomp_profile::SeccompProfile;
pub use sysctl::Sysctl;

use crate::fs::{Accounts, Lookup, Root, TrustPolicy};
use crate::profile::reader::TableReader;

/// Every kind a profile may name.
pub const KIND_NAMES: &[&str] = &[
    "file-mode",
    "file-content",
    "docker-daemon",
    "kubelet-config",
    "sysctl",
    "audit-rule",
    "seccomp-profile",
    "apparmor-profile",
];

/// Lookups an observation made of targets it found drifted, kept for the fix that follows at
/// once (the daemon's revert path), so a target is not resolved twice between the kernel's
/// event and the revert. The fix still checks that the object is the one observed.
#[derive(Default)]
pub struct KeptLookups(std::cell::RefCell<Vec<Lookup>>);

impl KeptLookups {
    /// The kept lookup of `path`, if the observation kept one.
    pub fn take(&self, path: &std::path::Path) -> Option<Lookup> {
        let mut kept = self.0.borrow_mut();
        let i = kept.iter().position(|l| l.path == path)?;
        Some(kept.swap_remove(i))
    }
}

/// What a kind needs to observe its target.
pub struct Context<'a> {
    pub root: &'a Root,
    /// The loaded set: kinds that share one persisted file (sysctl.d, audit rules) keep in it
    /// exactly what the set's controls manage.
    pub set: &'a crate::profile::ProfileSet,
    pub accounts: &'a Accounts,
    /// Who must own `source` files (root).
    pub trust: &'a TrustPolicy,
    /// Where to keep lookups for an immediate fix; `None` when nothing will be fixed at once
    /// (check, plan: a report of 10,000 controls must not hold 10,000 directories open).
    pub found: Option<&'a KeptLookups>,
}

impl Context<'_> {
    /// Keeps the lookup of a drifted target for the fix, when one follows at once.
    pub fn keep(&self, lookup: Lookup) {
        if let Some(found) = self.found {
            found.0.borrow_mut().push(lookup);
        }
    }
}

pub trait Kind {
    /// The target as the profile names it, for listings.
    fn target(&self) -> String;
    /// Look at the target and compare it with the control; never changes anything.
    fn observe(&self, ctx: &Context) -> Observation;
    /// Paths or globs (as the profile names them) whose changes can affect the control: the
    /// daemon watches their directories with inotify.
    fn watch_paths(&self) -> Vec<String>;
    /// Host files outside the managed root whose changes affect the control (a `source`):
    /// the daemon watches them too, so that an updated source is deployed.
    fn host_watch_paths(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// The component the kind configures, which must be present (else `not-applicable`).
    fn component(&self) -> Option<crate::profile::Component> {
        None
    }
    /// Kernel state that inotify cannot see: the daemon re-checks it on its poll timer.
    fn polled(&self) -> bool {
        false
    }
    /// The poll timer's cheap question: does the live state still match? `None` when the kind
    /// cannot tell cheaply (then the whole control is observed).
    fn live_matches(&self, _ctx: &Context) -> Option<bool> {
        None
    }
}

#[derive(Debug, Clone)]
pub enum KindSpec {
    FileMode(FileMode),
    FileContent(FileContent),
    DockerDaemon(DockerDaemon),
    Sysctl(Sysctl),
    AuditRule(AuditRule),
    KubeletConfig(KubeletConfig),
    SeccompProfile(SeccompProfile),
    AppArmorProfile(AppArmorProfile),
}

impl KindSpec {
    /// Reads the kind's own keys; `None` for an unknown kind or when its keys are in error.
    pub fn parse(kind: &str, r: &mut TableReader) -> Option<KindSpec> {
        match kind {
            "file-mode" => FileMode::parse(r).map(KindSpec::FileMode),
            "file-content" => FileContent::parse(r).map(KindSpec::FileContent),
            "docker-daemon" => DockerDaemon::parse(r).map(KindSpec::DockerDaemon),
            "sysctl" => Sysctl::parse(r).map(KindSpec::Sysctl),
            "audit-rule" => AuditRule::parse(r).map(KindSpec::AuditRule),
            "kubelet-config" => KubeletConfig::parse(r).map(KindSpec::KubeletConfig),
            "seccomp-profile" => SeccompProfile::parse(r).map(KindSpec::SeccompProfile),
            "apparmor-profile" => AppArmorProfile::parse(r).map(KindSpec::AppArmorProfile),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            KindSpec::FileMode(_) => "file-mode",
            KindSpec::FileContent(_) => "file-content",
            KindSpec::DockerDaemon(_) => "docker-daemon",
            KindSpec::Sysctl(_) => "sysctl",
            KindSpec::AuditRule(_) => "audit-rule",
            KindSpec::KubeletConfig(_) => "kubelet-config",
            KindSpec::SeccompProfile(_) => "seccomp-profile",
            KindSpec::AppArmorProfile(_) => "apparmor-profile",
        }
    }

    pub fn kind(&self) -> &dyn Kind {
        match self {
            KindSpec::FileMode(k) => k,
            KindSpec::FileContent(k) => k,
            KindSpec::DockerDaemon(k) => k,
            KindSpec::Sysctl(k) => k,
            KindSpec::AuditRule(k) => k,
            KindSpec::KubeletConfig(k) => k,
            KindSpec::SeccompProfile(k) => k,
            KindSpec::AppArmorProfile(k) => k,
        }
    }
}
