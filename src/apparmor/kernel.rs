//! The running kernel's AppArmor: whether it has any, and which profiles it has loaded in
//! which mode (`/sys/kernel/security/apparmor/profiles`, one `name (mode)` line each).

use std::path::Path;

/// The securityfs directory that exists only where the kernel runs AppArmor.
pub const SECURITYFS: &str = "/sys/kernel/security/apparmor";
const PROFILES: &str = "/sys/kernel/security/apparmor/profiles";
/// `Y` where the module is enabled; absent or `N` otherwise.
const ENABLED: &str = "/sys/module/apparmor/parameters/enabled";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelState {
    /// The kernel has no AppArmor (or it is disabled): the reason, for messages.
    Unsupported(String),
    /// The loaded profiles: (name, mode as the kernel prints it).
    Loaded(Vec<(String, String)>),
    /// AppArmor is there, but its profile list could not be read.
    Failed(String),
}

impl KernelState {
    pub fn read() -> KernelState {
        if !Path::new(SECURITYFS).is_dir() {
            let why = match std::fs::read_to_string(ENABLED) {
                Ok(v) if v.trim() == "N" => "AppArmor is disabled (apparmor=0 at boot)",
                _ => "the kernel has no AppArmor",
            };
            return KernelState::Unsupported(format!("{why}: no {SECURITYFS}"));
        }
        match std::fs::read_to_string(PROFILES) {
            Ok(text) => KernelState::Loaded(parse_profiles(&text)),
            Err(e) => KernelState::Failed(format!("{PROFILES}: {e}")),
        }
    }

    /// The mode a profile is loaded in, if it is.
    pub fn mode_of(&self, name: &str) -> Option<&str> {
        match self {
            KernelState::Loaded(list) => list
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, m)| m.as_str()),
            _ => None,
        }
    }
}

/// Parses the profiles file. A name may contain spaces and parentheses, so the mode is the
/// last parenthesised word.
pub fn parse_profiles(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_end();
            let (name, mode) = line.rsplit_once(" (")?;
            let mode = mode.strip_suffix(')')?;
            Some((name.to_string(), mode.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As a Debian 12 host with Docker prints it.
    const LISTING: &str = "docker-default (enforce)\n\
        /usr/sbin/cups-browsed (enforce)\n\
        nvidia_modprobe//kmod (enforce)\n\
        nvidia_modprobe (enforce)\n\
        lsb_release (enforce)\n\
        /usr/bin/man (enforce)\n\
        /{,usr/}sbin/dhclient (enforce)\n\
        hardend-test (complain)\n\
        my profile (v2) (kill)\n";

    #[test]
    fn modes_parse_from_the_kernel_listing() {
        let state = KernelState::Loaded(parse_profiles(LISTING));
        assert_eq!(state.mode_of("docker-default"), Some("enforce"));
        assert_eq!(state.mode_of("/{,usr/}sbin/dhclient"), Some("enforce"));
        assert_eq!(state.mode_of("hardend-test"), Some("complain"));
        assert_eq!(state.mode_of("nvidia_modprobe//kmod"), Some("enforce"));
        assert_eq!(state.mode_of("my profile (v2)"), Some("kill"));
        assert_eq!(state.mode_of("absent"), None);
        assert_eq!(parse_profiles("").len(), 0);
        assert_eq!(parse_profiles("garbage line\n").len(), 0);
    }
}
