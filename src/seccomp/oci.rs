//! What containerd makes of a profile. For a kubelet `localhost/` profile containerd
//! unmarshals the JSON straight into the runtime-spec `LinuxSeccomp` struct (containerd
//! `contrib/seccomp/seccomp.go`, `WithProfile`), which has none of Docker's extensions: Go's
//! encoding/json drops `archMap`, the legacy single `name` and `includes`/`excludes` (with
//! their `caps`, `arches` and `minKernel`) without a word. A rule Docker grants only with
//! CAP_SYS_ADMIN then applies to every pod. CRI-O honours `includes`; containerd does not.

use super::profile::Profile;

/// The profile as containerd hands it to runc: Docker's keys gone, every rule unconditional.
/// Tests compile it to see what a pod really gets.
#[cfg(test)]
pub fn plain(p: &Profile) -> Profile {
    let mut p = p.clone();
    p.arch_map.clear();
    for call in &mut p.syscalls {
        call.name = None;
        call.includes = Default::default();
        call.excludes = Default::default();
    }
    p
}

/// Each Docker-only key the profile uses, by JSON path, with what the rule does once the key
/// is dropped.
pub fn docker_only(p: &Profile) -> Vec<String> {
    let mut found = Vec::new();
    if !p.arch_map.is_empty() {
        found.push("archMap (the filter would cover only the node's native architecture)".into());
    }
    for (i, call) in p.syscalls.iter().enumerate() {
        if call.name.is_some() {
            found.push(format!("syscalls[{i}].name (the rule would cover no call)"));
        }
        for (key, filter) in [("includes", &call.includes), ("excludes", &call.excludes)] {
            if filter.is_empty() {
                continue;
            }
            let mut names: Vec<&str> = call.names.iter().map(String::as_str).collect();
            let more = names.len().saturating_sub(8);
            names.truncate(8);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            let conditions = if call.args.is_empty() {
                ""
            } else {
                " (with its args)"
            };
            found.push(format!(
                "syscalls[{i}].{key} (the rule would apply unconditionally: {} for {}{more}{conditions})",
                call.action.name(),
                names.join(", ")
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::profile::parse;

    #[test]
    fn docker_keys_are_named_and_stripped() {
        let p = parse(br#"{"defaultAction":"SCMP_ACT_ERRNO",
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":[]}],
            "syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["bpf","mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
            {"names":["clone"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}],"excludes":{"minKernel":"4.8"}},
            {"name":"write","action":"SCMP_ACT_ALLOW"}]}"#)
        .unwrap();
        let found = docker_only(&p);
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[0].starts_with("archMap ("), "{found:?}");
        assert!(
            found[1].starts_with("syscalls[1].includes (the rule would apply unconditionally: SCMP_ACT_ALLOW for bpf, mount"),
            "{found:?}"
        );
        assert!(found[2].contains("syscalls[2].excludes") && found[2].contains("args"));
        assert!(found[3].starts_with("syscalls[3].name"), "{found:?}");

        let plain = plain(&p);
        assert!(docker_only(&plain).is_empty());
        assert_eq!(plain.syscalls.len(), 4);
    }
}
