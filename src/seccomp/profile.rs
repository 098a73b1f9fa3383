//! The OCI/Docker seccomp profile JSON as typed structs (runtime-spec `config-linux.md`
//! "Seccomp", moby `profiles/seccomp/seccomp.go` for Docker's `archMap`, `name`, `includes`,
//! `excludes`). Names are enums, so a typo or a wrong JSON type is a parse error that carries
//! its JSON path (`syscalls[3].action`) and line:column.
//!
//! Unknown keys are ignored, as Go's encoding/json (Docker, runc) ignores them.

use serde::Deserialize;

use super::SeccompError;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Required here: a profile without one is treated by Docker and runc as "no seccomp at
    /// all", which a hardening control must not deploy by accident.
    pub default_action: Option<Action>,
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<Arch>,
    #[serde(default)]
    pub arch_map: Vec<ArchMapEntry>,
    #[serde(default)]
    pub flags: Vec<Flag>,
    pub listener_path: Option<String>,
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Vec<Arch>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Syscall {
    /// Docker's legacy single name.
    pub name: Option<String>,
    #[serde(default)]
    pub names: Vec<String>,
    pub action: Action,
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

impl Syscall {
    /// The names the rule covers: `names`, or Docker's legacy single `name`.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.name
            .iter()
            .chain(self.names.iter())
            .map(String::as_str)
    }
}

/// Docker's conditions on a rule: capabilities of the container, the host architecture (Go's
/// names: `amd64`, `arm64`, ...), the host kernel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
    pub min_kernel: Option<KernelVersion>,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Action {
    /// libseccomp's `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD`.
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

impl Action {
    /// Only these carry an `errnoRet` (runtime-spec: any other action with one must fail).
    pub fn takes_errno(self) -> bool {
        matches!(self, Action::Errno | Action::Trace)
    }

    /// The name as a profile spells it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Kill => "SCMP_ACT_KILL",
            Action::KillProcess => "SCMP_ACT_KILL_PROCESS",
            Action::KillThread => "SCMP_ACT_KILL_THREAD",
            Action::Trap => "SCMP_ACT_TRAP",
            Action::Errno => "SCMP_ACT_ERRNO",
            Action::Trace => "SCMP_ACT_TRACE",
            Action::Allow => "SCMP_ACT_ALLOW",
            Action::Log => "SCMP_ACT_LOG",
            Action::Notify => "SCMP_ACT_NOTIFY",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Arch {
    #[serde(rename = "SCMP_ARCH_X86")]
    X86,
    #[serde(rename = "SCMP_ARCH_X86_64")]
    X8664,
    #[serde(rename = "SCMP_ARCH_X32")]
    X32,
    #[serde(rename = "SCMP_ARCH_ARM")]
    Arm,
    #[serde(rename = "SCMP_ARCH_AARCH64")]
    Aarch64,
    #[serde(rename = "SCMP_ARCH_LOONGARCH64")]
    Loongarch64,
    #[serde(rename = "SCMP_ARCH_M68K")]
    M68k,
    #[serde(rename = "SCMP_ARCH_MIPS")]
    Mips,
    #[serde(rename = "SCMP_ARCH_MIPS64")]
    Mips64,
    #[serde(rename = "SCMP_ARCH_MIPS64N32")]
    Mips64N32,
    #[serde(rename = "SCMP_ARCH_MIPSEL")]
    Mipsel,
    #[serde(rename = "SCMP_ARCH_MIPSEL64")]
    Mipsel64,
    #[serde(rename = "SCMP_ARCH_MIPSEL64N32")]
    Mipsel64N32,
    #[serde(rename = "SCMP_ARCH_PPC")]
    Ppc,
    #[serde(rename = "SCMP_ARCH_PPC64")]
    Ppc64,
    #[serde(rename = "SCMP_ARCH_PPC64LE")]
    Ppc64Le,
    #[serde(rename = "SCMP_ARCH_S390")]
    S390,
    #[serde(rename = "SCMP_ARCH_S390X")]
    S390X,
    #[serde(rename = "SCMP_ARCH_PARISC")]
    Parisc,
    #[serde(rename = "SCMP_ARCH_PARISC64")]
    Parisc64,
    #[serde(rename = "SCMP_ARCH_RISCV64")]
    Riscv64,
    #[serde(rename = "SCMP_ARCH_SHEB")]
    Sheb,
    #[serde(rename = "SCMP_ARCH_SH")]
    Sh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Op {
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

/// Checked by name only: the kernel decides at load time whether it supports a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Flag {
    #[serde(rename = "SECCOMP_FILTER_FLAG_TSYNC")]
    Tsync,
    #[serde(rename = "SECCOMP_FILTER_FLAG_LOG")]
    Log,
    #[serde(rename = "SECCOMP_FILTER_FLAG_SPEC_ALLOW")]
    SpecAllow,
    #[serde(rename = "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV")]
    WaitKillableRecv,
}

/// Docker's `minKernel`: `"X.Y"`, compared with the running kernel's release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    /// `"6.1"`; with `lenient`, trailing text after the minor number (`"6.1.0-18-amd64"`) is
    /// allowed, as in a kernel release string.
    pub fn parse(s: &str, lenient: bool) -> Option<KernelVersion> {
        let (major, rest) = s.split_once('.')?;
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || (!lenient && digits != rest.len()) {
            return None;
        }
        Some(KernelVersion {
            major: major.parse().ok()?,
            minor: rest[..digits].parse().ok()?,
        })
    }
}

impl<'de> Deserialize<'de> for KernelVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KernelVersion::parse(&s, false).ok_or_else(|| {
            serde::de::Error::custom(format!("invalid kernel version {s:?}: expected \"X.Y\""))
        })
    }
}

/// Parses the JSON; a syntax or type error names its JSON path, line and column.
pub fn parse(bytes: &[u8]) -> Result<Profile, SeccompError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let profile: Profile = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        SeccompError::Json {
            path: if path == "." { None } else { Some(path) },
            line: inner.line(),
            column: inner.column(),
            message: strip_position(&inner.to_string()),
        }
    })?;
    de.end().map_err(|e| SeccompError::Json {
        path: None,
        line: e.line(),
        column: e.column(),
        message: strip_position(&e.to_string()),
    })?;
    Ok(profile)
}

/// serde_json appends " at line L column C", which the error shows in its own place; serde
/// calls a name outside an enum's list a "variant".
fn strip_position(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    message.replace("unknown variant", "unknown name")
}
