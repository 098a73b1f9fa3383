//! A systemd service as systemd would start it, read through the root: the unit file, its
//! drop-ins, `Environment=`/`EnvironmentFile=` and the expansion of `$VAR`/`${VAR}` in
//! `ExecStart=`. Used to judge an offline root's dockerd and kubelet the way they would run.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fs::Root;

/// Unit directories, highest priority first.
const UNIT_DIRS: [&str; 3] = [
    "/etc/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// One argument of the command and, when it came from a variable, where that was set
/// (`$KUBELET_KUBEADM_ARGS from /var/lib/kubelet/kubeadm-flags.env`).
pub type Arg = (String, Option<String>);

/// The command a service starts.
#[derive(Debug, Clone)]
pub struct ExecStart {
    /// The unit file or drop-in that set it.
    pub file: String,
    /// The program and its arguments, expanded.
    pub args: Vec<Arg>,
}

/// The `ExecStart=` of `service` (e.g. `docker.service`): the first unit file found in the
/// unit directories, then its drop-ins in name order (a same-named drop-in in a higher
/// directory masks the lower ones), with the environment from `Environment=`, from
/// `implied_env_files` (read even when the unit does not name them: packaging conventions)
/// and from the unit's `EnvironmentFile=`s, in that order. `None` when there is no unit or
/// it starts nothing.
pub fn exec_start(root: &Root, service: &str, implied_env_files: &[&str]) -> Option<ExecStart> {
    let mut files: Vec<(String, String)> = Vec::new();
    if let Some((p, t)) = UNIT_DIRS.iter().find_map(|dir| {
        let p = format!("{dir}/{service}");
        read_text(root, &p).map(|t| (p, t))
    }) {
        files.push((p, t));
    }
    let mut drop_ins: BTreeMap<String, String> = BTreeMap::new();
    for dir in UNIT_DIRS {
        for path in root
            .glob(&format!("{dir}/{service}.d/*.conf"))
            .unwrap_or_default()
        {
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
    let (exec, file) = settings.exec.clone()?;
    let mut env = settings.env.clone();
    let mut env_files: Vec<String> = implied_env_files
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
    Some(ExecStart {
        file,
        args: expand(&exec, &env),
    })
}

/// Every file [`exec_start`] may read for `service`, as paths and globs to watch: a change
/// to any of them can change the command line.
pub fn sources(service: &str, implied_env_files: &[&str]) -> Vec<String> {
    UNIT_DIRS
        .iter()
        .flat_map(|dir| {
            [
                format!("{dir}/{service}"),
                format!("{dir}/{service}.d/*.conf"),
            ]
        })
        .chain(implied_env_files.iter().map(|f| f.to_string()))
        .collect()
}

/// A regular file's text, symlink-safe; `None` when missing or unreadable.
fn read_text(root: &Root, path: &str) -> Option<String> {
    let lookup = root.lookup(Path::new(path)).ok()?;
    lookup.entry?;
    String::from_utf8(lookup.read().ok()?).ok()
}

/// The `[Service]` settings that decide the command line, in file order.
#[derive(Default)]
pub(crate) struct ServiceSettings {
    /// The command and the file it was set in.
    pub(crate) exec: Option<(String, String)>,
    /// `Environment=` assignments: name → (value, where).
    pub(crate) env: BTreeMap<String, (String, String)>,
    /// `EnvironmentFile=` paths (`-` stripped).
    pub(crate) env_files: Vec<String>,
}

impl ServiceSettings {
    pub(crate) fn read(&mut self, file: &str, text: &str) {
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

/// `NAME=value` lines of an environment file; quotes around values removed.
pub(crate) fn parse_env_file(text: &str) -> Vec<(String, String)> {
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
pub(crate) fn expand(
    cmd: &str,
    env: &BTreeMap<String, (String, String)>,
) -> Vec<(String, Option<String>)> {
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

    #[test]
    fn an_empty_exec_start_resets_and_the_last_one_wins() {
        let mut s = ServiceSettings::default();
        s.read(
            "/lib/systemd/system/docker.service",
            "[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n",
        );
        s.read(
            "/etc/systemd/system/docker.service.d/override.conf",
            "[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n",
        );
        let (exec, file) = s.exec.clone().expect("exec");
        assert_eq!(exec, "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS");
        assert!(file.ends_with("override.conf"));
        s.read(
            "/etc/systemd/system/docker.service.d/zz.conf",
            "[Service]\nExecStart=\n",
        );
        assert!(
            s.exec.is_none(),
            "an empty ExecStart= alone leaves nothing to start"
        );
    }

    #[test]
    fn a_unit_in_a_root_with_drop_ins_and_environment_files() {
        let d = tempfile::tempdir().expect("tempdir");
        let put = |rel: &str, text: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        };
        put(
            "lib/systemd/system/docker.service",
            "[Service]\nEnvironmentFile=-/etc/default/docker\nExecStart=/usr/sbin/dockerd -H fd:// $DOCKER_OPTS\n",
        );
        put(
            "etc/default/docker",
            "DOCKER_OPTS=\"--icc=false --debug\"\n",
        );
        put(
            "usr/lib/systemd/system/docker.service.d/10-a.conf",
            "[Service]\nEnvironment=X=1\n",
        );
        put(
            "etc/systemd/system/docker.service.d/10-a.conf",
            "[Service]\nEnvironment=X=2\n",
        );
        let root = Root::open(d.path(), nix::unistd::getuid().as_raw()).expect("root");
        let e = exec_start(&root, "docker.service", &[]).expect("exec");
        let words: Vec<&str> = e.args.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(
            words,
            ["/usr/sbin/dockerd", "-H", "fd://", "--icc=false", "--debug"]
        );
        assert_eq!(e.file, "/lib/systemd/system/docker.service");
        assert_eq!(
            e.args[3].1.as_deref(),
            Some("$DOCKER_OPTS from /etc/default/docker")
        );
        assert!(exec_start(&root, "kubelet.service", &[]).is_none());
    }
}
