//! `file-mode`: owner, group and the most permissive mode allowed for files, directories and
//! sockets. Never follows a symlink at the managed path (that is an `error`, left alone), and
//! never touches a FIFO or a device.

use std::path::Path;

use super::attrs::{describe, is_glob, read_account, read_mode, read_paths, Mode};
use super::{Context, Fix, Kind, Observation, Part};
use crate::engine::Status;
use crate::fs::{FileType, Lookup, Meta};
use crate::profile::reader::TableReader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfMissing {
    /// A missing target is `not-applicable` (as docker-bench and kube-bench treat it).
    Skip,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedType {
    File,
    Directory,
    Socket,
}

impl ExpectedType {
    fn matches(self, t: FileType) -> bool {
        matches!(
            (self, t),
            (ExpectedType::File, FileType::Regular)
                | (ExpectedType::Directory, FileType::Directory)
                | (ExpectedType::Socket, FileType::Socket)
        )
    }

    fn describe(self) -> &'static str {
        match self {
            ExpectedType::File => FileType::Regular.describe(),
            ExpectedType::Directory => FileType::Directory.describe(),
            ExpectedType::Socket => FileType::Socket.describe(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileMode {
    /// Alternatives, each possibly a glob: the first that matches anything is used.
    pub paths: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub mode: Option<Mode>,
    pub mode_exact: bool,
    pub if_missing: IfMissing,
    pub file_type: Option<ExpectedType>,
    /// The path is a dockerd setting (`docker:tlscacert`): the flag dockerd is started with,
    /// else the daemon.json key. Unset means the file is not used: `not-applicable`.
    pub path_from: Option<String>,
}

impl FileMode {
    pub fn parse(r: &mut TableReader) -> Option<FileMode> {
        let path_from = match r.str("path_from") {
            None => None,
            Some(s) => match s.value.strip_prefix("docker:") {
                Some(key) if crate::docker::keys::is_known(key) => Some(key.to_string()),
                _ => {
                    r.error(
                        s.location,
                        format!("`path_from` {:?}: expected \"docker:<daemon.json key>\", e.g. \"docker:tlscacert\"", s.value),
                    );
                    return None;
                }
            },
        };
        let paths = if path_from.is_some() && !r.has("path") {
            Some(Vec::new())
        } else if path_from.is_some() {
            let here = r.here();
            r.error(here, "give either `path` or `path_from`, not both");
            return None;
        } else {
            read_paths(r, "path", true)
        };
        let owner = read_account(r, "owner");
        let group = read_account(r, "group");
        let mode = read_mode(r, "mode");
        let mode_exact = r.bool("mode_exact").map(|b| b.value).unwrap_or(false);
        let if_missing = match r.str("if_missing") {
            None => Some(IfMissing::Skip),
            Some(s) => match s.value.as_str() {
                "skip" => Some(IfMissing::Skip),
                "error" => Some(IfMissing::Error),
                other => {
                    r.error(
                        s.location,
                        format!("unknown `if_missing` {other:?} (expected \"skip\" or \"error\")"),
                    );
                    None
                }
            },
        };
        let file_type = match r.str("file_type") {
            None => Some(None),
            Some(s) => match s.value.as_str() {
                "file" => Some(Some(ExpectedType::File)),
                "directory" => Some(Some(ExpectedType::Directory)),
                "socket" => Some(Some(ExpectedType::Socket)),
                other => {
                    r.error(
                        s.location,
                        format!("unknown `file_type` {other:?} (expected \"file\", \"directory\" or \"socket\")"),
                    );
                    None
                }
            },
        };
        if owner.is_none() && group.is_none() && !r.has("mode") {
            let here = r.here();
            r.error(
                here,
                "a file-mode control needs at least one of `owner`, `group`, `mode`",
            );
            return None;
        }
        if mode_exact && !r.has("mode") {
            let here = r.here();
            r.error(here, "`mode_exact` needs `mode`");
            return None;
        }
        Some(FileMode {
            paths: paths?,
            owner,
            group,
            mode: if r.has("mode") { Some(mode?) } else { None },
            mode_exact,
            if_missing: if_missing?,
            file_type: file_type?,
            path_from,
        })
    }

    fn expected(&self) -> String {
        let mut out = Vec::new();
        match (&self.owner, &self.group) {
            (Some(o), Some(g)) => out.push(format!("{o}:{g}")),
            (Some(o), None) => out.push(format!("owner {o}")),
            (None, Some(g)) => out.push(format!("group {g}")),
            (None, None) => {}
        }
        if let Some(m) = self.mode {
            out.push(if self.mode_exact {
                format!("{m} exactly")
            } else {
                format!("{m} or stricter")
            });
        }
        out.join(" ")
    }

    fn observe_path(&self, ctx: &Context, path: &Path) -> Part {
        match ctx.root.lookup(path) {
            Ok(lookup) => self.observe_found(ctx, &lookup),
            Err(e) => Part::new(path.display().to_string(), Status::Error)
                .expected(self.expected())
                .message(e.to_string()),
        }
    }

    /// Judges what a lookup found (the daemon's hot path: one lookup per observation).
    fn observe_found(&self, ctx: &Context, lookup: &Lookup) -> Part {
        let path = lookup.path.as_path();
        let shown = path.display().to_string();
        let expected = self.expected();
        let Some(meta) = lookup.entry else {
            return self.missing(shown);
        };
        if let Some(problem) = self.unusable(&meta) {
            let actual = meta.file_type.describe();
            return Part::new(shown, Status::Error)
                .expected(expected)
                .actual(actual)
                .message(problem);
        }
        let uid = match self.owner.as_deref().map(|o| (o, ctx.accounts.uid(o))) {
            Some((o, None)) => return unknown_account(ctx, shown, expected, "user", o),
            Some((_, id)) => id,
            None => None,
        };
        let gid = match self.group.as_deref().map(|g| (g, ctx.accounts.gid(g))) {
            Some((g, None)) => return unknown_account(ctx, shown, expected, "group", g),
            Some((_, id)) => id,
            None => None,
        };
        let actual = describe(&meta, ctx.accounts);
        let mut problems = Vec::new();
        let want_uid = uid.filter(|u| *u != meta.uid);
        let want_gid = gid.filter(|g| *g != meta.gid);
        if want_uid.is_some() {
            problems.push(format!("owner is {}", owner_name(ctx, meta.uid)));
        }
        if want_gid.is_some() {
            problems.push(format!("group is {}", group_name(ctx, meta.gid)));
        }
        let target_mode =
            self.mode.map_or(
                meta.mode,
                |Mode(m)| {
                    if self.mode_exact {
                        m
                    } else {
                        meta.mode & m
                    }
                },
            );
        if let (Some(Mode(m)), true) = (self.mode, target_mode != meta.mode) {
            problems.push(if self.mode_exact {
                format!("mode is {}", Mode(meta.mode))
            } else {
                format!(
                    "mode {} has bits {} beyond {}",
                    Mode(meta.mode),
                    Mode(meta.mode & !m),
                    Mode(m)
                )
            });
        }
        // chown clears setuid/setgid bits, so a chown always re-applies the mode.
        let chown = want_uid.is_some() || want_gid.is_some();
        let want_mode = (chown || target_mode != meta.mode).then_some(target_mode);
        if problems.is_empty() {
            return Part::new(shown, Status::Pass)
                .expected(expected)
                .actual(actual);
        }
        Part::new(shown, Status::Drift)
            .expected(expected)
            .actual(actual)
            .message(problems.join(", "))
            .fix(Fix::SetOwnerMode {
                path: path.to_path_buf(),
                uid: want_uid,
                gid: want_gid,
                mode: want_mode,
            })
    }

    /// Why an object cannot be managed by this control, if it cannot.
    fn unusable(&self, meta: &Meta) -> Option<String> {
        match meta.file_type {
            FileType::Symlink => Some(
                "is a symlink; file-mode never follows a link at a managed path, so it is left as it is".into(),
            ),
            FileType::Fifo | FileType::CharDevice | FileType::BlockDevice => {
                Some(format!("is {}; not touched", meta.file_type.describe()))
            }
            t => match self.file_type {
                Some(want) if !want.matches(t) => Some(format!(
                    "is {}, expected {}; not touched",
                    t.describe(),
                    want.describe()
                )),
                _ => None,
            },
        }
    }

    fn missing(&self, target: String) -> Part {
        let part = Part::new(target, Status::NotApplicable)
            .expected(self.expected())
            .actual("missing");
        match self.if_missing {
            IfMissing::Skip => part.message("not found"),
            IfMissing::Error => Part {
                status: Status::Error,
                ..part.message("not found, and the control says if_missing = \"error\"")
            },
        }
    }
}

fn owner_name(ctx: &Context, uid: u32) -> String {
    ctx.accounts
        .user_name(uid)
        .map_or_else(|| format!("uid {uid}"), str::to_string)
}

fn group_name(ctx: &Context, gid: u32) -> String {
    ctx.accounts
        .group_name(gid)
        .map_or_else(|| format!("gid {gid}"), str::to_string)
}

fn unknown_account(
    ctx: &Context,
    target: String,
    expected: String,
    what: &str,
    name: &str,
) -> Part {
    Part::new(target, Status::Error)
        .expected(expected)
        .message(super::attrs::unknown_account(ctx.accounts, what, name))
}

impl Kind for FileMode {
    fn watch_paths(&self) -> Vec<String> {
        let mut paths = self.paths.clone();
        if self.path_from.is_some() {
            // A change of daemon.json can move the file this control judges.
            paths.push(crate::docker::DAEMON_JSON.to_string());
        }
        paths
    }

    fn target(&self) -> String {
        match self.paths.as_slice() {
            [only] => only.clone(),
            [first, rest @ ..] => format!("{first} (or {} alternatives)", rest.len()),
            [] => String::new(),
        }
    }

    fn observe(&self, ctx: &Context) -> Observation {
        if let Some(key) = &self.path_from {
            return match crate::docker::setting(ctx.root, key) {
                Some(path) if path.starts_with('/') => self.observe_patterns(ctx, &[path]),
                Some(other) => Observation {
                    target: other.clone(),
                    parts: vec![Part::new(other, Status::Error)
                        .expected(self.expected())
                        .message(format!("dockerd's `{key}` is not an absolute path"))],
                },
                None => Observation {
                    target: format!("dockerd {key}"),
                    parts: vec![Part::new(format!("dockerd {key}"), Status::NotApplicable)
                        .expected(self.expected())
                        .message(format!("dockerd is not configured with `{key}`"))],
                },
            };
        }
        self.observe_patterns(ctx, &self.paths)
    }
}

impl FileMode {
    /// The first alternative (or glob) that matches anything decides.
    fn observe_patterns(&self, ctx: &Context, patterns: &[String]) -> Observation {
        for pattern in patterns {
            let found = if is_glob(pattern) {
                ctx.root.glob(pattern)
            } else {
                match ctx.root.lookup(Path::new(pattern)) {
                    Ok(l) if l.exists() => {
                        let part = self.observe_found(ctx, &l);
                        if part.fix.is_some() {
                            ctx.keep(l);
                        }
                        return Observation {
                            target: pattern.clone(),
                            parts: vec![part],
                        };
                    }
                    Ok(_) => Ok(vec![]),
                    Err(e) => Err(e),
                }
            };
            match found {
                Err(e) => {
                    return Observation {
                        target: pattern.clone(),
                        parts: vec![Part::new(pattern.clone(), Status::Error)
                            .expected(self.expected())
                            .message(e.to_string())],
                    }
                }
                Ok(paths) if !paths.is_empty() => {
                    return Observation {
                        target: pattern.clone(),
                        parts: paths.iter().map(|p| self.observe_path(ctx, p)).collect(),
                    }
                }
                Ok(_) => {}
            }
        }
        let target = self.target();
        Observation {
            target: target.clone(),
            parts: vec![self.missing(target)],
        }
    }
}
