//! Host components (dockerd, kubelet) whose absence makes their controls `not-applicable`.
//!
//! A component is present when its binary is in the (possibly `--root`) tree, or, on a live
//! host, when a process of that name runs.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fs::{FileType, Root};
use crate::profile::Component;

#[derive(Debug, Clone, Default)]
pub struct Components {
    /// Present components and how they were found.
    found: BTreeMap<Component, String>,
}

impl Components {
    pub fn detect(root: &Root) -> Components {
        let mut found = BTreeMap::new();
        for c in Component::ALL {
            if let Some(how) = detect_one(root, c) {
                found.insert(c, how);
            }
        }
        Components { found }
    }

    pub fn is_present(&self, c: Component) -> bool {
        self.found.contains_key(&c)
    }

    /// How the component was found ("/usr/sbin/dockerd", "running as pid 812").
    pub fn evidence(&self, c: Component) -> Option<&str> {
        self.found.get(&c).map(String::as_str)
    }
}

fn binaries(c: Component) -> &'static [&'static str] {
    match c {
        Component::Docker => &["/usr/bin/dockerd", "/usr/sbin/dockerd"],
        Component::Kubelet => &["/usr/bin/kubelet", "/usr/local/bin/kubelet"],
    }
}

fn process_name(c: Component) -> &'static str {
    match c {
        Component::Docker => "dockerd",
        Component::Kubelet => "kubelet",
    }
}

fn detect_one(root: &Root, c: Component) -> Option<String> {
    for bin in binaries(c) {
        let found = root
            .lookup(Path::new(bin))
            .ok()
            .and_then(|l| l.entry)
            .is_some_and(|m| matches!(m.file_type, FileType::Regular | FileType::Symlink));
        if found {
            return Some((*bin).to_string());
        }
    }
    if root.is_host() {
        if let Some(pid) = find_process(process_name(c)).first() {
            return Some(format!("running as pid {pid}"));
        }
    }
    None
}

/// PIDs whose command name (`/proc/PID/comm`) is `name`, newest (highest pid) first.
pub fn find_process(name: &str) -> Vec<u32> {
    find_process_in(Path::new("/proc"), name)
}

fn find_process_in(proc_dir: &Path, name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            let comm: PathBuf = proc_dir.join(pid.to_string()).join("comm");
            std::fs::read_to_string(comm).is_ok_and(|c| c.trim_end() == name)
        })
        .collect();
    pids.sort_unstable_by(|a, b| b.cmp(a));
    pids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_test_process_by_name() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let pids = find_process(me.trim_end());
        assert!(pids.contains(&std::process::id()));
    }
}
