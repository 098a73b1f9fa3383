//! The profile turned into a libseccomp filter as runc builds it
//! (`libcontainer/seccomp/seccomp_linux.go`), then exported as BPF to a memfd to measure it.
//! hardend never loads it (its tests do, in a child process, to probe what it refuses).
//!
//! runc's choices kept here: a rule whose action is the default action is skipped (libseccomp
//! refuses it with EACCES); an unresolvable syscall name is skipped; conditions of one rule are
//! ANDed in one libseccomp rule unless two name the same argument, which libseccomp cannot
//! express, and then each condition becomes a rule of its own.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

use super::check::ARGS;
use super::host::Host;
use super::profile::{Action, Arch, Arg, Op, Profile};
use super::{SeccompError, Validated};

/// EPERM: the errno when `errnoRet` is absent (runtime-spec).
const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// One BPF instruction (`struct sock_filter`) is 8 bytes.
const BPF_INSTRUCTION: usize = 8;

/// The filter runc would build for `p` on `host`, measured.
pub fn build(p: &Profile, host: &Host) -> Result<Validated, SeccompError> {
    let program = program(p, host)?;
    Ok(Validated {
        instructions: program.bpf.len() / BPF_INSTRUCTION,
        architectures: program.architectures,
        unknown_syscalls: program.unknown.into_iter().collect(),
        docker_only: Vec::new(),
    })
}

/// A filter as exported BPF.
pub struct Program {
    /// `struct sock_filter` instructions, 8 bytes each.
    pub bpf: Vec<u8>,
    pub architectures: Vec<&'static str>,
    pub unknown: BTreeSet<String>,
}

/// Builds the filter runc would build for `p` on `host` and exports it.
pub fn program(p: &Profile, host: &Host) -> Result<Program, SeccompError> {
    let default = action(
        p.default_action.expect("check() requires defaultAction"),
        p.default_errno_ret,
    );
    let lib = |place: &str, e: libseccomp::error::SeccompError| SeccompError::Libseccomp {
        place: place.to_string(),
        reason: e.to_string(),
    };
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| lib("defaultAction", e))?;
    let mut architectures = Vec::new();
    for arch in host.architectures(p) {
        ctx.add_arch(scmp_arch(arch))
            .map_err(|e| lib(&format!("architecture {}", arch_name(arch)), e))?;
        architectures.push(arch_name(arch));
    }
    if architectures.is_empty() {
        architectures.push(host.arch.map_or("the native architecture", arch_name));
    }

    let mut unknown = BTreeSet::new();
    for (i, call) in p.syscalls.iter().enumerate() {
        // Every name is resolved, so that a typo in a rule this host does not compile is
        // reported too.
        let mut resolved = Vec::new();
        for name in call.names() {
            match ScmpSyscall::from_name(name) {
                Ok(s) => resolved.push((name, s)),
                Err(_) => {
                    unknown.insert(name.to_string());
                }
            }
        }
        let act = action(call.action, call.errno_ret);
        if !host.keeps(call) || act == default {
            continue;
        }
        let conditions: Vec<ScmpArgCompare> = call.args.iter().map(condition).collect();
        let mut per_index = [0usize; ARGS as usize];
        call.args
            .iter()
            .for_each(|a| per_index[a.index as usize] += 1);
        let separate = per_index.iter().any(|n| *n > 1);
        for (name, syscall) in resolved {
            let place = format!("syscalls[{i}] ({name})");
            if separate {
                for c in &conditions {
                    ctx.add_rule_conditional(act, syscall, std::slice::from_ref(c))
                        .map_err(|e| lib(&place, e))?;
                }
            } else {
                ctx.add_rule_conditional(act, syscall, &conditions)
                    .map_err(|e| lib(&place, e))?;
            }
        }
    }

    let fd = memfd_create(c"hardend-seccomp-bpf", MemFdCreateFlag::MFD_CLOEXEC)
        .map_err(|e| SeccompError::Export(format!("memfd_create: {e}")))?;
    ctx.export_bpf(&fd)
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    let mut file = std::fs::File::from(fd);
    let mut bpf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bpf))
        .map_err(|e| SeccompError::Export(e.to_string()))?;
    Ok(Program {
        bpf,
        architectures,
        unknown,
    })
}

fn action(a: Action, errno: Option<u32>) -> ScmpAction {
    let errno = errno.unwrap_or(DEFAULT_ERRNO);
    match a {
        Action::Kill | Action::KillThread => ScmpAction::KillThread,
        Action::KillProcess => ScmpAction::KillProcess,
        Action::Trap => ScmpAction::Trap,
        Action::Errno => ScmpAction::Errno(errno as i32),
        Action::Trace => ScmpAction::Trace(errno as u16),
        Action::Allow => ScmpAction::Allow,
        Action::Log => ScmpAction::Log,
        Action::Notify => ScmpAction::Notify,
    }
}

fn condition(a: &Arg) -> ScmpArgCompare {
    let (op, datum) = match a.op {
        Op::Ne => (ScmpCompareOp::NotEqual, a.value),
        Op::Lt => (ScmpCompareOp::Less, a.value),
        Op::Le => (ScmpCompareOp::LessOrEqual, a.value),
        Op::Eq => (ScmpCompareOp::Equal, a.value),
        Op::Ge => (ScmpCompareOp::GreaterEqual, a.value),
        Op::Gt => (ScmpCompareOp::Greater, a.value),
        // The OCI format puts the mask in `value` and the expected result in `valueTwo`.
        Op::MaskedEq => (ScmpCompareOp::MaskedEqual(a.value), a.value_two),
    };
    ScmpArgCompare::new(a.index, op, datum)
}

fn scmp_arch(a: Arch) -> ScmpArch {
    match a {
        Arch::X86 => ScmpArch::X86,
        Arch::X8664 => ScmpArch::X8664,
        Arch::X32 => ScmpArch::X32,
        Arch::Arm => ScmpArch::Arm,
        Arch::Aarch64 => ScmpArch::Aarch64,
        Arch::Loongarch64 => ScmpArch::Loongarch64,
        Arch::M68k => ScmpArch::M68k,
        Arch::Mips => ScmpArch::Mips,
        Arch::Mips64 => ScmpArch::Mips64,
        Arch::Mips64N32 => ScmpArch::Mips64N32,
        Arch::Mipsel => ScmpArch::Mipsel,
        Arch::Mipsel64 => ScmpArch::Mipsel64,
        Arch::Mipsel64N32 => ScmpArch::Mipsel64N32,
        Arch::Ppc => ScmpArch::Ppc,
        Arch::Ppc64 => ScmpArch::Ppc64,
        Arch::Ppc64Le => ScmpArch::Ppc64Le,
        Arch::S390 => ScmpArch::S390,
        Arch::S390X => ScmpArch::S390X,
        Arch::Parisc => ScmpArch::Parisc,
        Arch::Parisc64 => ScmpArch::Parisc64,
        Arch::Riscv64 => ScmpArch::Riscv64,
        Arch::Sheb => ScmpArch::Sheb,
        Arch::Sh => ScmpArch::Sh,
    }
}

pub fn arch_name(a: Arch) -> &'static str {
    match a {
        Arch::X86 => "SCMP_ARCH_X86",
        Arch::X8664 => "SCMP_ARCH_X86_64",
        Arch::X32 => "SCMP_ARCH_X32",
        Arch::Arm => "SCMP_ARCH_ARM",
        Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        Arch::Loongarch64 => "SCMP_ARCH_LOONGARCH64",
        Arch::M68k => "SCMP_ARCH_M68K",
        Arch::Mips => "SCMP_ARCH_MIPS",
        Arch::Mips64 => "SCMP_ARCH_MIPS64",
        Arch::Mips64N32 => "SCMP_ARCH_MIPS64N32",
        Arch::Mipsel => "SCMP_ARCH_MIPSEL",
        Arch::Mipsel64 => "SCMP_ARCH_MIPSEL64",
        Arch::Mipsel64N32 => "SCMP_ARCH_MIPSEL64N32",
        Arch::Ppc => "SCMP_ARCH_PPC",
        Arch::Ppc64 => "SCMP_ARCH_PPC64",
        Arch::Ppc64Le => "SCMP_ARCH_PPC64LE",
        Arch::S390 => "SCMP_ARCH_S390",
        Arch::S390X => "SCMP_ARCH_S390X",
        Arch::Parisc => "SCMP_ARCH_PARISC",
        Arch::Parisc64 => "SCMP_ARCH_PARISC64",
        Arch::Riscv64 => "SCMP_ARCH_RISCV64",
        Arch::Sheb => "SCMP_ARCH_SHEB",
        Arch::Sh => "SCMP_ARCH_SH",
    }
}
