//! Kernel parameters: names, `/proc/sys` paths, value comparison, and the sysctl.d files that
//! `systemd-sysctl` applies at boot (sorted by file name across its directories, the last
//! setting of a key winning).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::fs::{FileType, Root};

/// hardend's persistence file: sorts after Debian's `99-sysctl.conf` and `99-protect-links.conf`
/// and before CNI overrides such as Cilium's `99-zzz-override_cilium.conf`.
pub const PERSIST_FILE: &str = "/etc/sysctl.d/99-zz-hardend.conf";

/// Where systemd-sysctl looks, most important first: a file name in an earlier directory
/// masks the same name in later ones.
const DIRS: [&str; 5] = [
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
];

pub const HEADER: &str = "# Managed by hardend: every key here is a control of a hardend profile.\n# Edits are reverted; change the profile instead.\n";

/// Keys that the kernel lets be set only one way until reboot, with the value that locks.
pub fn is_one_way(key: &str, value: &str) -> bool {
    matches!(
        (key, value),
        ("kernel.kexec_load_disabled", "1")
            | ("kernel.modules_disabled", "1")
            | ("kernel.yama.ptrace_scope", "3")
            | ("kernel.unprivileged_bpf_disabled", "1")
    )
}

/// Whether a key is written as sysctl(8) accepts it: dotted, letters, digits, `_`, `-`, and `/`
/// standing for a dot inside one component (`net.ipv4.conf.eth0/100.rp_filter`).
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('.').all(|c| {
            !c.is_empty()
                && c.chars().all(|ch| {
                    ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '/' | ':' | '@')
                })
        })
}

/// `/proc/sys/...` of a dotted key: dots separate components, a `/` is a dot in a name.
pub fn proc_path(key: &str) -> PathBuf {
    let mut p = PathBuf::from("/proc/sys");
    for comp in key.split('.') {
        p.push(comp.replace('/', "."));
    }
    p
}

/// The canonical dotted form of a key written with either separator (sysctl.d allows both).
pub fn canonical_key(key: &str) -> String {
    if key.contains('.') || !key.contains('/') {
        key.to_string()
    } else {
        key.trim_start_matches('/').replace('/', ".")
    }
}

/// Values compare as sysctl prints them: fields separated by any white space, integers in
/// their plain decimal form (the kernel reads "01" as 1 and prints 1).
pub fn normalize(value: &str) -> String {
    value
        .split_whitespace()
        .map(|f| {
            f.parse::<i64>()
                .map_or_else(|_| f.to_string(), |n| n.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `key = value` lines of one sysctl.d file: (key as written without a leading `-`, value).
pub fn parse_conf(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim().trim_start_matches('-');
            Some((canonical_key(k), v.trim().to_string()))
        })
        .collect()
}

/// Whether a sysctl.d key (which may hold `*` globs) names `key`.
pub fn key_matches(pattern: &str, key: &str) -> bool {
    if pattern.contains(['*', '?', '[']) {
        glob::Pattern::new(pattern).is_ok_and(|p| {
            p.matches_with(
                key,
                glob::MatchOptions {
                    require_literal_separator: false,
                    ..Default::default()
                },
            )
        })
    } else {
        pattern == key
    }
}

/// Every sysctl.d file systemd-sysctl would read, in its order (by file name, masked names
/// dropped), with its text. Files that cannot be read are skipped.
pub fn config_files(root: &Root) -> Vec<(PathBuf, String)> {
    let mut by_name: BTreeMap<String, PathBuf> = BTreeMap::new();
    for dir in DIRS.iter().rev() {
        for path in root.glob(&format!("{dir}/*.conf")).unwrap_or_default() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                // An earlier directory in DIRS wins: iterating in reverse, it is inserted last.
                by_name.insert(name.to_string(), path);
            }
        }
    }
    by_name
        .into_values()
        .filter_map(|path| Some((path.clone(), read_text(root, &path)?)))
        .collect()
}

/// A regular file's text, read symlink-safely; a symlink there (Debian's 99-sysctl.conf ->
/// ../sysctl.conf) is followed only to a file in the same root, as systemd-sysctl would.
pub fn read_text(root: &Root, path: &Path) -> Option<String> {
    let lookup = root.lookup(path).ok()?;
    let meta = lookup.entry?;
    let lookup = if meta.file_type == FileType::Symlink {
        let target = lookup.read_link().ok()?;
        let target = if target.is_absolute() {
            target
        } else {
            path.parent()?.join(target)
        };
        let normal: PathBuf = normalize_path(&target)?;
        root.lookup(&normal).ok()?
    } else {
        lookup
    };
    String::from_utf8(lookup.read().ok()?).ok()
}

fn normalize_path(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_paths_and_values() {
        assert_eq!(
            proc_path("net.ipv4.conf.eth0/100.rp_filter"),
            PathBuf::from("/proc/sys/net/ipv4/conf/eth0.100/rp_filter")
        );
        assert_eq!(canonical_key("net/ipv4/ip_forward"), "net.ipv4.ip_forward");
        assert_eq!(normalize("32768\t60999"), "32768 60999");
        assert!(valid_key("net.ipv4.conf.all.send_redirects"));
        assert!(!valid_key("net..x"));
        assert!(!valid_key("net.*.x"));
        assert!(is_one_way("kernel.yama.ptrace_scope", "3"));
        assert!(!is_one_way("kernel.yama.ptrace_scope", "1"));
    }

    #[test]
    fn sysctl_d_lines_globs_and_dashes() {
        let lines = parse_conf("# c\n-net.ipv4.conf.lxc*.rp_filter = 0\nnet/ipv4/ip_forward=1\n");
        assert_eq!(
            lines[0],
            ("net.ipv4.conf.lxc*.rp_filter".into(), "0".into())
        );
        assert_eq!(lines[1], ("net.ipv4.ip_forward".into(), "1".into()));
        assert!(key_matches(
            "net.ipv4.conf.lxc*.rp_filter",
            "net.ipv4.conf.lxc12.rp_filter"
        ));
        assert!(!key_matches(
            "net.ipv4.conf.lxc*.rp_filter",
            "net.ipv4.conf.all.rp_filter"
        ));
    }
}
