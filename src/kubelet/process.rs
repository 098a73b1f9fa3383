//! The kubelet that runs (or would run): its command-line flags, from `/proc/PID/cmdline` on a
//! live host, else as systemd would start it from `kubelet.service`, its drop-ins and their
//! environment (`$KUBELET_KUBEADM_ARGS` from kubeadm-flags.env, `$KUBELET_EXTRA_ARGS` from
//! /etc/default/kubelet or /etc/sysconfig/kubelet), all read through the root, symlink-safe.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::flags::BOOL_FLAGS;
use crate::components::find_component;
use crate::fs::Root;
use crate::profile::Component;

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

const UNITS: [&str; 3] = [
    "/etc/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service",
];

/// Drop-in directories, highest priority first: a same-named file masks the later ones.
const DROP_IN_DIRS: [&str; 3] = [
    "/etc/systemd/system/kubelet.service.d",
    "/usr/lib/systemd/system/kubelet.service.d",
    "/lib/systemd/system/kubelet.service.d",
];

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

fn read_text(root: &Root, path: &str) -> Option<String> {
    let lookup = root.lookup(Path::new(path)).ok()?;
    lookup.entry?;
    String::from_utf8(lookup.read().ok()?).ok()
}

/// The `[Service]` settings that decide the command line, in file order.
#[derive(Default)]
struct ServiceSettings {
    /// The command and the file it was set in.
    exec: Option<(String, String)>,
    /// `Environment=` assignments: name → (value, where).
    env: BTreeMap<String, (String, String)>,
    /// `EnvironmentFile=` paths (`-` stripped).
    env_files: Vec<String>,
}

impl ServiceSettings {
    fn read(&mut self, file: &str, text: &str) {
        let mut in_service = false;
        let mut logical = String::new();
        for raw in text.lines() {
            // A trailing backslash continues the line.
            if let Some(cont) = raw.strip_suffix('\\') {
                logical.push_str(cont);
                logical.push(' ');
                continue;
            }
            logical.push_str(raw);
            let line = std::mem::take(&mut logical);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if line.starts_with('[') {
                in_service = line == "[Service]";
                continue;
            }
            if !in_service {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "ExecStart" if value.is_empty() => self.exec = None,
                "ExecStart" => {
                    let cmd = value.trim_start_matches(['-', '@', '+', '!', ':']);
                    self.exec = Some((cmd.to_string(), file.to_string()));
                }
                "Environment" if value.is_empty() => self.env.clear(),
                "Environment" => {
                    for (word, _) in split_words(value) {
                        if let Some((k, v)) = word.split_once('=') {
                            self.env.insert(
                                k.to_string(),
                                (v.to_string(), format!("Environment= in {file}")),
                            );
                        }
                    }
                }
                "EnvironmentFile" if value.is_empty() => self.env_files.clear(),
                "EnvironmentFile" => {
                    for (word, _) in split_words(value) {
                        self.env_files
                            .push(word.trim_start_matches('-').to_string());
                    }
                }
                _ => {}
            }
        }
    }
}

/// The kubelet as kubelet.service would start it.
fn from_unit(root: &Root) -> Option<Kubelet> {
    let mut files: Vec<(String, String)> = Vec::new();
    if let Some((p, t)) = UNITS
        .iter()
        .find_map(|p| read_text(root, p).map(|t| (p.to_string(), t)))
    {
        files.push((p, t));
    }
    let mut drop_ins: BTreeMap<String, String> = BTreeMap::new();
    for dir in DROP_IN_DIRS {
        for path in root.glob(&format!("{dir}/*.conf")).unwrap_or_default() {
            if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                drop_ins
                    .entry(name.to_string())
                    .or_insert_with(|| path.to_string_lossy().into_owned());
            }
        }
    }
    for path in drop_ins.values() {
        if let Some(t) = read_text(root, path) {
            files.push((path.clone(), t));
        }
    }
    let mut settings = ServiceSettings::default();
    for (path, text) in &files {
        settings.read(path, text);
    }
    let (exec, exec_file) = settings.exec.clone()?;
    let mut env = settings.env.clone();
    let mut env_files: Vec<String> = ENV_FILES
        .iter()
        .filter(|f| !settings.env_files.iter().any(|g| g == *f))
        .map(|f| f.to_string())
        .collect();
    env_files.extend(settings.env_files.iter().cloned());
    for f in &env_files {
        if let Some(text) = read_text(root, f) {
            for (k, v) in parse_env_file(&text) {
                env.insert(k, (v, f.clone()));
            }
        }
    }
    let args = expand(&exec, &env);
    Some(Kubelet {
        pid: None,
        source: format!("ExecStart of {exec_file}"),
        flags: parse_flags(args.get(1..).unwrap_or_default()),
        started: None,
    })
}

/// `NAME=value` lines of an environment file; quotes around values removed.
fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            if l.starts_with('#') || l.starts_with(';') {
                return None;
            }
            let (k, v) = l.split_once('=')?;
            let v = v.trim();
            let v = if v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')))
            {
                &v[1..v.len() - 1]
            } else {
                v
            };
            Some((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// Words of a systemd command line or setting: whitespace-separated, with `"..."`, `'...'`
/// and backslash escapes. The flag tells whether the word was quoted.
fn split_words(s: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                quoted = true;
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push((std::mem::take(&mut cur), quoted));
                }
                in_word = false;
                quoted = false;
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push((cur, quoted));
    }
    words
}

/// systemd's expansion: `$NAME` alone as a word splits the value into words; `${NAME}` is
/// replaced in place, as one word. Each argument remembers the variable it came from.
fn expand(cmd: &str, env: &BTreeMap<String, (String, String)>) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for (word, quoted) in split_words(cmd) {
        let name = word.strip_prefix('$').filter(|n| {
            !quoted && !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if let Some(name) = name {
            if let Some((value, from)) = env.get(name) {
                let origin = format!("${name} from {from}");
                out.extend(
                    value
                        .split_whitespace()
                        .map(|w| (w.to_string(), Some(origin.clone()))),
                );
            }
            continue;
        }
        // One pass, left to right: inserted text is never scanned again, so a variable that
        // names itself (X=a${X}) cannot loop.
        let mut origin = None;
        let mut text = String::with_capacity(word.len());
        let mut rest = word.as_str();
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            text.push_str(&rest[..start]);
            let name = &rest[start + 2..start + len];
            if let Some((v, from)) = env.get(name) {
                origin = Some(format!("${{{name}}} from {from}"));
                text.push_str(v);
            }
            rest = &rest[start + len + 1..];
        }
        text.push_str(rest);
        out.push((text, origin));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_that_names_itself_expands_once() {
        let mut env = BTreeMap::new();
        env.insert("X".to_string(), ("a${X}".to_string(), "unit".to_string()));
        let words = expand("/usr/bin/kubelet --foo=${X}", &env);
        assert_eq!(words[1].0, "--foo=a${X}");
    }

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

    #[test]
    fn braced_variables_stay_one_word() {
        let mut env = BTreeMap::new();
        env.insert("X".to_string(), ("a b".to_string(), "f".to_string()));
        let a = expand("/usr/bin/kubelet --node-labels=${X} $X \"$X\"", &env);
        let words: Vec<&str> = a.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            words,
            ["/usr/bin/kubelet", "--node-labels=a b", "a", "b", "$X"]
        );
    }
}
