//! The kubelet that runs (or would run): its command-line flags, from `/proc/PID/cmdline` on a
//! live host, else as systemd would start it from `kubelet.service`, its drop-ins and their
//! environment (`$KUBELET_KUBEADM_ARGS` from kubeadm-flags.env, `$KUBELET_EXTRA_ARGS` from
//! /etc/default/kubelet or /etc/sysconfig/kubelet), all read through the root, symlink-safe.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::flags::BOOL_FLAGS;
use crate::components::find_component;
use crate::fs::Root;
use crate::profile::Component;
use crate::unit;

/// One occurrence of a flag on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// `None` for a bare flag (`--anonymous-auth`).
    pub value: Option<String>,
    /// Where it came from when not written in ExecStart itself:
    /// `$KUBELET_KUBEADM_ARGS from /var/lib/kubelet/kubeadm-flags.env`.
    pub origin: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Kubelet {
    /// The running process, on a live host.
    pub pid: Option<u32>,
    /// Where the command line was read: `kubelet pid 812`, `ExecStart of /etc/...`.
    pub source: String,
    /// Flag name (normalised: `_` → `-`) → its occurrences in order.
    pub flags: BTreeMap<String, Vec<Flag>>,
    pub started: Option<SystemTime>,
}

/// Environment files read even when the unit does not name them (kubeadm's and the
/// packages' conventions), before the ones it names.
const ENV_FILES: [&str; 3] = [
    "/var/lib/kubelet/kubeadm-flags.env",
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
];

impl Kubelet {
    /// The running kubelet (only when the root is the host), else the one the unit would
    /// start; `None` when neither is there.
    pub fn detect(root: &Root) -> Option<Kubelet> {
        if root.is_host() {
            if let Some(pid) = find_component(Component::Kubelet).first().copied() {
                if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                    let mut k = Kubelet::from_cmdline(&raw, pid);
                    k.started = crate::components::start_time(pid);
                    return Some(k);
                }
            }
        }
        from_unit(root)
    }

    /// The files that decide the command line of a kubelet started by systemd.
    pub fn command_line_sources() -> Vec<String> {
        unit::sources("kubelet.service", &ENV_FILES)
    }

    /// A running kubelet from the contents of its `/proc/PID/cmdline` (NUL-separated).
    pub fn from_cmdline(raw: &[u8], pid: u32) -> Kubelet {
        let args: Vec<(String, Option<String>)> = raw
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .skip(1)
            .map(|a| (String::from_utf8_lossy(a).into_owned(), None))
            .collect();
        Kubelet {
            pid: Some(pid),
            source: format!("kubelet pid {pid}"),
            flags: parse_flags(&args),
            started: None,
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.flags.contains_key(name)
    }

    /// The last value given for a flag (`None` also for a bare flag).
    pub fn value(&self, name: &str) -> Option<&str> {
        self.flags.get(name)?.last()?.value.as_deref()
    }

    /// `--config`, when given.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.value("config").map(PathBuf::from)
    }

    /// `--config-dir`, when given.
    pub fn config_dir(&self) -> Option<PathBuf> {
        self.value("config-dir")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }

    /// Where a flag's last occurrence comes from, for messages.
    pub fn describe(&self, name: &str) -> String {
        let last = self.flags.get(name).and_then(|f| f.last());
        let shown = super::flags::show(name, last.and_then(|f| f.value.as_deref()));
        match last.and_then(|f| f.origin.as_deref()) {
            Some(origin) => format!("{shown} ({origin}; {})", self.source),
            None => format!("{shown} ({})", self.source),
        }
    }
}

/// Flags from arguments as pflag reads them: `--name=value`, `--name value`, `--bool-flag`;
/// `_` in names is `-` (the kubelet normalises them); `--` ends the flags.
pub fn parse_flags(args: &[(String, Option<String>)]) -> BTreeMap<String, Vec<Flag>> {
    let mut flags: BTreeMap<String, Vec<Flag>> = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let (arg, origin) = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        let Some(body) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|b| !b.is_empty())
        else {
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let name = name.replace('_', "-");
        let value = inline.or_else(|| {
            if BOOL_FLAGS.contains(&name.as_str()) {
                return None;
            }
            let (next, _) = args.get(i).filter(|(n, _)| !n.starts_with('-'))?;
            i += 1;
            Some(next.clone())
        });
        flags.entry(name).or_default().push(Flag {
            value,
            origin: origin.clone(),
        });
    }
    flags
}

/// The kubelet as kubelet.service would start it.
fn from_unit(root: &Root) -> Option<Kubelet> {
    let exec = unit::exec_start(root, "kubelet.service", &ENV_FILES)?;
    Some(Kubelet {
        pid: None,
        source: format!("ExecStart of {}", exec.file),
        flags: parse_flags(exec.args.get(1..).unwrap_or_default()),
        started: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::{expand, parse_env_file, ServiceSettings};

    fn args(s: &str) -> Vec<(String, Option<String>)> {
        s.split_whitespace()
            .map(|a| (a.to_string(), None))
            .collect()
    }

    #[test]
    fn flags_in_pflag_spellings() {
        let f = parse_flags(&args(
            "--config=/var/lib/kubelet/config.yaml --anonymous-auth --read_only_port 0 -v=2 --config-dir /etc/kubernetes/kubelet.conf.d",
        ));
        assert_eq!(
            f["config"][0].value.as_deref(),
            Some("/var/lib/kubelet/config.yaml")
        );
        assert_eq!(f["anonymous-auth"][0].value, None);
        assert_eq!(f["read-only-port"][0].value.as_deref(), Some("0"));
        assert_eq!(f["v"][0].value.as_deref(), Some("2"));
        assert_eq!(
            f["config-dir"][0].value.as_deref(),
            Some("/etc/kubernetes/kubelet.conf.d")
        );
    }

    #[test]
    fn a_running_kubelet_from_a_fixture_cmdline() {
        let raw = b"/usr/bin/kubelet\0--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf\0--kubeconfig=/etc/kubernetes/kubelet.conf\0--config=/etc/kubernetes/kubelet-config.yaml\0--config-dir\0/etc/kubernetes/kubelet.conf.d\0--anonymous-auth=true\0--container-runtime-endpoint=unix:///run/containerd/containerd.sock\0";
        let k = Kubelet::from_cmdline(raw, 4242);
        assert_eq!(k.pid, Some(4242));
        assert_eq!(
            k.config_file(),
            Some(PathBuf::from("/etc/kubernetes/kubelet-config.yaml"))
        );
        assert_eq!(
            k.config_dir(),
            Some(PathBuf::from("/etc/kubernetes/kubelet.conf.d"))
        );
        assert_eq!(k.value("anonymous-auth"), Some("true"));
        assert_eq!(
            k.describe("anonymous-auth"),
            "--anonymous-auth=true (kubelet pid 4242)"
        );
    }

    #[test]
    fn unit_settings_and_systemd_expansion() {
        let unit = "[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\n";
        let kubeadm = r#"[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS \
    $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"#;
        let mut s = ServiceSettings::default();
        s.read("/usr/lib/systemd/system/kubelet.service", unit);
        s.read(
            "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf",
            kubeadm,
        );
        let mut env = s.env.clone();
        for (k, v) in parse_env_file(
            "KUBELET_KUBEADM_ARGS=\"--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --anonymous-auth=true\"\n",
        ) {
            env.insert(k, (v, "/var/lib/kubelet/kubeadm-flags.env".into()));
        }
        let (exec, file) = s.exec.clone().unwrap();
        assert!(file.ends_with("10-kubeadm.conf"));
        let a = expand(&exec, &env);
        let f = parse_flags(&a[1..]);
        assert_eq!(
            f["config"][0].value.as_deref(),
            Some("/var/lib/kubelet/config.yaml")
        );
        assert_eq!(f["anonymous-auth"][0].value.as_deref(), Some("true"));
        assert_eq!(
            f["anonymous-auth"][0].origin.as_deref(),
            Some("$KUBELET_KUBEADM_ARGS from /var/lib/kubelet/kubeadm-flags.env")
        );
        assert!(f.contains_key("kubeconfig"));
        assert_eq!(
            s.env_files,
            ["/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet"]
        );
    }
}
