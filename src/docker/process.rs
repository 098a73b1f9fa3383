//! The dockerd that runs (or would run): its command-line options, from `/proc/PID/cmdline`
//! on a live host, else from the systemd unit's `ExecStart` (with `$DOCKER_OPTS` from
//! `/etc/default/docker`), so that an offline root is judged as its dockerd would start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::keys::long_name;
use crate::components::find_component;
use crate::fs::Root;
use crate::profile::Component;
use crate::unit;

#[derive(Debug, Clone)]
pub struct Dockerd {
    /// The running process, on a live host.
    pub pid: Option<u32>,
    /// Where the options were read: "pid 812" or the unit file.
    pub source: String,
    /// Long option name → values given (several for repeatable options).
    pub options: BTreeMap<String, Vec<String>>,
    pub started: Option<SystemTime>,
}

impl Dockerd {
    /// The running dockerd (live host), else the one the unit file would start; `None` when
    /// neither is there.
    pub fn detect(root: &Root) -> Option<Dockerd> {
        if root.is_host() {
            if let Some(pid) = find_component(Component::Docker).first().copied() {
                if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                    let args: Vec<String> = raw
                        .split(|b| *b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect();
                    let started = crate::components::start_time(pid);
                    return Some(Dockerd {
                        pid: Some(pid),
                        source: format!("dockerd pid {pid}"),
                        options: parse_options(args.iter().skip(1).map(String::as_str)),
                        started,
                    });
                }
            }
        }
        from_unit(root)
    }

    /// The files that decide the options of a dockerd started by systemd.
    pub fn command_line_sources() -> Vec<String> {
        unit::sources("docker.service", &[DOCKER_DEFAULTS])
    }

    pub fn has(&self, option: &str) -> bool {
        self.options.contains_key(option)
    }

    pub fn value(&self, option: &str) -> Option<&str> {
        self.options.get(option)?.last().map(String::as_str)
    }

    /// `--config-file`, when given.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.value("config-file").map(PathBuf::from)
    }

    /// The API socket of the running dockerd: the first `unix://` host, else the default
    /// (`fd://` is systemd's docker.socket, which listens there too).
    pub fn api_socket(&self) -> PathBuf {
        self.options
            .get("host")
            .into_iter()
            .flatten()
            .find_map(|h| h.strip_prefix("unix://"))
            .map_or_else(|| PathBuf::from("/run/docker.sock"), PathBuf::from)
    }
}

/// Options from arguments: `--name=value`, `--name value`, `--flag`, `-H value`.
pub fn parse_options<'a>(args: impl Iterator<Item = &'a str>) -> BTreeMap<String, Vec<String>> {
    let args: Vec<&str> = args.collect();
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i];
        i += 1;
        let (name, inline) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (long.to_string(), None),
            }
        } else if let Some(short) = arg.strip_prefix('-') {
            let (flag, rest) = short.split_at(short.len().min(1));
            let Some(long) = long_name(flag) else {
                continue;
            };
            let rest = rest.strip_prefix('=').unwrap_or(rest);
            (
                long.to_string(),
                (!rest.is_empty()).then(|| rest.to_string()),
            )
        } else {
            continue;
        };
        let value = inline.or_else(|| {
            let next = args.get(i).filter(|n| !n.starts_with('-'))?;
            i += 1;
            Some((*next).to_string())
        });
        options.entry(name).or_default().extend(value);
    }
    options
}

/// Where Debian's docker.service and older packages set `$DOCKER_OPTS`.
const DOCKER_DEFAULTS: &str = "/etc/default/docker";

/// The options docker.service would start dockerd with (`$DOCKER_OPTS` from
/// /etc/default/docker, where Debian's unit and older packages put them).
fn from_unit(root: &Root) -> Option<Dockerd> {
    let exec = unit::exec_start(root, "docker.service", &[DOCKER_DEFAULTS])?;
    Some(Dockerd {
        pid: None,
        source: format!("ExecStart of {}", exec.file),
        options: parse_options(exec.args.iter().skip(1).map(|(a, _)| a.as_str())),
        started: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_in_every_spelling() {
        let o = parse_options(
            "-H fd:// --containerd=/run/containerd/containerd.sock --debug --log-level warn -Hunix:///x.sock"
                .split_whitespace(),
        );
        assert_eq!(o["host"], vec!["fd://", "unix:///x.sock"]);
        assert_eq!(o["containerd"], vec!["/run/containerd/containerd.sock"]);
        assert!(o["debug"].is_empty());
        assert_eq!(o["log-level"], vec!["warn"]);
    }
}
