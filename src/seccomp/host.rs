//! Which parts of a profile apply on this host, decided as Docker decides them
//! (moby `profiles/seccomp/seccomp_linux.go`):
//!
//! - `archMap`: only the entry for the native architecture is used, expanded with its
//!   `subArchitectures`; other entries are not compiled (so Docker's default, whose map names
//!   `SCMP_ARCH_LOONGARCH64`, still builds with a libseccomp that lacks it). Without either
//!   list the filter covers the native architecture alone.
//! - `excludes` drops a rule when the host architecture (Docker's names: `amd64`, `arm64`,
//!   `x86`, `s390x`, ...) is listed, when the container has any listed capability, or when
//!   the kernel is at least `minKernel`; `includes` keeps it only when the architecture is
//!   listed, the container has every listed capability, and the kernel is at least
//!   `minKernel`.
//!
//! The capabilities are those of a container started with the runtimes' default set (Docker's
//! and containerd's, which the kubelet's `RuntimeDefault` uses): the filter hardend measures is
//! the one an ordinary container gets.

use super::profile::{Arch, Filter, KernelVersion, Profile, Syscall};

/// Docker's and containerd's default capability set (moby `oci/caps/defaults.go`,
/// containerd `oci/spec.go`).
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[derive(Debug, Clone)]
pub struct Host {
    /// The native architecture as a profile names it; `None` on one libseccomp lacks.
    pub arch: Option<Arch>,
    /// Docker's name for it (`amd64`, `arm64`, `x86`: moby's `goToNative` table), which the
    /// `arches` conditions use.
    pub docker_arch: &'static str,
    /// The running kernel's version; `None` when unreadable (then `minKernel` never matches).
    pub kernel: Option<KernelVersion>,
    pub caps: Vec<String>,
}

impl Host {
    pub fn current() -> Host {
        let (arch, docker_arch) = native();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|r| KernelVersion::parse(r.trim(), true));
        Host {
            arch,
            docker_arch,
            kernel,
            caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// The architectures the filter covers besides the native one.
    pub fn architectures(&self, p: &Profile) -> Vec<Arch> {
        if !p.architectures.is_empty() {
            return p.architectures.clone();
        }
        p.arch_map
            .iter()
            .filter(|e| Some(e.architecture) == self.arch)
            .flat_map(|e| std::iter::once(e.architecture).chain(e.sub_architectures.clone()))
            .collect()
    }

    /// Whether a rule is part of this host's filter.
    pub fn keeps(&self, call: &Syscall) -> bool {
        !self.matches_any(&call.excludes) && self.matches_all(&call.includes)
    }

    fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn kernel_at_least(&self, min: KernelVersion) -> bool {
        self.kernel.is_some_and(|k| k >= min)
    }

    fn matches_any(&self, f: &Filter) -> bool {
        f.arches.iter().any(|a| a == self.docker_arch)
            || f.caps.iter().any(|c| self.has_cap(c))
            || f.min_kernel.is_some_and(|m| self.kernel_at_least(m))
    }

    fn matches_all(&self, f: &Filter) -> bool {
        (f.arches.is_empty() || f.arches.iter().any(|a| a == self.docker_arch))
            && f.caps.iter().all(|c| self.has_cap(c))
            && f.min_kernel.is_none_or(|m| self.kernel_at_least(m))
    }
}

/// The native architecture, from the target this binary was built for, with Docker's name.
fn native() -> (Option<Arch>, &'static str) {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => (Some(Arch::X8664), "amd64"),
        "x86" => (Some(Arch::X86), "x86"),
        "aarch64" => (Some(Arch::Aarch64), "arm64"),
        "arm" => (Some(Arch::Arm), "arm"),
        "riscv64" => (Some(Arch::Riscv64), "riscv64"),
        "s390x" => (Some(Arch::S390X), "s390x"),
        "powerpc64" if little => (Some(Arch::Ppc64Le), "ppc64le"),
        "powerpc64" => (Some(Arch::Ppc64), "ppc64"),
        "loongarch64" => (Some(Arch::Loongarch64), "loongarch64"),
        "mips64" if little => (Some(Arch::Mipsel64), "mipsel64"),
        "mips64" => (Some(Arch::Mips64), "mips64"),
        "mips" if little => (Some(Arch::Mipsel), "mipsel"),
        "mips" => (Some(Arch::Mips), "mips"),
        _ => (None, "unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::profile::parse;

    fn host() -> Host {
        Host {
            arch: Some(Arch::X8664),
            docker_arch: "amd64",
            kernel: Some(KernelVersion { major: 6, minor: 1 }),
            caps: DEFAULT_CAPS.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn arch_map_expands_only_the_native_entry() {
        let p = parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[
            {"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"]},
            {"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]},
            {"architecture":"SCMP_ARCH_LOONGARCH64","subArchitectures":[]}]}"#)
        .unwrap();
        assert_eq!(
            host().architectures(&p),
            vec![Arch::X8664, Arch::X86, Arch::X32]
        );
    }

    #[test]
    fn includes_and_excludes_follow_docker() {
        let p = parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
            {"names":["bpf"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
            {"names":["chown"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_CHOWN"]}},
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_ADMIN"]}},
            {"names":["arch_prctl"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["amd64","x32"]}},
            {"names":["sync_file_range2"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["ppc64le"]}},
            {"names":["ptrace"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}},
            {"names":["future"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"9.0"}},
            {"names":["old"],"action":"SCMP_ACT_ALLOW","excludes":{"minKernel":"5.0"}}]}"#)
        .unwrap();
        let kept: Vec<&str> = p
            .syscalls
            .iter()
            .filter(|c| host().keeps(c))
            .flat_map(|c| c.names())
            .collect();
        assert_eq!(kept, ["chown", "clone", "arch_prctl", "ptrace"]);
    }

    #[test]
    fn kernel_versions_parse_strictly_in_profiles() {
        assert!(parse(br#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["a"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}"#).is_err());
        assert_eq!(
            KernelVersion::parse("6.1.0-18-amd64", true),
            Some(KernelVersion { major: 6, minor: 1 })
        );
        assert_eq!(KernelVersion::parse("6.1.0", false), None);
    }
}
