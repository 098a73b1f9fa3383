//! `kubelet-config`: one dotted field of the kubelet's KubeletConfiguration YAML.
//!
//! The file is the one the kubelet reads: its `--config` (from the running process on a live
//! host, else from kubelet.service as systemd would start it), else the control's `path`, else
//! /var/lib/kubelet/config.yaml. When the kubelet has a `--config-dir`, whose drop-ins override
//! the file, hardend writes its own drop-in there instead (`99-zz-hardend.conf`, sorting after
//! the usual ones) and reports a `conflict` when another drop-in sorting after it sets the field
//! to something else.
//!
//! The YAML is edited minimally (see [`crate::kubelet::yaml_edit`]): other keys, comments and
//! their order stay, and an edit that does not verify is an `error`, never written. A file that
//! is not valid YAML, holds two documents or is a symlink is an `error` and is left alone. A
//! command-line flag that overrides the field (`--anonymous-auth=true` in
//! `$KUBELET_KUBEADM_ARGS`) is a `conflict`: the file would not decide, so nothing is written.
//! The kubelet never reloads its config: a write while it runs is `restart_required`, and
//! hardend never restarts it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::attrs::{read_key_value, KeyValue};
use super::{Context, Fix, Kind, Observation, Part};
use crate::engine::Status;
use crate::fs::{FileType, Meta};
use crate::kubelet::yaml_edit::{render_document, Document, YamlError};
use crate::kubelet::{flags, Kubelet, API_VERSION, DEFAULT_CONFIG, DROP_IN_NAME, KIND};
use crate::profile::reader::TableReader;

#[derive(Debug, Clone)]
pub struct KubeletConfig {
    /// Dotted field, e.g. `authentication.anonymous.enabled`.
    pub key: String,
    pub value: Value,
    /// The config file when the kubelet's command line does not name one.
    pub path: Option<PathBuf>,
}

impl KubeletConfig {
    pub fn parse(r: &mut TableReader) -> Option<KubeletConfig> {
        let KeyValue { key, value, path } = read_key_value(r, "kubelet-config")?;
        let well_formed = key.value.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
        if !well_formed {
            r.error(
                key.location,
                format!(
                    "`key` {:?} is not a dotted KubeletConfiguration field, e.g. \"authentication.anonymous.enabled\"",
                    key.value
                ),
            );
            return None;
        }
        if matches!(key.value.as_str(), "apiVersion" | "kind") {
            r.error(
                key.location,
                "`apiVersion` and `kind` identify the document; hardend manages fields, not them",
            );
            return None;
        }
        if let Some(why) = wrong_type(&key.value, &value.value) {
            r.error(value.location, why);
            return None;
        }
        Some(KubeletConfig {
            key: key.value,
            value: value.value,
            path,
        })
    }

    fn segments(&self) -> Vec<&str> {
        self.key.split('.').collect()
    }

    fn expected(&self) -> String {
        format!("{} = {}", self.key, self.value)
    }

    fn shown(&self, v: Option<&Value>) -> String {
        v.map_or_else(
            || format!("{} unset", self.key),
            |v| format!("{} = {v}", self.key),
        )
    }

    /// The config file the kubelet reads: its `--config`, else the profile's, else kubeadm's.
    fn config_path(&self, kubelet: Option<&Kubelet>) -> PathBuf {
        kubelet
            .and_then(Kubelet::config_file)
            .map(|p| Path::new("/").join(p))
            .or_else(|| self.path.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG))
    }
}

/// Known fields whose value type the kubelet checks when it loads the file.
fn wrong_type(key: &str, value: &Value) -> Option<String> {
    let want = match key {
        "authentication.anonymous.enabled"
        | "authentication.webhook.enabled"
        | "rotateCertificates"
        | "makeIPTablesUtilChains"
        | "seccompDefault"
        | "protectKernelDefaults"
        | "serverTLSBootstrap" => "a boolean",
        k if k.starts_with("featureGates.") => "a boolean",
        "readOnlyPort" | "podPidsLimit" | "eventRecordQPS" | "eventBurst" | "maxPods" => {
            "an integer"
        }
        "authorization.mode"
        | "streamingConnectionIdleTimeout"
        | "authentication.x509.clientCAFile"
        | "tlsCertFile"
        | "tlsPrivateKeyFile"
        | "tlsMinVersion" => "a string",
        "tlsCipherSuites" => "an array of strings",
        _ => return None,
    };
    let ok = match want {
        "a boolean" => value.is_boolean(),
        "an integer" => value.is_i64() || value.is_u64(),
        "a string" => value.is_string(),
        _ => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
    };
    (!ok).then(|| format!("kubelet field `{key}` takes {want}, not {value}"))
}

/// A KubeletConfiguration file as found.
enum Found {
    Missing,
    File {
        meta: Meta,
        bytes: Vec<u8>,
        text: String,
    },
}

/// Reads a config file for editing: a regular file (never through a link) holding valid
/// YAML with one document.
fn read_config(ctx: &Context, path: &Path) -> Result<Found, String> {
    let lookup = ctx.root.lookup(path).map_err(|e| e.to_string())?;
    // (FsError messages name the path already.)
    match lookup.entry {
        None => Ok(Found::Missing),
        Some(m) if m.file_type == FileType::Regular => {
            let bytes = lookup.read().map_err(|e| e.to_string())?;
            let text = String::from_utf8(bytes.clone())
                .map_err(|_| "not UTF-8 text; not rewritten".to_string())?;
            Document::parse(&text).map_err(|e| yaml_message(&path.display().to_string(), &e))?;
            Ok(Found::File {
                meta: m,
                bytes,
                text,
            })
        }
        Some(m) => Err(format!(
            "is {}; hardend edits the kubelet config only as a regular file and never through a link",
            m.file_type.describe()
        )),
    }
}

/// An editor error about `file`, as messages show it: `file:line:col: invalid YAML (...)`.
fn yaml_message(file: &str, e: &YamlError) -> String {
    match e {
        YamlError::Syntax { line, col, message } => format!(
            "{file}:{line}:{col}: invalid YAML ({message}); the kubelet would not start; not rewritten"
        ),
        _ => format!("{e}; not rewritten"),
    }
}

/// The value a file gives the field: `Ok(None)` when unset or the file is missing.
fn value_in(ctx: &Context, path: &Path, segs: &[&str]) -> Result<Option<Value>, String> {
    match read_config(ctx, path)? {
        Found::Missing => Ok(None),
        Found::File { text, .. } => Document::parse(&text)
            .and_then(|d| d.get(segs))
            .map_err(|e| yaml_message(&path.display().to_string(), &e)),
    }
}

/// A drop-in of `--config-dir` other than hardend's.
struct DropIn {
    path: PathBuf,
    /// After hardend's in the kubelet's (sorted) order, so it wins over it.
    after: bool,
}

fn drop_ins(ctx: &Context, dir: &Path) -> Result<Vec<DropIn>, String> {
    let pattern = format!("{}/*.conf", dir.display());
    let found = ctx.root.glob(&pattern).map_err(|e| e.to_string())?;
    Ok(found
        .into_iter()
        .filter_map(|path| {
            let name = path.file_name()?.as_encoded_bytes().to_vec();
            (name != DROP_IN_NAME.as_bytes()).then_some(DropIn {
                after: name.as_slice() > DROP_IN_NAME.as_bytes(),
                path,
            })
        })
        .collect())
}

impl Kind for KubeletConfig {
    fn component(&self) -> Option<crate::profile::Component> {
        Some(crate::profile::Component::Kubelet)
    }

    fn target(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| DEFAULT_CONFIG.to_string(), |p| p.display().to_string())
    }

    fn watch_paths(&self) -> Vec<String> {
        let mut paths = vec![self.target()];
        if self.target() != DEFAULT_CONFIG {
            paths.push(DEFAULT_CONFIG.to_string());
        }
        paths.extend(Kubelet::command_line_sources());
        paths
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let kubelet = Kubelet::detect(ctx.root);
        let kubelet = kubelet.as_ref();
        let running = kubelet.filter(|k| k.pid.is_some() && ctx.root.is_host());
        let config = self.config_path(kubelet);
        let config_dir = kubelet
            .and_then(Kubelet::config_dir)
            .map(|d| Path::new("/").join(d));
        let path = config_dir
            .as_ref()
            .map_or_else(|| config.clone(), |d| d.join(DROP_IN_NAME));
        let shown = path.display().to_string();
        let part = |status| Part::new(shown.clone(), status).expected(self.expected());
        let single = |p: Part| Observation {
            target: shown.clone(),
            parts: vec![p],
        };
        let segs = self.segments();

        // A flag decides over every file: the file is not where to enforce it.
        if let (Some(k), Some(flag)) = (kubelet, flags::flag_for(&self.key)) {
            if let Some(given) = k.flags.get(&flag) {
                let values: Vec<Option<String>> = given.iter().map(|f| f.value.clone()).collect();
                let described = k.describe(&flag);
                return single(if flags::flag_matches(&values, &self.value) {
                    part(Status::Pass)
                        .actual(format!("--{flag} on the command line"))
                        .message(format!(
                            "set by {described}, which overrides the config file"
                        ))
                } else {
                    part(Status::Conflict)
                        .actual(described.clone())
                        .message(format!(
                            "the kubelet is started with {described}, which overrides `{}` in its config file; hardend does not write a setting the command line overrides: remove the flag or give it the profile's value",
                            self.key
                        ))
                });
            }
        }

        let (meta, old, text) = match read_config(ctx, &path) {
            Ok(Found::Missing) => (None, None, None),
            Ok(Found::File { meta, bytes, text }) => (Some(meta), Some(bytes), Some(text)),
            Err(why) => return single(part(Status::Error).message(why)),
        };
        let doc = match text.as_deref().map(Document::parse).transpose() {
            Ok(d) => d,
            Err(e) => return single(part(Status::Error).message(yaml_message(&shown, &e))),
        };
        let current = match doc.as_ref().map(|d| d.get(&segs)).transpose() {
            Ok(v) => v.flatten(),
            Err(e) => return single(part(Status::Error).message(yaml_message(&shown, &e))),
        };

        // Files read after hardend's drop-in win over it; the ones read before lose.
        let mut parts = Vec::new();
        if let Some(dir) = &config_dir {
            let others = match drop_ins(ctx, dir) {
                Ok(o) => o,
                Err(e) => return single(part(Status::Error).message(e)),
            };
            let mut earlier: Vec<PathBuf> = Vec::new();
            if kubelet.and_then(Kubelet::config_file).is_some() {
                earlier.push(config.clone());
            }
            for d in &others {
                if !d.after {
                    earlier.push(d.path.clone());
                    continue;
                }
                let other = d.path.display().to_string();
                match value_in(ctx, &d.path, &segs) {
                    Err(why) => {
                        return single(part(Status::Error).message(format!(
                            "{other} is read after {DROP_IN_NAME} and may override `{}`, but: {why}",
                            self.key
                        )))
                    }
                    Ok(Some(v)) if v != self.value => {
                        return single(part(Status::Conflict).actual(self.shown(Some(&v))).message(
                            format!(
                                "{other} sets `{}` = {v} and is read after hardend's drop-in {shown}, so it would win; hardend does not write",
                                self.key
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            for e in earlier {
                let other = e.display().to_string();
                // Listed for the reader, not judged: whatever they say, hardend's drop-in
                // decides (`not-applicable` keeps them out of the control's status).
                match value_in(ctx, &e, &segs) {
                    Ok(Some(v)) if v != self.value => parts.push(
                        Part::new(other, Status::NotApplicable)
                            .expected(self.expected())
                            .actual(self.shown(Some(&v)))
                            .message(format!(
                                "sets {v}, overridden by hardend's drop-in {DROP_IN_NAME}, which the kubelet reads after it"
                            )),
                    ),
                    Err(why) => parts.push(
                        Part::new(other, Status::NotApplicable)
                            .expected(self.expected())
                            .message(format!(
                                "{why}; for `{}` hardend's drop-in {DROP_IN_NAME}, read after it, decides",
                                self.key
                            )),
                    ),
                    _ => {}
                }
            }
        }

        let actual = self.shown(current.as_ref());
        let not_read = kubelet
            .filter(|k| k.config_file().is_none() && config_dir.is_none())
            .map(|k| {
                format!(
                    "; note: the kubelet ({}) is started without --config and does not read this file",
                    k.source
                )
            })
            .unwrap_or_default();
        let main = if current.as_ref() == Some(&self.value) {
            let written_since_start = running.and_then(|k| {
                let modified = std::fs::metadata(ctx.root.host_path(&path))
                    .and_then(|m| m.modified())
                    .ok()?;
                (modified > k.started?).then_some(k.pid?)
            });
            match written_since_start {
                Some(pid) => part(Status::Pass)
                    .actual(actual)
                    .restart_required(true)
                    .message(format!(
                        "{shown} changed after the kubelet (pid {pid}) started; it reads its config only at start: restart it (systemctl restart kubelet){not_read}"
                    )),
                None => part(Status::Pass).actual(actual).message(not_read.trim_start_matches("; ").to_string()),
            }
        } else {
            match self.edited(doc.as_ref()) {
                Err(e) => part(Status::Error)
                    .actual(actual)
                    .message(yaml_message(&shown, &e)),
                Ok(content) => {
                    let restart = running.map_or(String::new(), |k| {
                        format!(
                            "; the kubelet (pid {}) reads its config only at start: restart it (systemctl restart kubelet) after the write",
                            k.pid.unwrap_or_default()
                        )
                    });
                    let what = if config_dir.is_some() {
                        format!(
                            "{actual} in hardend's drop-in (the kubelet's --config-dir drop-ins override its config file)"
                        )
                    } else {
                        actual.clone()
                    };
                    let created = if old.is_none() {
                        "; the file is created, root:root 0600"
                    } else {
                        ""
                    };
                    part(Status::Drift)
                        .actual(actual.clone())
                        .message(format!("{what}{created}{restart}{not_read}"))
                        .restart_required(running.is_some())
                        .fix(Fix::WriteFile {
                            path: path.clone(),
                            content: content.into_bytes(),
                            uid: meta.map_or(0, |m| m.uid),
                            gid: meta.map_or(0, |m| m.gid),
                            mode: meta.map_or(0o600, |m| m.mode),
                            old,
                        })
                }
            }
        };
        parts.insert(0, main);
        Observation {
            target: shown,
            parts,
        }
    }
}

impl KubeletConfig {
    /// The file's new text: the field set by a minimal, verified edit; a new document (with
    /// `apiVersion` and `kind`) when the file is missing or holds none.
    fn edited(&self, doc: Option<&Document>) -> Result<String, YamlError> {
        let segs = self.segments();
        let header = [
            ("apiVersion", Value::String(API_VERSION.into())),
            ("kind", Value::String(KIND.into())),
        ];
        let Some(doc) = doc else {
            let mut entries = header.to_vec();
            entries.push((self.key.as_str(), self.value.clone()));
            return Ok(render_document(&entries));
        };
        if !doc.is_empty() {
            return doc.set(&segs, &self.value);
        }
        // An empty file (or comments only): it needs the header too, kept after the comments.
        let mut text = doc.set(&[header[0].0], &header[0].1)?;
        text = Document::parse(&text)?.set(&[header[1].0], &header[1].1)?;
        Document::parse(&text)?.set(&segs, &self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn control(key: &str, value: Value) -> KubeletConfig {
        KubeletConfig {
            key: key.into(),
            value,
            path: None,
        }
    }

    #[test]
    fn known_fields_take_their_type() {
        assert!(wrong_type("authentication.anonymous.enabled", &json!(false)).is_none());
        assert!(wrong_type("authentication.anonymous.enabled", &json!("false")).is_some());
        assert!(wrong_type("readOnlyPort", &json!(0)).is_none());
        assert!(wrong_type("readOnlyPort", &json!("0")).is_some());
        assert!(wrong_type("readOnlyPort", &json!(0.5)).is_some());
        assert!(wrong_type("authorization.mode", &json!("Webhook")).is_none());
        assert!(wrong_type("authorization.mode", &json!(["Webhook"])).is_some());
        assert!(wrong_type("tlsCipherSuites", &json!(["A", "B"])).is_none());
        assert!(wrong_type("tlsCipherSuites", &json!(["A", 1])).is_some());
        assert!(wrong_type("featureGates.RotateKubeletServerCertificate", &json!(1)).is_some());
        assert!(wrong_type("someFutureField", &json!({"x": 1})).is_none());
        assert_eq!(
            wrong_type("seccompDefault", &json!("yes")).unwrap(),
            "kubelet field `seccompDefault` takes a boolean, not \"yes\""
        );
    }

    #[test]
    fn missing_or_empty_files_get_the_document_header() {
        let c = control("readOnlyPort", json!(0));
        let fresh = c.edited(None).unwrap();
        assert_eq!(
            fresh,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nreadOnlyPort: 0\n"
        );
        let doc = Document::parse("# managed by hardend\n").unwrap();
        assert_eq!(
            c.edited(Some(&doc)).unwrap(),
            format!("# managed by hardend\n{fresh}")
        );
        let doc = Document::parse("").unwrap();
        assert_eq!(c.edited(Some(&doc)).unwrap(), fresh);
        let doc = Document::parse("kind: KubeletConfiguration\nreadOnlyPort: 10255\n").unwrap();
        assert_eq!(
            c.edited(Some(&doc)).unwrap(),
            "kind: KubeletConfiguration\nreadOnlyPort: 0\n",
            "an existing document is only edited"
        );
    }

    #[test]
    fn the_command_line_names_the_config_file() {
        let c = control("readOnlyPort", json!(0));
        assert_eq!(c.config_path(None), PathBuf::from(DEFAULT_CONFIG));
        let mut with_path = c.clone();
        with_path.path = Some(PathBuf::from("/etc/kubernetes/kubelet-config.yaml"));
        assert_eq!(
            with_path.config_path(None),
            PathBuf::from("/etc/kubernetes/kubelet-config.yaml")
        );
        let k = Kubelet::from_cmdline(b"kubelet\0--config=/srv/kubelet.yaml\0", 7);
        assert_eq!(
            with_path.config_path(Some(&k)),
            PathBuf::from("/srv/kubelet.yaml")
        );
    }
}
