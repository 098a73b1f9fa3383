//! Finding and reading profile files: built-in profiles (enabled by the settings, masked by a
//! drop-in of the same file name) first, then drop-ins in lexical order. Every file is refused
//! unless root owns it and only root can write it (and its directory), as sshd's StrictModes.
//!
//! A drop-in directory that is a Kubernetes ConfigMap volume is understood as the kubelet lays
//! it out: each `NAME.toml` is a symlink `..data/NAME.toml`, `..data` a symlink to a timestamped
//! directory `..2026_11_23_12_00_00.123456789` beside it, swapped atomically on every update.
//! Such a file is read from descriptors that were judged on the way: the drop-in directory
//! holding the links (trusted, or a read-only mount as the kubelet makes it), the timestamped
//! directory (a real directory, not a symlink, trusted) and the file. The `..`-prefixed entries
//! themselves are never profiles; a key whose file is not in the current `..data` (mid-update)
//! is skipped with a warning, and a `..data` that leads nowhere is an error. Any other symlink
//! is refused.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::model::ProfileSet;
use super::parse::parse_file;
use super::validate::{cross_check, UnknownWaiver};
use crate::diag::{Diagnostics, Location};
use crate::fs::{read_trusted, TrustPolicy, TrustedDir};

#[derive(Debug, Clone)]
pub struct ProfileSources {
    pub builtin_dir: PathBuf,
    /// Built-in profile names (file stems) to enable; `None` enables every shipped profile.
    pub builtin: Option<Vec<String>>,
    pub dropin_dir: PathBuf,
    pub trust: TrustPolicy,
}

impl ProfileSources {
    /// The profile files in the order they are read, and the ConfigMap keys skipped because
    /// they are not in the version in force (each with a warning).
    fn files(&self, diags: &mut Diagnostics) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let mut skipped = Vec::new();
        let dropins = toml_files(&self.dropin_dir, &self.trust, diags, &mut skipped);
        let masked = |p: &Path| dropins.iter().any(|d| d.file_name() == p.file_name());
        let shipped = toml_files(&self.builtin_dir, &self.trust, diags, &mut skipped);
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
        (files, skipped)
    }
}

/// `*.toml` files of a directory, sorted; names starting with `.` (editor and CM temp files)
/// are skipped, and so are ConfigMap keys outside the version in force (into `skipped`, with a
/// warning). A missing directory has no files.
fn toml_files(
    dir: &Path,
    trust: &TrustPolicy,
    diags: &mut Diagnostics,
    skipped: &mut Vec<PathBuf>,
) -> Vec<PathBuf> {
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
            !name.starts_with('.') && name.ends_with(".toml")
        })
        .collect();
    files.sort();
    // Any other problem of the layout is reported when the file is read.
    files.retain(|p| match projection(p, trust) {
        Ok(Projection::Outside(version)) => {
            skip(p, &version, diags, skipped);
            false
        }
        _ => true,
    });
    files
}

/// Loads the whole set in force. Any error rejects the load (the caller keeps its last good
/// set); warnings are returned beside the set.
pub fn load(sources: &ProfileSources) -> Result<(ProfileSet, Diagnostics), Diagnostics> {
    load_with_texts(sources).map(|l| (l.set, l.warnings))
}

/// The files' texts as they were accepted, in reading order: what a last-known-good copy keeps.
pub type ProfileTexts = Vec<(PathBuf, String)>;

/// An accepted load.
#[derive(Debug)]
pub struct Loaded {
    pub set: ProfileSet,
    pub warnings: Diagnostics,
    /// The texts accepted, read once, so a copy of them is exactly the set in force even when
    /// a file changes meanwhile.
    pub texts: ProfileTexts,
    /// ConfigMap keys left out as not in the version in force. Normal for a moment while the
    /// kubelet updates the volume; while there are any the set may lack a profile, so it is
    /// no last-known-good set.
    pub skipped: Vec<PathBuf>,
}

/// [`load`], also giving back the texts it accepted and the keys it skipped.
pub fn load_with_texts(sources: &ProfileSources) -> Result<Loaded, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut texts = Vec::new();
    let (files, mut skipped) = sources.files(&mut diags);
    for path in files {
        let read = match projection(&path, &sources.trust) {
            Ok(Projection::Plain) => read_trusted(&path, &sources.trust).map_err(|e| e.to_string()),
            Ok(Projection::Current(version, name)) => version
                .read(&name, &sources.trust)
                .map_err(|e| e.to_string()),
            // The volume was updated since the listing.
            Ok(Projection::Outside(version)) => {
                skip(&path, &version, &mut diags, &mut skipped);
                continue;
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(bytes) => {
                if let Some(text) = utf8_text(&path, bytes, &mut diags) {
                    texts.push((path, text));
                }
            }
            Err(e) => diags.file_error(&path, e),
        }
    }
    let (set, warnings) = merge_texts(&texts, diags)?;
    Ok(Loaded {
        set,
        warnings,
        texts,
        skipped,
    })
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

/// How a drop-in entry stands in a ConfigMap volume's layout.
enum Projection {
    /// Not the symlink `..data/NAME`: read as it is (where a symlink is refused).
    Plain,
    /// A key of the version in force: the timestamped directory, judged and held open, and
    /// the file's name in it.
    Current(TrustedDir, OsString),
    /// A key whose file is not in the version `..data` names (that timestamped directory): the
    /// kubelet links a new key before it swaps `..data`, and unlinks a removed key after.
    Outside(PathBuf),
}

/// Where a ConfigMap volume's `DIR/NAME` really is, when `NAME` is the symlink `..data/NAME`
/// (the kubelet's AtomicWriter layout). `DIR` holds the links, so it must be trusted or a
/// read-only mount (the kubelet mounts a ConfigMap volume read-only; on the node its directory
/// is 0777); `..data` must link to one `..`-prefixed entry beside it, a real directory that is
/// trusted. Every step after `DIR` is taken from a descriptor, never by path again, so a link
/// swapped in between cannot lead elsewhere.
fn projection(path: &Path, trust: &TrustPolicy) -> Result<Projection, String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(Projection::Plain);
    };
    let data = Path::new(KUBERNETES_DATA_DIR);
    if !std::fs::read_link(path).is_ok_and(|target| target == data.join(name)) {
        return Ok(Projection::Plain);
    }
    let links = TrustedDir::open(dir, trust, true).map_err(|e| e.to_string())?;
    if !links
        .contains(data.as_os_str())
        .map_err(|e| e.to_string())?
    {
        return Err(format!(
            "refused: a symlink to {}, but there is no {KUBERNETES_DATA_DIR} beside it",
            data.join(name).display()
        ));
    }
    let current = links
        .read_link(data.as_os_str())
        .map_err(|e| e.to_string())?;
    let mut parts = current.components();
    let version = match (parts.next(), parts.next()) {
        (Some(Component::Normal(v)), None) if v.to_string_lossy().starts_with("..") => v,
        _ => {
            return Err(format!(
                "refused: a symlink to {}, but {KUBERNETES_DATA_DIR} is not the kubelet's symlink to a `..` directory beside it (it links to {})",
                data.join(name).display(),
                current.display()
            ))
        }
    };
    if !links.contains(version).map_err(|e| e.to_string())? {
        return Err(format!(
            "{} links to {}, which does not exist: the ConfigMap volume is broken",
            dir.join(data).display(),
            current.display()
        ));
    }
    let version = links.subdir(version, trust).map_err(|e| e.to_string())?;
    if version.contains(name).map_err(|e| e.to_string())? {
        Ok(Projection::Current(version, name.to_os_string()))
    } else {
        Ok(Projection::Outside(version.path().to_path_buf()))
    }
}

/// Leaves out a key outside the version in force, with a warning: the swap of `..data` or the
/// unlink that ends an update changes the directory, which makes the daemon load again.
fn skip(path: &Path, version: &Path, diags: &mut Diagnostics, skipped: &mut Vec<PathBuf>) {
    diags.warning(
        Location {
            file: path.to_path_buf(),
            line: 1,
            col: 1,
        },
        format!(
            "skipped: a ConfigMap key that is not in the version in force ({}); a kubelet update in progress, or a broken volume",
            version.display()
        ),
    );
    skipped.push(path.to_path_buf());
}

/// A profile file's bytes as text, or an error naming the file.
fn utf8_text(path: &Path, bytes: Vec<u8>, diags: &mut Diagnostics) -> Option<String> {
    String::from_utf8(bytes)
        .map_err(|e| diags.file_error(path, format!("not UTF-8 text: {}", e.utf8_error())))
        .ok()
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
        let file = utf8_text(path, text, &mut diags).and_then(|t| parse_file(path, &t, &mut diags));
        match file {
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
/// neither group nor others can write; its directory (often /tmp) is not judged, unless the
/// file is a ConfigMap key, which is judged as a load would.
fn read_candidate(path: &Path, trust: &TrustPolicy) -> Result<Vec<u8>, String> {
    match projection(path, trust)? {
        Projection::Plain => {}
        // A ConfigMap key: judged as the daemon would read it.
        Projection::Current(version, name) => {
            return version.read(&name, trust).map_err(|e| e.to_string())
        }
        Projection::Outside(version) => {
            return Err(format!(
                "not in the version in force of its ConfigMap volume ({})",
                version.display()
            ))
        }
    }
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
