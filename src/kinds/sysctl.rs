//! `sysctl`: a kernel parameter, live in `/proc/sys` and persisted in hardend's sysctl.d file
//! so that it holds from boot, before hardend starts.
//!
//! A sysctl.d file read after hardend's that sets the key to another value wins at boot, so
//! the control is a `conflict` naming it and hardend does not fight it. Keys the kernel lets
//! be set one way only until reboot are set only when the control says `one_way = true`.
//! inotify cannot see `/proc/sys`: the daemon re-checks the live value on its timer.

use std::path::PathBuf;

use super::{Context, Fix, Kind, Observation, Part};
use crate::engine::Status;
use crate::fs::FileType;
use crate::profile::reader::{Scalar, TableReader};
use crate::sysctl::{
    canonical_key, config_files, is_one_way, key_matches, normalize, parse_conf, proc_path,
    valid_key, HEADER, PERSIST_FILE,
};

#[derive(Debug, Clone)]
pub struct Sysctl {
    /// Dotted, as `sysctl` prints it.
    pub key: String,
    pub value: String,
    /// The control may set a value the kernel will not let go back until reboot.
    pub one_way: bool,
    /// The persistence file (default /etc/sysctl.d/99-zz-hardend.conf).
    pub persist_file: PathBuf,
}

impl Sysctl {
    pub fn parse(r: &mut TableReader) -> Option<Sysctl> {
        let key = r.req_str("key");
        let value = if r.has("value") {
            r.str_or_int("value")
        } else {
            let here = r.here();
            r.error(here, "missing required key `value` in [[control]]");
            None
        };
        let one_way = r.bool("one_way").is_some_and(|b| b.value);
        let persist_file = match r.str("persist_file") {
            Some(p) if p.value.starts_with("/etc/sysctl.d/") && p.value.ends_with(".conf") => {
                PathBuf::from(p.value)
            }
            Some(p) => {
                r.error(
                    p.location,
                    "`persist_file` must be a .conf file in /etc/sysctl.d/",
                );
                return None;
            }
            None => PathBuf::from(PERSIST_FILE),
        };
        let key = key?;
        let canonical = canonical_key(&key.value);
        if !valid_key(&canonical) {
            r.error(
                key.location,
                format!(
                    "invalid sysctl key {:?}: dotted names like net.ipv4.ip_forward",
                    key.value
                ),
            );
            return None;
        }
        let value = match value?.value {
            Scalar::Str(s) if !s.trim().is_empty() && !s.contains('\n') => normalize(&s),
            Scalar::Int(i) => i.to_string(),
            Scalar::Str(_) => {
                let here = r.here();
                r.error(here, "`value` must be a non-empty single line");
                return None;
            }
        };
        Some(Sysctl {
            key: canonical,
            value,
            one_way,
            persist_file,
        })
    }

    fn expected(&self) -> String {
        format!("{} = {}", self.key, self.value)
    }

    /// The keys the loaded set's sysctl controls keep in this control's file.
    fn managed_keys(&self, ctx: &Context) -> Vec<String> {
        ctx.set
            .controls
            .iter()
            .filter_map(|c| match &c.spec {
                super::KindSpec::Sysctl(s) if s.persist_file == self.persist_file => {
                    Some(s.key.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// hardend's file with this key set: the other keys the set manages kept (lines of
    /// controls since removed are dropped), sorted by key.
    fn persisted_with_key(&self, current: Option<&str>, managed: &[String]) -> Vec<u8> {
        let mut lines: Vec<(String, String)> = current
            .map(parse_conf)
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| *k != self.key && managed.contains(k))
            .collect();
        lines.push((self.key.clone(), self.value.clone()));
        lines.sort();
        lines.dedup_by(|a, b| a.0 == b.0);
        let mut out = String::from(HEADER);
        for (k, v) in lines {
            out.push_str(&format!("{k} = {v}\n"));
        }
        out.into_bytes()
    }

    /// A sysctl.d file read after hardend's that sets the key otherwise: it wins at boot.
    fn overridden_by(&self, ctx: &Context) -> Option<(PathBuf, String)> {
        let ours = self.persist_file.file_name()?.to_os_string();
        config_files(ctx.root)
            .into_iter()
            .filter(|(path, _)| path.file_name().is_some_and(|n| n > ours.as_os_str()))
            .flat_map(|(path, text)| {
                // systemd-sysctl never lets a glob line override a key set explicitly
                // anywhere ("explicit setting exists"), so only explicit lines can win.
                parse_conf(&text)
                    .into_iter()
                    .filter(|(k, _)| !k.contains(['*', '?', '[']) && key_matches(k, &self.key))
                    .map(move |(_, v)| (path.clone(), v))
            })
            .last()
            .filter(|(_, v)| normalize(v) != self.value)
    }

    fn live_part(&self, ctx: &Context) -> Part {
        let proc = proc_path(&self.key);
        let target = format!("{} (live)", self.key);
        let part = |status| Part::new(target.clone(), status).expected(self.expected());
        let lookup = match ctx.root.lookup(&proc) {
            Ok(l) => l,
            Err(e) => return part(Status::Error).message(e.to_string()),
        };
        match lookup.entry {
            // An offline root without a kernel tree (an image) is judged by its files alone.
            None if !ctx.root.is_host() && !has_kernel_tree(ctx) => {
                return part(Status::Skipped).message(
                    "an offline root has no running kernel; the persisted file sets it at boot",
                )
            }
            None => {
                return part(Status::NotApplicable)
                    .message(format!("this kernel has no parameter {}", self.key))
            }
            Some(m) if m.file_type != FileType::Regular => {
                return part(Status::Error).message(format!(
                    "{} is {}",
                    proc.display(),
                    m.file_type.describe()
                ))
            }
            Some(_) => {}
        }
        let current = match lookup.read() {
            Ok(b) => normalize(&String::from_utf8_lossy(&b)),
            Err(e) => return part(Status::Error).message(e.to_string()),
        };
        let actual = format!("{} = {current}", self.key);
        if current == self.value {
            return part(Status::Pass).actual(actual);
        }
        let drift = part(Status::Drift).actual(actual);
        if is_one_way(&self.key, &self.value) && !self.one_way {
            return drift.message(
                "setting it cannot be undone until reboot; the control must say one_way = true to apply it",
            );
        }
        let note = if is_one_way(&self.key, &self.value) {
            format!("the kernel runs with {current} (one-way: setting it cannot be rolled back until reboot)")
        } else {
            format!("the kernel runs with {current}")
        };
        drift.message(note).fix(Fix::WriteKernel {
            path: proc,
            value: self.value.clone(),
        })
    }

    fn persist_part(&self, ctx: &Context) -> Part {
        let shown = self.persist_file.display().to_string();
        let part = |status| Part::new(shown.clone(), status).expected(self.expected());
        let lookup = match ctx.root.lookup(&self.persist_file) {
            Ok(l) => l,
            Err(e) => return part(Status::Error).message(e.to_string()),
        };
        let (text, meta) = match lookup.entry {
            None => (None, None),
            Some(m) if m.file_type == FileType::Regular => match lookup.read() {
                Ok(b) => (Some(String::from_utf8_lossy(&b).into_owned()), Some(m)),
                Err(e) => return part(Status::Error).message(e.to_string()),
            },
            Some(m) => {
                return part(Status::Error).message(format!(
                    "is {}; hardend owns this file and writes it only as a regular file",
                    m.file_type.describe()
                ))
            }
        };
        let lines = text.as_deref().map(parse_conf).unwrap_or_default();
        let managed = self.managed_keys(ctx);
        let stale: Vec<&str> = lines
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !managed.iter().any(|m| m == k))
            .collect();
        let persisted = lines
            .iter()
            .rev()
            .find(|(k, _)| *k == self.key)
            .map(|(_, v)| normalize(v));
        // hardend's file is applied at every boot: only root may write it.
        let safe = meta.is_none_or(|m| m.uid == 0 && m.gid == 0 && m.mode & 0o7022 == 0);
        if persisted.as_deref() == Some(self.value.as_str()) && safe && stale.is_empty() {
            return part(Status::Pass).actual(self.expected());
        }
        if is_one_way(&self.key, &self.value) && !self.one_way {
            return part(Status::Drift).message(
                "not persisted: the value locks the kernel until reboot and the control does not say one_way = true",
            );
        }
        let problem = if !stale.is_empty() && persisted.as_deref() == Some(self.value.as_str()) {
            format!(
                "also sets {}, which no control manages (a control since removed)",
                stale.join(", ")
            )
        } else if safe {
            "not persisted for the next boot".to_string()
        } else {
            let m = meta.expect("unsafe implies present");
            format!(
                "{shown} is {}:{} {:04o}; it must be root:root and writable by root only",
                m.uid, m.gid, m.mode
            )
        };
        part(Status::Drift)
            .actual(persisted.map_or_else(
                || format!("{} not persisted", self.key),
                |v| format!("{} = {v}", self.key),
            ))
            .message(problem)
            .fix(Fix::WriteFile {
                path: self.persist_file.clone(),
                content: self.persisted_with_key(text.as_deref(), &managed),
                uid: 0,
                gid: 0,
                mode: meta.filter(|_| safe).map_or(0o644, |m| m.mode),
                old: text.map(String::into_bytes),
            })
    }
}

fn has_kernel_tree(ctx: &Context) -> bool {
    ctx.root
        .lookup(std::path::Path::new("/proc/sys/kernel"))
        .is_ok_and(|l| l.exists())
}

impl Kind for Sysctl {
    fn live_matches(&self, ctx: &Context) -> Option<bool> {
        let lookup = ctx.root.lookup(&proc_path(&self.key)).ok()?;
        lookup.entry?;
        let current = lookup.read().ok()?;
        Some(normalize(&String::from_utf8_lossy(&current)) == self.value)
    }

    fn target(&self) -> String {
        self.key.clone()
    }

    fn watch_paths(&self) -> Vec<String> {
        vec![
            self.persist_file.display().to_string(),
            "/etc/sysctl.d/*.conf".to_string(),
            "/run/sysctl.d/*.conf".to_string(),
            "/usr/local/lib/sysctl.d/*.conf".to_string(),
            "/usr/lib/sysctl.d/*.conf".to_string(),
            "/lib/sysctl.d/*.conf".to_string(),
        ]
    }

    fn polled(&self) -> bool {
        true
    }

    fn observe(&self, ctx: &Context) -> Observation {
        if let Some((file, value)) = self.overridden_by(ctx) {
            let file = file.display().to_string();
            return Observation {
                target: self.key.clone(),
                parts: vec![Part::new(file.clone(), Status::Conflict)
                    .expected(self.expected())
                    .actual(format!("{} = {value} in {file}", self.key))
                    .message(format!(
                        "{file} is read after hardend's file at boot and sets {} = {value}; hardend does not fight it",
                        self.key
                    ))],
            };
        }
        let live = self.live_part(ctx);
        if live.status == Status::NotApplicable {
            return Observation {
                target: self.key.clone(),
                parts: vec![live],
            };
        }
        Observation {
            target: self.key.clone(),
            parts: vec![live, self.persist_part(ctx)],
        }
    }
}
