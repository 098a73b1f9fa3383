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
        if let Some(pid) = find_component(c).first() {
            return Some(format!("running as pid {pid}"));
        }
    }
    None
}

/// Running processes named `name` that may speak for the component, newest first (by start
/// time). Only root's processes running a root-owned binary count: anyone can name a process
/// `dockerd`, and its command line decides which files hardend edits. Zombies do not count.
pub fn find_process(name: &str) -> Vec<u32> {
    find_process_in(Path::new("/proc"), name, None)
}

/// The running host component: a trusted process named like it whose executable is one of
/// the component's binaries on the host (same device and inode).
pub fn find_component(c: Component) -> Vec<u32> {
    use std::os::unix::fs::MetadataExt;
    let binaries: Vec<(u64, u64)> = binaries(c)
        .iter()
        .filter_map(|b| std::fs::metadata(b).ok())
        .map(|m| (m.dev(), m.ino()))
        .collect();
    find_process_in(Path::new("/proc"), process_name(c), Some(&binaries))
}

fn find_process_in(proc_dir: &Path, name: &str, binaries: Option<&[(u64, u64)]>) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter_map(|pid: u32| {
            let dir: PathBuf = proc_dir.join(pid.to_string());
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            let started = trusted_start_time(&dir, binaries)?;
            Some((started, pid))
        })
        .collect();
    found.sort_unstable_by(|a, b| b.cmp(a));
    found.into_iter().map(|(_, pid)| pid).collect()
}

/// When a process started: `starttime` of /proc/PID/stat (clock ticks since boot) plus the
/// boot time from /proc/stat. (The mtime of /proc/PID is when its inode was made, not this.)
pub fn start_time(pid: u32) -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let ticks: u64 = fields.get(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|v| *v > 0)?;
    let since_epoch = std::time::Duration::from_secs(boot)
        + std::time::Duration::from_millis(ticks.saturating_mul(1000) / hz);
    Some(std::time::UNIX_EPOCH + since_epoch)
}

/// The start time (clock ticks since boot) of a live process run by root from a root-owned
/// binary that only root can write; `None` for anything else.
fn trusted_start_time(dir: &Path, binaries: Option<&[(u64, u64)]>) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // Fields after the command name, which may itself hold spaces and parentheses.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let uids: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .collect();
    if uids.first() != Some(&"0") || uids.get(1) != Some(&"0") {
        return None;
    }
    let exe = std::fs::metadata(dir.join("exe")).ok()?;
    if exe.uid() != 0 || exe.mode() & 0o022 != 0 {
        return None;
    }
    // A root process in a container is root too, and anyone can name a process "dockerd":
    // only a process in hardend's pid namespace running the component's own binary (the same
    // file as the host's /usr/sbin/dockerd, say) is the host's component.
    let theirs = std::fs::read_link(dir.join("ns/pid")).ok()?;
    let ours = std::fs::read_link("/proc/self/ns/pid").ok()?;
    if theirs != ours {
        return None;
    }
    if let Some(binaries) = binaries {
        if !binaries.contains(&(exe.dev(), exe.ino())) {
            return None;
        }
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_test_process_by_name() {
        // The test runs as root from a root-owned binary, so it counts as trusted.
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let pids = find_process(me.trim_end());
        assert!(pids.contains(&std::process::id()));
    }

    #[test]
    fn this_process_started_a_moment_ago() {
        let started = start_time(std::process::id()).expect("start time of this process");
        let age = std::time::SystemTime::now()
            .duration_since(started)
            .expect("started in the past");
        assert!(age < std::time::Duration::from_secs(600), "{age:?}");
    }

    #[test]
    fn processes_of_other_users_do_not_count() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .uid(65534)
            .spawn()
            .expect("spawn sleep as nobody");
        let pid = child.id();
        let found = find_process("sleep");
        let _ = child.kill();
        let _ = child.wait();
        assert!(!found.contains(&pid));
    }
}
