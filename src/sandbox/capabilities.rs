//! Which capabilities `hardend run` keeps: the union, over the enabled controls, of what each
//! control's kind needs (one table), and dropping the rest from every set, the bounding set
//! included: a uid-0 process that runs a program gives it the whole bounding set, so
//! auditctl or apparmor_parser could otherwise regain what hardend dropped.
//!
//! Not kept, and why: CAP_KILL (SIGHUP to dockerd: a root process may signal another root
//! process without it), CAP_DAC_READ_SEARCH (CAP_DAC_OVERRIDE already opens and searches
//! everything hardend reads), CAP_NET_ADMIN (net.* sysctls of hardend's own network namespace
//! are writable by uid 0), CAP_AUDIT_READ and CAP_AUDIT_WRITE (auditctl only lists, adds and
//! deletes rules), CAP_SETPCAP (only needed to drop the bounding set, done before it goes).

use std::collections::HashMap;

use caps::{CapSet, Capability, CapsHashSet};

use super::SandboxError;
use crate::kinds::KindSpec;
use crate::profile::{Control, ProfileSet};

use Capability::*;

/// What changing a managed file takes when its owner is not root or its mode keeps root out:
/// `fchown` to the control's owner (CAP_CHOWN), `fchmod` of a file root does not own
/// (CAP_FOWNER), opening and replacing files and directories whatever their mode
/// (CAP_DAC_OVERRIDE), keeping a setgid bit on a file whose group root is not in (CAP_FSETID).
const FILES: &[Capability] = &[CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE, CAP_FSETID];

/// Capabilities each kind needs beyond [`FILES`], which every kind needs (each writes a file:
/// the target itself, sysctl.d, audit rules.d, a profile): first those it needs whatever the
/// root, then those only its live part needs, which runs only when the root is the host (under
/// `--root` that part is `skipped`). Kinds are named as in profiles, so the table can list
/// kinds before they exist; a kind missing here is caught by a unit test.
const BY_KIND: &[(&str, &[Capability], &[Capability])] = &[
    ("file-mode", &[], &[]),
    ("file-content", &[], &[]),
    // Reading /proc/PID/exe of dockerd (to trust it, and to take its --config-file) needs
    // ptrace read access, which the kernel refuses to a process that holds fewer
    // capabilities than dockerd unless it has CAP_SYS_PTRACE. Only the host's dockerd is
    // looked for; under `--root` its unit file is read instead.
    ("docker-daemon", &[], &[CAP_SYS_PTRACE]),
    // The same for the kubelet's command line (--config, --config-dir, flags).
    ("kubelet-config", &[], &[CAP_SYS_PTRACE]),
    // Several kernel.* handlers check CAP_SYS_ADMIN on write (kptr_restrict, dmesg_restrict,
    // unprivileged_bpf_disabled, kexec_load_disabled), net.core.bpf_jit_* even on read.
    // Needed under `--root` too: the live value is written through ROOT/proc/sys, which in
    // the Kubernetes DaemonSet (`--root /host`) is the node's own kernel. Per-key extras are
    // in `sysctl_extra`, on the same grounds.
    ("sysctl", &[CAP_SYS_ADMIN], &[]),
    // auditctl lists, adds and deletes rules over netlink: AUDIT_LIST_RULES, AUDIT_ADD_RULE,
    // AUDIT_DEL_RULE and AUDIT_GET all need CAP_AUDIT_CONTROL. Only the rules file is
    // written under `--root`.
    ("audit-rule", &[], &[CAP_AUDIT_CONTROL]),
    // Writes a JSON file for container runtimes to read; nothing is loaded here.
    ("seccomp-profile", &[], &[]),
    // apparmor_parser loads and replaces policy in the kernel: CAP_MAC_ADMIN. Only the
    // profile file is written under `--root`.
    ("apparmor-profile", &[], &[CAP_MAC_ADMIN]),
];

/// sysctl keys whose kernel handler checks a capability other than CAP_SYS_ADMIN.
fn sysctl_extra(key: &str) -> &'static [Capability] {
    if key.starts_with("kernel.yama.") {
        // yama_dointvec_minmax refuses writes without CAP_SYS_PTRACE.
        &[CAP_SYS_PTRACE]
    } else if key == "vm.mmap_min_addr" {
        // mmap_min_addr_handler refuses writes without CAP_SYS_RAWIO.
        &[CAP_SYS_RAWIO]
    } else {
        &[]
    }
}

/// What one control needs; `host` says whether the root is the host's `/`, where live parts
/// run. `None` for a kind the table does not know (a programming error the unit tests catch);
/// the caller then keeps everything for it.
pub fn for_control(control: &Control, host: bool) -> Option<CapsHashSet> {
    let kind = control.spec.name();
    let (_, always, live) = BY_KIND.iter().find(|(name, _, _)| *name == kind)?;
    let mut need: CapsHashSet = FILES.iter().chain(always.iter()).copied().collect();
    if host {
        need.extend(live.iter());
    }
    let reads_component = match &control.spec {
        KindSpec::Sysctl(s) => {
            need.extend(sysctl_extra(&s.key));
            false
        }
        // `path_from` takes the path from dockerd's command line.
        KindSpec::FileMode(f) => f.path_from.is_some(),
        _ => false,
    };
    // A control that requires a component asks whether it runs: the same /proc/PID/exe read
    // as above (profiles with `requires = ["docker"]`), and likewise only on the host (under
    // `--root` a component is found by its binary in the root).
    if host
        && (reads_component
            || !control.requires.is_empty()
            || control.spec.kind().component().is_some())
    {
        need.insert(CAP_SYS_PTRACE);
    }
    Some(need)
}

/// What the whole set needs, with the controls that need each capability.
pub fn for_set(set: &ProfileSet, host: bool) -> HashMap<Capability, Vec<String>> {
    let mut out: HashMap<Capability, Vec<String>> = HashMap::new();
    for control in &set.controls {
        let need = for_control(control, host).unwrap_or_else(caps::all);
        for cap in need {
            out.entry(cap).or_default().push(control.id.clone());
        }
    }
    out
}

/// Keeps exactly `keep` in the effective and permitted sets and in the bounding set, and
/// nothing in the inheritable and ambient sets.
pub fn keep_only(keep: &CapsHashSet) -> Result<(), SandboxError> {
    let fail = |what: &str, cap: Option<Capability>, e: caps::errors::CapsError| {
        SandboxError::Capabilities {
            what: match cap {
                Some(c) => format!("{what} {c}"),
                None => what.to_string(),
            },
            reason: e.to_string(),
        }
    };
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes next. Without
    // it (a unit whose CapabilityBoundingSet left it out, a non-root run) the bounding set
    // stays as it is; no_new_privs still keeps programs from gaining more than hardend holds.
    if !caps::has_cap(None, CapSet::Effective, CAP_SETPCAP).unwrap_or(false) {
        tracing::warn!("sandbox: no CAP_SETPCAP, so the bounding set is left as it is");
    } else {
        drop_bounding(keep).map_err(|(cap, e)| fail("drop", Some(cap), e))?;
    }
    // The ambient set is cleared on kernels that have one (4.3+).
    let _ = caps::clear(None, CapSet::Ambient);
    caps::clear(None, CapSet::Inheritable).map_err(|e| fail("clear inheritable", None, e))?;
    // Effective before permitted: the kernel wants effective within permitted at every step.
    let effective = caps::read(None, CapSet::Effective).map_err(|e| fail("read", None, e))?;
    let effective: CapsHashSet = effective.intersection(keep).copied().collect();
    caps::set(None, CapSet::Effective, &effective).map_err(|e| fail("set effective", None, e))?;
    caps::set(None, CapSet::Permitted, &effective).map_err(|e| fail("set permitted", None, e))?;
    Ok(())
}

/// Drops from the bounding set every capability not in `keep`.
fn drop_bounding(keep: &CapsHashSet) -> Result<(), (Capability, caps::errors::CapsError)> {
    for cap in caps::all() {
        // A capability this kernel does not know cannot be read, and is not there to drop.
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| (cap, e))?;
        }
    }
    Ok(())
}

/// Capability names as the kernel and capsh spell them, sorted.
pub fn names(set: &CapsHashSet) -> Vec<String> {
    let mut v: Vec<String> = set.iter().map(|c| c.to_string()).collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_an_entry() {
        for kind in crate::kinds::KIND_NAMES {
            assert!(
                BY_KIND.iter().any(|(name, _, _)| name == kind),
                "kind {kind} is missing from the capability table"
            );
        }
    }

    /// What each control keeps beyond [`FILES`], on the host and under `--root`.
    #[test]
    fn live_only_capabilities_are_kept_on_the_host_only() {
        let mut diags = crate::diag::Diagnostics::default();
        let file = crate::profile::parse_file(
            std::path::Path::new("p.toml"),
            r#"
[profile]
name = "p"

[[control]]
id = "audit"
title = "t"
kind = "audit-rule"
rule = "-w /etc/docker -p wa -k docker"

[[control]]
id = "aa"
title = "t"
kind = "apparmor-profile"
path = "/etc/apparmor.d/x"
content = "profile x {\n  file,\n}\n"

[[control]]
id = "icc"
title = "t"
kind = "docker-daemon"
key = "icc"
value = false

[[control]]
id = "needs-docker"
title = "t"
kind = "file-mode"
path = "/etc/docker"
mode = "0755"
requires = ["docker"]

[[control]]
id = "yama"
title = "t"
kind = "sysctl"
key = "kernel.yama.ptrace_scope"
value = "1"
"#,
            &mut diags,
        )
        .unwrap_or_else(|| panic!("profile parses: {diags:?}"));
        let mut set = ProfileSet::default();
        set.merge(file);
        let extra = |id: &str, host: bool| -> Vec<String> {
            let control = set.controls.iter().find(|c| c.id == id).expect(id);
            let need = for_control(control, host).expect("a known kind");
            let mut extra: Vec<String> = need
                .difference(&FILES.iter().copied().collect())
                .map(|c| c.to_string())
                .collect();
            extra.sort();
            extra
        };
        for (id, host, root) in [
            ("audit", &["CAP_AUDIT_CONTROL"][..], &[][..]),
            ("aa", &["CAP_MAC_ADMIN"], &[]),
            ("icc", &["CAP_SYS_PTRACE"], &[]),
            ("needs-docker", &["CAP_SYS_PTRACE"], &[]),
            // Written through ROOT/proc/sys either way.
            (
                "yama",
                &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
                &["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
            ),
        ] {
            assert_eq!(extra(id, true), host, "{id} on the host");
            assert_eq!(extra(id, false), root, "{id} under --root");
        }
    }

    #[test]
    fn sysctl_keys_with_their_own_capability() {
        assert_eq!(sysctl_extra("kernel.yama.ptrace_scope"), &[CAP_SYS_PTRACE]);
        assert_eq!(sysctl_extra("vm.mmap_min_addr"), &[CAP_SYS_RAWIO]);
        assert!(sysctl_extra("net.ipv4.ip_forward").is_empty());
    }
}
