//! `docker-daemon`: one top-level key of dockerd's daemon.json.
//!
//! Every key hardend does not manage is kept with its value and order. A file that is not
//! valid JSON is an `error` with its line and column and is never rewritten. Options that
//! would stop dockerd from starting are a `conflict` and are never written: a key also given
//! as a flag (`-H fd://` against `hosts`), a key this dockerd does not know, `icc: false` with
//! `iptables: false`, an authorization plugin that is not installed.
//!
//! The file is only half the story: most keys are read at start, so the live part asks the
//! running dockerd (`GET /info`) what it actually runs with. A reloadable key is applied with
//! SIGHUP; a start-only key is flagged `restart_required`, and hardend never restarts dockerd.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::attrs::{read_key_value, KeyValue};
use super::{Context, Fix, Kind, Observation, Part};
use crate::docker::{api, keys, Dockerd};
use crate::engine::Status;
use crate::fs::FileType;
use crate::profile::reader::TableReader;

#[derive(Debug, Clone)]
pub struct DockerDaemon {
    pub key: String,
    pub value: Value,
    /// daemon.json's path when the profile fixes it; else the running dockerd's
    /// `--config-file`, else /etc/docker/daemon.json.
    pub path: Option<PathBuf>,
    /// dockerd's default is compliant: an absent key passes and is not written.
    pub absent_ok: bool,
}

impl DockerDaemon {
    pub fn parse(r: &mut TableReader) -> Option<DockerDaemon> {
        let absent_ok = r.bool("absent_ok").is_some_and(|b| b.value);
        let KeyValue { key, value, path } = read_key_value(r, "docker-daemon")?;
        if key.value.is_empty() || key.value.contains('.') {
            r.error(
                key.location,
                "`key` is one top-level daemon.json key, e.g. \"icc\" or \"log-opts\"",
            );
            return None;
        }
        if let Some(why) =
            wrong_type(&key.value, &value.value).or_else(|| bad_value(&key.value, &value.value))
        {
            r.error(value.location, why);
            return None;
        }
        Some(DockerDaemon {
            key: key.value,
            value: value.value,
            path,
            absent_ok,
        })
    }

    fn path(&self, dockerd: Option<&Dockerd>) -> PathBuf {
        self.path
            .clone()
            .or_else(|| {
                dockerd
                    .filter(|d| d.pid.is_some())
                    .and_then(Dockerd::config_file)
            })
            .unwrap_or_else(|| PathBuf::from(crate::docker::DAEMON_JSON))
    }

    fn expected(&self) -> String {
        format!("{} = {}", self.key, self.value)
    }

    /// Why writing the key would stop dockerd from starting (or reloading), if it would.
    fn conflict(
        &self,
        doc: &serde_json::Map<String, Value>,
        dockerd: Option<&Dockerd>,
        ctx: &Context,
    ) -> Option<String> {
        if !keys::is_known(&self.key) {
            return Some(format!(
                "dockerd does not know the key `{}`: it would refuse to start with it in daemon.json",
                self.key
            ));
        }
        if let Some(d) = dockerd {
            if let Some(flag) = keys::flags_for(&self.key).into_iter().find(|f| d.has(f)) {
                return Some(format!(
                    "dockerd is started with --{flag} ({}): an option given both as a flag and in daemon.json stops dockerd from starting",
                    d.source
                ));
            }
        }
        let is_false = |k: &str| {
            doc.get(k) == Some(&Value::Bool(false))
                || dockerd.is_some_and(|d| d.value(k) == Some("false"))
        };
        match (self.key.as_str(), &self.value) {
            ("icc", Value::Bool(false)) if is_false("iptables") => {
                return Some("icc: false needs iptables; dockerd refuses to start with icc: false and iptables: false".into())
            }
            ("iptables", Value::Bool(false)) if is_false("icc") => {
                return Some("iptables: false with icc: false stops dockerd from starting".into())
            }
            ("authorization-plugins", Value::Array(plugins)) => {
                for name in plugins.iter().filter_map(Value::as_str) {
                    if !plugin_installed(ctx, name) {
                        return Some(format!(
                            "authorization plugin `{name}` is not installed: dockerd would not start, and exits on reload"
                        ));
                    }
                }
            }
            _ => {}
        }
        None
    }
}

/// Known keys whose value type dockerd checks at start.
fn wrong_type(key: &str, value: &Value) -> Option<String> {
    let want = match key {
        "icc" | "iptables" | "ip6tables" | "ip-forward" | "ip-masq" | "ipv6" | "live-restore"
        | "no-new-privileges" | "userland-proxy" | "debug" | "experimental" | "tls"
        | "tlsverify" | "selinux-enabled" | "init" | "raw-logs" | "rootless" => "a boolean",
        "log-level" | "log-driver" | "userns-remap" | "seccomp-profile" | "cgroup-parent"
        | "data-root" | "exec-root" | "default-runtime" | "storage-driver" | "tlscacert"
        | "tlscert" | "tlskey" | "bridge" | "bip" | "group" | "containerd" | "pidfile" => {
            "a string"
        }
        "insecure-registries"
        | "registry-mirrors"
        | "labels"
        | "authorization-plugins"
        | "storage-opts"
        | "exec-opts"
        | "dns"
        | "dns-opts"
        | "dns-search"
        | "hosts" => "an array",
        "log-opts" | "default-ulimits" | "runtimes" | "features" => "a table",
        "max-concurrent-downloads"
        | "max-concurrent-uploads"
        | "max-download-attempts"
        | "shutdown-timeout"
        | "mtu" => "an integer",
        _ => return None,
    };
    let ok = match want {
        "a boolean" => value.is_boolean(),
        "a string" => value.is_string(),
        "an array" => value.is_array(),
        "a table" => value.is_object(),
        _ => value.is_i64() || value.is_u64(),
    };
    (!ok).then(|| format!("daemon.json key `{key}` takes {want}, not {value}"))
}

/// Values of the right type that dockerd still refuses at start (moby `daemon/config`
/// validation): writing one would leave a daemon.json that stops dockerd at its next start.
fn bad_value(key: &str, value: &Value) -> Option<String> {
    let int = value.as_i64();
    let why = match key {
        "log-level"
            if !matches!(
                value.as_str(),
                Some("debug" | "info" | "warn" | "error" | "fatal")
            ) =>
        {
            "one of debug, info, warn, error, fatal"
        }
        "max-concurrent-downloads" | "max-concurrent-uploads" | "shutdown-timeout" | "mtu"
            if int.is_some_and(|n| n < 0) =>
        {
            "zero or more"
        }
        "max-download-attempts" if int.is_some_and(|n| n < 1) => "one or more",
        "registry-mirrors"
            if value.as_array().is_some_and(|a| {
                a.iter().any(|m| {
                    !m.as_str()
                        .is_some_and(|m| m.starts_with("http://") || m.starts_with("https://"))
                })
            }) =>
        {
            "a list of http:// or https:// URLs"
        }
        "seccomp-profile"
            if !value
                .as_str()
                .is_some_and(|p| p == "builtin" || p == "unconfined" || p.starts_with('/')) =>
        {
            "\"builtin\", \"unconfined\" or an absolute path"
        }
        "userns-remap" | "log-driver" | "default-runtime"
            if value.as_str().is_some_and(str::is_empty) =>
        {
            "a non-empty string"
        }
        "default-ulimits" if !valid_ulimits(value) => {
            "a table of limits, each {{ Name = \"nofile\", Soft = N, Hard = M }} with Soft <= Hard"
        }
        _ => return None,
    };
    Some(format!(
        "dockerd refuses daemon.json key `{key}` = {value}: it must be {why}"
    ))
}

fn valid_ulimits(value: &Value) -> bool {
    value.as_object().is_some_and(|limits| {
        limits.iter().all(|(name, l)| {
            let soft = l["Soft"].as_i64();
            let hard = l["Hard"].as_i64();
            l["Name"].as_str() == Some(name.as_str())
                && matches!((soft, hard), (Some(s), Some(h)) if s <= h)
        })
    })
}

/// A plugin is installed when dockerd can find its socket or spec file.
fn plugin_installed(ctx: &Context, name: &str) -> bool {
    [
        format!("/run/docker/plugins/{name}.sock"),
        format!("/run/docker/plugins/{name}/{name}.sock"),
        format!("/etc/docker/plugins/{name}.spec"),
        format!("/etc/docker/plugins/{name}.json"),
        format!("/usr/lib/docker/plugins/{name}.spec"),
        format!("/usr/lib/docker/plugins/{name}.json"),
    ]
    .iter()
    .any(|p| ctx.root.lookup(Path::new(p)).is_ok_and(|l| l.exists()))
}

/// daemon.json as dockerd writes it: two-space indentation and a final newline.
pub fn render(doc: &serde_json::Map<String, Value>) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(doc).expect("JSON values serialise");
    out.push(b'\n');
    out
}

impl Kind for DockerDaemon {
    fn component(&self) -> Option<crate::profile::Component> {
        Some(crate::profile::Component::Docker)
    }

    fn target(&self) -> String {
        self.path.as_ref().map_or_else(
            || crate::docker::DAEMON_JSON.to_string(),
            |p| p.display().to_string(),
        )
    }

    fn watch_paths(&self) -> Vec<String> {
        // docker.service can move daemon.json (--config-file) or set the key on the command
        // line (a conflict).
        let mut paths = vec![self.target()];
        paths.extend(Dockerd::command_line_sources());
        paths
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let dockerd = Dockerd::detect(ctx.root);
        let path = self.path(dockerd.as_ref());
        let shown = path.display().to_string();
        let part = |status| Part::new(shown.clone(), status).expected(self.expected());
        let single = |p: Part| Observation {
            target: shown.clone(),
            parts: vec![p],
        };
        let lookup = match ctx.root.lookup(&path) {
            Ok(l) => l,
            Err(e) => return single(part(Status::Error).message(e.to_string())),
        };
        let (doc, meta, old) = match lookup.entry {
            None => (serde_json::Map::new(), None, None),
            Some(m) if m.file_type == FileType::Regular => {
                let bytes = match lookup.read() {
                    Ok(b) => b,
                    Err(e) => return single(part(Status::Error).message(e.to_string())),
                };
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(map)) => (map, Some(m), Some(bytes)),
                    Ok(other) => {
                        return single(part(Status::Error).message(format!(
                            "{shown}: the top level is {}, expected an object; not rewritten",
                            json_type(&other)
                        )))
                    }
                    Err(e) => {
                        let (line, col) = json_error_position(&bytes, &e);
                        return single(part(Status::Error).actual("invalid JSON").message(format!(
                            "{shown}:{line}:{col}: invalid JSON ({e}); dockerd would not start; not rewritten"
                        )));
                    }
                }
            }
            Some(m) => {
                return single(part(Status::Error).actual(m.file_type.describe()).message(format!(
                    "is {}; hardend edits daemon.json only as a regular file and never through a link",
                    m.file_type.describe()
                )))
            }
        };
        let current = doc.get(&self.key);
        let actual = current.map_or_else(
            || format!("{} unset", self.key),
            |v| format!("{} = {v}", self.key),
        );
        // dockerd refuses to start when an option is given both as a flag and in daemon.json,
        // whatever the two values: the flag owns the option.
        if let Some((flag, given)) = dockerd.as_ref().and_then(|d| self.flag_setting(d)) {
            let source = dockerd.as_ref().map_or("", |d| d.source.as_str());
            return single(
                part(Status::Conflict)
                    .actual(format!("--{flag}={given} ({source})"))
                    .message(format!(
                        "dockerd is started with --{flag} ({source}): an option given both as a flag and in daemon.json stops dockerd from starting, so it is not written"
                    )),
            );
        }
        if current.is_none() && self.absent_ok {
            return single(
                part(Status::Pass)
                    .actual(format!("{} unset (dockerd's default complies)", self.key)),
            );
        }
        if current != Some(&self.value) {
            if let Some(why) = self.conflict(&doc, dockerd.as_ref(), ctx) {
                return single(part(Status::Conflict).actual(actual).message(why));
            }
        }
        let reloadable = keys::is_reloadable(&self.key);
        let running = dockerd.as_ref().filter(|d| d.pid.is_some());
        let file_drift = current != Some(&self.value) && !(current.is_none() && self.absent_ok);
        let mut parts = Vec::new();
        if file_drift {
            let mut new_doc = doc.clone();
            new_doc.insert(self.key.clone(), self.value.clone());
            parts.push(
                part(Status::Drift)
                    .actual(actual.clone())
                    .message(format!("{actual} in daemon.json"))
                    .restart_required(!reloadable && running.is_some())
                    .fix(Fix::WriteFile {
                        path: path.clone(),
                        content: render(&new_doc),
                        uid: meta.map_or(0, |m| m.uid),
                        gid: meta.map_or(0, |m| m.gid),
                        mode: meta.map_or(0o644, |m| m.mode),
                        old,
                    }),
            );
        } else {
            parts.push(part(Status::Pass).actual(actual));
        }
        if !ctx.root.is_host() {
            parts.push(
                Part::new("dockerd (live)", Status::Skipped)
                    .expected(self.expected())
                    .message("an offline root has no running dockerd to ask"),
            );
        } else if let Some(d) = running {
            parts.push(self.live_part(d, file_drift, reloadable, &path));
        }
        Observation {
            target: shown,
            parts,
        }
    }
}

impl DockerDaemon {
    /// The value a command-line flag gives this key, as JSON of the profile value's type.
    fn flag_setting(&self, d: &Dockerd) -> Option<(String, Value)> {
        let flag = keys::flags_for(&self.key)
            .into_iter()
            .find(|f| d.has(f))?
            .to_string();
        let values = d.options.get(&flag)?;
        let given = match &self.value {
            Value::Bool(_) => Value::Bool(values.last().is_none_or(|v| v != "false")),
            Value::Array(_) => Value::Array(values.iter().cloned().map(Value::String).collect()),
            Value::Number(_) => values
                .last()
                .and_then(|v| v.parse::<i64>().ok())
                .map_or(Value::Null, Value::from),
            _ => values.last().cloned().map_or(Value::Null, Value::String),
        };
        Some((flag, given))
    }

    /// What the running dockerd uses, and what it takes to make it use the profile's value.
    fn live_part(&self, d: &Dockerd, file_drift: bool, reloadable: bool, path: &Path) -> Part {
        let pid = d.pid.expect("a running dockerd has a pid");
        let target = format!("dockerd pid {pid} (live)");
        let part = |status| Part::new(target.clone(), status).expected(self.expected());
        let socket = d.api_socket();
        let hup = || Fix::ReloadDocker {
            pid,
            socket: socket.clone(),
            key: self.key.clone(),
            expected: self.value.clone(),
        };
        let live = match api::info(&socket) {
            Ok(info) => api::live_value(&info, &self.key),
            Err(e) => {
                return part(Status::Skipped).message(format!("live state unknown: {e}"));
            }
        };
        match live {
            Some(v) if api::live_matches(&self.key, &v, &self.value) => {
                part(Status::Pass).actual(format!("{} = {v}", self.key))
            }
            Some(v) if reloadable => part(Status::Drift)
                .actual(format!("{} = {v}", self.key))
                .message("dockerd runs with another value; SIGHUP applies it")
                .fix(hup()),
            Some(v) => part(Status::Pass)
                .actual(format!("{} = {v}", self.key))
                .message(format!(
                    "dockerd reads `{}` only at start: it runs with {v} until it restarts",
                    self.key
                ))
                .restart_required(true),
            None if file_drift && reloadable => part(Status::Drift)
                .message("dockerd applies it on SIGHUP")
                .fix(hup()),
            None if !reloadable && written_after_start(path, d) => part(Status::Pass)
                .message(format!(
                    "daemon.json changed after dockerd started; `{}` is read only at start, so it applies when dockerd restarts",
                    self.key
                ))
                .restart_required(true),
            None => {
                part(Status::Pass).message("not shown by dockerd's live state; the file decides")
            }
        }
    }
}

fn written_after_start(path: &Path, d: &Dockerd) -> bool {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    matches!((modified, d.started), (Some(m), Some(s)) if m > s)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where a JSON error is: serde_json notices a trailing comma only at the bracket after it,
/// so point at the comma itself.
fn json_error_position(bytes: &[u8], e: &serde_json::Error) -> (usize, usize) {
    if !e.to_string().contains("trailing comma") {
        return (e.line(), e.column());
    }
    let text = String::from_utf8_lossy(bytes);
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n + 1 == e.line() {
            offset += line
                .char_indices()
                .nth(e.column().saturating_sub(1))
                .map_or(line.len(), |(i, _)| i);
            break;
        }
        offset += line.len();
    }
    let Some(comma) = text[..offset.min(text.len())].rfind(',') else {
        return (e.line(), e.column());
    };
    let before = &text[..comma];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}
