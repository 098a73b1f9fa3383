//! Finding and reading profile files: built-in profiles (enabled by the settings, masked by a
//! drop-in of the same file name) first, then drop-ins in lexical order. Every file is refused
//! unless root owns it and only root can write it (and its directory), as sshd's StrictModes.
//!
//! A drop-in directory that is a Kubernetes ConfigMap volume is understood as the kubelet lays
//! it out: each `NAME.toml` is a symlink `..data/NAME.toml`, `..data` a symlink to a timestamped
//! directory `..2026_11_23_12_00_00.123456789` beside it, swapped atomically on every update.
//! Such a file is read through `..data`, and the timestamped directory and the file face the
//! usual owner and mode checks; the `..`-prefixed entries themselves are never profiles, nor is
//! a key whose file is not in the current `..data` (mid-update). Any other symlink is refused.

use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::model::ProfileSet;
use super::parse::parse_file;
use super::validate::{cross_check, UnknownWaiver};
use crate::diag::Diagnostics;
use crate::fs::{read_trusted, TrustPolicy};

#[derive(Debug, Clone)]
pub struct ProfileSources {
    pub builtin_dir: PathBuf,
    /// Built-in profile names (file stems) to enable; `None` enables every shipped profile.
    pub builtin: Option<Vec<String>>,
    pub dropin_dir: PathBuf,
    pub trust: TrustPolicy,
}

impl ProfileSources {
    /// The profile files in the order they are read.
    pub fn files(&self, diags: &mut Diagnostics) -> Vec<PathBuf> {
        let dropins = toml_files(&self.dropin_dir, diags);
        let masked = |p: &Path| dropins.iter().any(|d| d.file_name() == p.file_name());
        let shipped = toml_files(&self.builtin_dir, diags);
        let mut files = Vec::new();
        match &self.builtin {
            None => files.extend(shipped.iter().filter(|p| !masked(p)).cloned()),
            Some(names) => {
                for name in names {
                    let path = self.builtin_dir.join(format!("{name}.toml"));
                    if !shipped.contains(&path) {
                        diags.file_error(
                            &self.builtin_dir,
                            format!(
                                "built-in profile `{name}` (enabled in the settings) is not in {}",
                                self.builtin_dir.display()
                            ),
                        );
                    } else if !masked(&path) {
                        files.push(path);
                    }
                }
            }
        }
        files.extend(dropins);
        files
    }
}

/// `*.toml` files of a directory, sorted; names starting with `.` (editor and CM temp files)
/// are skipped, and so are ConfigMap keys outside the version in force. A missing directory has
/// no files.
fn toml_files(dir: &Path, diags: &mut Diagnostics) -> Vec<PathBuf> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            diags.file_error(dir, format!("cannot read profile directory: {e}"));
            return Vec::new();
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name.ends_with(".toml") && !outside_current_version(p)
        })
        .collect();
    files.sort();
    files
}

/// Loads the whole set in force. Any error rejects the load (the caller keeps its last good
/// set); warnings are returned beside the set.
pub fn load(sources: &ProfileSources) -> Result<(ProfileSet, Diagnostics), Diagnostics> {
    load_with_texts(sources).map(|(set, diags, _)| (set, diags))
}

/// The files' texts as they were accepted, in reading order: what a last-known-good copy keeps.
pub type ProfileTexts = Vec<(PathBuf, String)>;

/// [`load`], also giving back the texts it accepted (read once, so the copy is exactly the set
/// in force even when a file changes meanwhile).
pub fn load_with_texts(
    sources: &ProfileSources,
) -> Result<(ProfileSet, Diagnostics, ProfileTexts), Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut texts = Vec::new();
    for path in sources.files(&mut diags) {
        // A ConfigMap's entry is read through its `..data` link (see `projected`).
        let real = projected(&path).unwrap_or_else(|| path.clone());
        match read_trusted(&real, &sources.trust) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => texts.push((path, text)),
                Err(e) => diags.file_error(&path, format!("not UTF-8 text: {}", e.utf8_error())),
            },
            Err(e) => diags.file_error(&path, e.to_string()),
        }
    }
    let (set, diags) = merge_texts(&texts, diags)?;
    Ok((set, diags, texts))
}

/// Parses and merges texts read earlier (the profile files, or their last-known-good copy).
pub fn merge_texts(
    texts: &[(PathBuf, String)],
    mut diags: Diagnostics,
) -> Result<(ProfileSet, Diagnostics), Diagnostics> {
    let mut set = ProfileSet::default();
    for (path, text) in texts {
        if let Some(file) = parse_file(path, text, &mut diags) {
            set.merge(file);
        }
    }
    cross_check(&set, UnknownWaiver::Error, &mut diags);
    if diags.has_errors() {
        Err(diags)
    } else {
        // The set lives as long as the daemon: give back what growing the lists left over.
        set.controls.shrink_to_fit();
        set.waivers.shrink_to_fit();
        Ok((set, diags))
    }
}

/// The kubelet's name for the link to the current data of a ConfigMap volume.
const KUBERNETES_DATA_DIR: &str = "..data";

/// Where a ConfigMap volume's `DIR/NAME` really is: `DIR/..data/NAME` when `NAME` is the symlink
/// `..data/NAME` and `..data` links to one `..`-prefixed directory beside it (the kubelet's
/// AtomicWriter layout). `None` for anything else, which is then read as it is.
///
/// The links are read by name, then the file is opened through `..data` by [`read_trusted`],
/// which checks what it opened: a `..data` swapped in between is still held to the owner and
/// mode rules (only root can write the directory anyway).
fn projected(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?;
    let data = Path::new(KUBERNETES_DATA_DIR);
    if std::fs::read_link(path).ok()? != data.join(name) {
        return None;
    }
    let current = std::fs::read_link(dir.join(data)).ok()?;
    let mut parts = current.components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(ts)), None) if ts.to_string_lossy().starts_with("..") => {
            Some(dir.join(data).join(name))
        }
        _ => None,
    }
}

/// A ConfigMap key whose file is not in the version `..data` names: the kubelet links a new key
/// before it swaps `..data`, and unlinks a removed key after. Until then the link dangles, and
/// the key is not part of the version in force, so it is no profile yet (or any more); the swap
/// and the unlink are changes in the directory, which make the daemon load again.
fn outside_current_version(path: &Path) -> bool {
    projected(path).is_some_and(|current| {
        std::fs::symlink_metadata(current).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    })
}

fn parse_text(path: &Path, bytes: &[u8], diags: &mut Diagnostics) -> Option<super::ProfileFile> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_file(path, text, diags),
        Err(e) => {
            diags.file_error(path, format!("not UTF-8 text: {e}"));
            None
        }
    }
}

/// `hardend validate PATH...`: checks the given files as they would be installed, on top of
/// the set in force where it loads. A waiver naming a control that none of them defines is only
/// a warning here: the control may come from a file the caller did not name.
pub fn validate_files(sources: &ProfileSources, paths: &[PathBuf]) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let mut set = match load(sources) {
        Ok((set, _)) => set,
        Err(_) => ProfileSet::default(),
    };
    let mut ok = true;
    for path in paths {
        let text = match read_candidate(path, &sources.trust) {
            Ok(text) => text,
            Err(message) => {
                diags.file_error(path, message);
                ok = false;
                continue;
            }
        };
        match parse_text(path, &text, &mut diags) {
            Some(file) => set.merge(file),
            None => ok = false,
        }
    }
    if ok {
        cross_check(&set, UnknownWaiver::Warning, &mut diags);
        super::validate::check_sources(&set, &mut diags);
    }
    diags
}

/// A file about to be installed: it must already be a regular file that root owns and that
/// neither group nor others can write; its directory (often /tmp) is not judged.
fn read_candidate(path: &Path, trust: &TrustPolicy) -> Result<Vec<u8>, String> {
    let projected = projected(path);
    let path = projected.as_deref().unwrap_or(path);
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("refused: not a regular file".into());
    }
    if meta.uid() != trust.owner_uid {
        return Err(format!(
            "refused: owned by uid {}; profiles must be owned by root and not writable by group or others",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "refused: writable by {} (mode {:04o}); profiles must be owned by root and not writable by group or others",
            if meta.mode() & 0o020 != 0 { "group" } else { "others" },
            meta.mode() & 0o7777
        ));
    }
    std::fs::read(path).map_err(|e| format!("cannot read: {e}"))
}
