//! `file-content`: hardend owns the whole file: its bytes (inline `content` or a root-owned
//! `source` file), owner, group and exact mode. A symlink at the path is replaced by the managed
//! file through rename, never written through; a directory or device there is an `error`.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::attrs::{describe, read_account, read_mode, read_paths, unknown_account, Mode};
use super::{Context, Fix, Kind, Observation, Part};
use crate::engine::Status;
use crate::fs::{read_trusted, FileType, TrustPolicy};
use crate::profile::reader::TableReader;

#[derive(Debug, Clone)]
pub enum ContentSource {
    Inline(String),
    /// A host file (not relocated by `--root`), read with the same trust rules as profiles.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct FileContent {
    pub path: PathBuf,
    pub content: ContentSource,
    pub owner: String,
    pub group: String,
    pub mode: Mode,
}

impl FileContent {
    pub fn parse(r: &mut TableReader) -> Option<FileContent> {
        let paths = read_paths(r, "path", false);
        if let Some(p) = &paths {
            if p.len() > 1 {
                let here = r.here();
                r.error(here, "file-content manages exactly one `path`");
                return None;
            }
        }
        let inline = r.str("content");
        let source = r.str("source");
        let content = match (inline, source) {
            (Some(c), None) => Some(ContentSource::Inline(c.value)),
            (None, Some(s)) if s.value.starts_with('/') => {
                Some(ContentSource::File(PathBuf::from(s.value)))
            }
            // Relative to the profile file's directory, so that a shipped profile can name
            // the data shipped beside it wherever the package puts both.
            (None, Some(s))
                if !s.value.is_empty()
                    && Path::new(&s.value)
                        .components()
                        .all(|c| matches!(c, Component::Normal(_))) =>
            {
                Some(ContentSource::File(
                    profile_dir(r.source().path).join(&s.value),
                ))
            }
            (None, Some(s)) => {
                r.error(
                    s.location,
                    "`source` must be an absolute host path, or a path without `.` or `..` relative to the profile file's directory",
                );
                None
            }
            (Some(_), Some(s)) => {
                r.error(s.location, "give either `content` or `source`, not both");
                None
            }
            (None, None) => {
                let here = r.here();
                r.error(
                    here,
                    "missing required key `content` or `source` in [[control]]",
                );
                None
            }
        };
        let owner = read_account(r, "owner").unwrap_or_else(|| "root".into());
        let group = read_account(r, "group").unwrap_or_else(|| "root".into());
        let mode = if r.has("mode") {
            read_mode(r, "mode")?
        } else {
            Mode(0o644)
        };
        Some(FileContent {
            path: PathBuf::from(paths?.remove(0)),
            content: content?,
            owner,
            group,
            mode,
        })
    }

    /// The bytes the file must hold: the inline text, or the `source` file read with the
    /// trust rules.
    pub(super) fn desired(&self, ctx: &Context) -> Result<Vec<u8>, String> {
        self.read_desired(ctx.trust)
    }

    /// Where the content comes from, for messages about it.
    pub(super) fn origin(&self) -> String {
        match &self.content {
            ContentSource::Inline(_) => "inline `content`".to_string(),
            ContentSource::File(p) => format!("source {}", p.display()),
        }
    }

    pub(super) fn read_desired(&self, trust: &TrustPolicy) -> Result<Vec<u8>, String> {
        match &self.content {
            ContentSource::Inline(s) => Ok(s.as_bytes().to_vec()),
            ContentSource::File(p) => {
                read_trusted(p, trust).map_err(|e| format!("source {}: {e}", p.display()))
            }
        }
    }
}

/// The directory a profile file really lives in: its own, or, when the file is a symlink, the
/// directory its link points into (one link, not canonicalised). A ConfigMap key is
/// `profiles.d/NAME -> ..data/NAME`: a relative `source` then resolves to `profiles.d/..data/X`,
/// read through the same `..data` link as the profile itself, instead of the key's own link
/// `profiles.d/X`, which `read_trusted` refuses; and it stays valid when the kubelet swaps
/// `..data` to a new version.
fn profile_dir(profile: &Path) -> PathBuf {
    let dir = profile.parent().unwrap_or(Path::new("."));
    std::fs::read_link(profile)
        .ok()
        .and_then(|target| dir.join(target).parent().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf())
}

fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    format!("sha256:{}", &hex::encode(hash)[..16])
}

impl Kind for FileContent {
    fn watch_paths(&self) -> Vec<String> {
        vec![self.target()]
    }

    fn host_watch_paths(&self) -> Vec<PathBuf> {
        match &self.content {
            ContentSource::File(source) => vec![source.clone()],
            ContentSource::Inline(_) => Vec::new(),
        }
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let part = observe_file(self, ctx, &self.path);
        Observation {
            target: self.target(),
            parts: vec![part],
        }
    }
}

fn observe_file(c: &FileContent, ctx: &Context, path: &Path) -> Part {
    match c.desired(ctx) {
        Ok(content) => observe_content(c, ctx, content),
        Err(e) => Part::new(path.display().to_string(), Status::Error).message(e),
    }
}

/// The file at the control's path compared with `content` (already read and, for kinds that
/// deploy profiles, validated), with the fix that writes it.
pub(super) fn observe_content(c: &FileContent, ctx: &Context, content: Vec<u8>) -> Part {
    let path = c.path.as_path();
    let shown = path.display().to_string();
    let expected = format!("{} {}:{} {}", digest(&content), c.owner, c.group, c.mode);
    let error = |msg: String| {
        Part::new(shown.clone(), Status::Error)
            .expected(expected.clone())
            .message(msg)
    };
    let Some(uid) = ctx.accounts.uid(&c.owner) else {
        return error(unknown_account(ctx.accounts, "user", &c.owner));
    };
    let Some(gid) = ctx.accounts.gid(&c.group) else {
        return error(unknown_account(ctx.accounts, "group", &c.group));
    };
    let lookup = match ctx.root.lookup(path) {
        Ok(l) => l,
        Err(e) => return error(e.to_string()),
    };
    let write = |old: Option<Vec<u8>>| Fix::WriteFile {
        path: path.to_path_buf(),
        content: content.clone(),
        uid,
        gid,
        mode: c.mode.0,
        old,
    };
    let drift = |actual: String, message: String, fix: Fix| {
        Part::new(shown.clone(), Status::Drift)
            .expected(expected.clone())
            .actual(actual)
            .message(message)
            .fix(fix)
    };
    let Some(meta) = lookup.entry else {
        return drift("missing".into(), "missing".into(), write(None));
    };
    match meta.file_type {
        FileType::Regular => {}
        FileType::Symlink => {
            let to = lookup
                .read_link()
                .map(|t| t.display().to_string())
                .unwrap_or_else(|_| "?".into());
            return drift(
                format!("symlink to {to}"),
                "is a symlink; it will be replaced by the managed file (the link's target is not touched)".into(),
                write(None),
            );
        }
        other => {
            return error(format!(
                "is {}, expected a regular file; not touched",
                other.describe()
            ))
            .actual(other.describe());
        }
    }
    let current = match lookup.read() {
        Ok(b) => b,
        Err(e) => return error(e.to_string()),
    };
    let actual = format!("{} {}", digest(&current), describe(&meta, ctx.accounts));
    if current != content {
        return drift(actual, "content differs".into(), write(Some(current)));
    }
    let mut problems = Vec::new();
    if meta.uid != uid || meta.gid != gid {
        problems.push("owner or group differs".to_string());
    }
    if meta.mode != c.mode.0 {
        problems.push(format!("mode is {}", Mode(meta.mode)));
    }
    if problems.is_empty() {
        return Part::new(shown, Status::Pass)
            .expected(expected)
            .actual(actual);
    }
    drift(
        actual,
        problems.join(", "),
        Fix::SetOwnerMode {
            path: path.to_path_buf(),
            uid: (meta.uid != uid).then_some(uid),
            gid: (meta.gid != gid).then_some(gid),
            // chown clears setuid/setgid bits, so the mode is always re-applied.
            mode: Some(c.mode.0),
        },
    )
}
