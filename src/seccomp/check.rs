//! What runc, Docker and the runtime spec refuse in a profile that parses, checked on every
//! entry whatever its `includes`/`excludes`: a rule that only a privileged container reaches
//! must be as valid as the rest.

use super::profile::{Action, Profile};
use super::SeccompError;

/// libseccomp keeps an errno in 16 bits (`SCMP_ACT_ERRNO(x)` masks it), so a larger value
/// would silently become another errno.
const ERRNO_MAX: u32 = u16::MAX as u32;

/// Syscall arguments are numbered 0 to 5.
pub const ARGS: u32 = 6;

pub fn check(p: &Profile) -> Result<(), SeccompError> {
    let Some(default) = p.default_action else {
        return Err(SeccompError::invalid(
            "defaultAction",
            "missing: Docker and runc treat a profile without one as no seccomp filter at all",
        ));
    };
    if default == Action::Notify {
        return Err(SeccompError::invalid(
            "defaultAction",
            "SCMP_ACT_NOTIFY cannot be the default action (runc refuses it)",
        ));
    }
    check_errno("defaultErrnoRet", default, p.default_errno_ret)?;
    if !p.architectures.is_empty() && !p.arch_map.is_empty() {
        return Err(SeccompError::invalid(
            "archMap",
            "give either `architectures` or `archMap`, not both (Docker refuses both)",
        ));
    }
    for (i, call) in p.syscalls.iter().enumerate() {
        let place = |field: &str| format!("syscalls[{i}].{field}");
        match (&call.name, call.names.is_empty()) {
            (Some(_), false) => {
                return Err(SeccompError::invalid(
                    place("name"),
                    "give either `name` or `names`, not both (Docker refuses both)",
                ))
            }
            (None, true) => {
                return Err(SeccompError::invalid(
                    place("names"),
                    "missing or empty: a rule needs at least one syscall name",
                ))
            }
            _ => {}
        }
        if let Some(n) = call.names.iter().position(|n| n.trim().is_empty()) {
            return Err(SeccompError::invalid(
                format!("syscalls[{i}].names[{n}]"),
                "an empty syscall name",
            ));
        }
        if call.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(SeccompError::invalid(
                place("name"),
                "an empty syscall name",
            ));
        }
        if call.action == Action::Notify && call.names().any(|n| n == "write") {
            return Err(SeccompError::invalid(
                place("action"),
                "SCMP_ACT_NOTIFY on `write` could deadlock the notifying agent (runc refuses it)",
            ));
        }
        check_errno(&place("errnoRet"), call.action, call.errno_ret)?;
        for (a, arg) in call.args.iter().enumerate() {
            if arg.index >= ARGS {
                return Err(SeccompError::invalid(
                    format!("syscalls[{i}].args[{a}].index"),
                    format!(
                        "{} is out of range: syscall arguments are numbered 0 to {}",
                        arg.index,
                        ARGS - 1
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An `errnoRet` belongs only to ERRNO and TRACE (runtime-spec: the runtime must fail
/// otherwise) and must fit libseccomp's 16 bits.
fn check_errno(place: &str, action: Action, errno: Option<u32>) -> Result<(), SeccompError> {
    let Some(errno) = errno else { return Ok(()) };
    if !action.takes_errno() {
        return Err(SeccompError::invalid(
            place,
            format!("{errno} given for an action other than SCMP_ACT_ERRNO or SCMP_ACT_TRACE"),
        ));
    }
    if errno > ERRNO_MAX {
        return Err(SeccompError::invalid(
            place,
            format!("{errno} is out of range (0 to {ERRNO_MAX})"),
        ));
    }
    Ok(())
}
