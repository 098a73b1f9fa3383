//! The last-known-good profile set: a copy of the profile texts `hardend run` last accepted,
//! kept in the state directory. A daemon that starts while a drop-in is broken (after a reboot,
//! or a restart by systemd) enforces what it last accepted instead of nothing, and says so.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::load::{merge_texts, ProfileTexts};
use super::model::ProfileSet;
use crate::diag::Diagnostics;
use crate::fs::{read_trusted, write_state_file, TrustPolicy};

pub const LAST_GOOD_FILE: &str = "last-good-profiles.json";

#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// When the set was accepted (RFC 3339, UTC).
    saved_at: String,
    files: Vec<SavedFile>,
}

#[derive(Serialize, Deserialize)]
struct SavedFile {
    /// Where the text was read from; diagnostics and events name it.
    path: PathBuf,
    text: String,
}

/// Replaces the copy with `texts`, atomically; an unchanged set is not rewritten.
pub fn save(state_dir: &Path, texts: &ProfileTexts, saved_at: &str) -> Result<(), String> {
    let path = state_dir.join(LAST_GOOD_FILE);
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(old) = serde_json::from_slice::<Snapshot>(&bytes) {
            let same = old.files.len() == texts.len()
                && old
                    .files
                    .iter()
                    .zip(texts)
                    .all(|(f, (p, t))| &f.path == p && &f.text == t);
            if same {
                return Ok(());
            }
        }
    }
    let snapshot = Snapshot {
        saved_at: saved_at.to_string(),
        files: texts
            .iter()
            .map(|(path, text)| SavedFile {
                path: path.clone(),
                text: text.clone(),
            })
            .collect(),
    };
    let bytes = serde_json::to_vec(&snapshot).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    // 0600: profiles can name what is deliberately waived; only root reads the copy.
    write_state_file(&path, &bytes, 0o600).map_err(|e| e.to_string())
}

/// The last accepted set and when it was saved. The copy must be root's like any profile.
pub fn load(state_dir: &Path, trust: &TrustPolicy) -> Result<(ProfileSet, String), String> {
    let path = state_dir.join(LAST_GOOD_FILE);
    let bytes = read_trusted(&path, trust).map_err(|e| e.to_string())?;
    let snapshot: Snapshot =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let texts: ProfileTexts = snapshot
        .files
        .into_iter()
        .map(|f| (f.path, f.text))
        .collect();
    match merge_texts(&texts, Diagnostics::default()) {
        Ok((set, _)) => Ok((set, snapshot.saved_at)),
        // Saved only after it was accepted: an error here means a newer hardend is stricter.
        Err(diags) => Err(format!(
            "{}: the saved set no longer validates: {}",
            path.display(),
            diags
                .errors()
                .next()
                .map(|d| d.to_string())
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "[profile]\nname = \"p\"\n\n[[control]]\nid = \"a\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/x\"\nmode = \"0644\"\n";

    #[test]
    fn saved_then_loaded_gives_the_same_set_and_an_unchanged_set_is_not_rewritten() {
        let d = tempfile::tempdir().expect("tempdir");
        let texts = vec![(
            PathBuf::from("/etc/hardend/profiles.d/p.toml"),
            PROFILE.to_string(),
        )];
        save(d.path(), &texts, "2026-11-23T10:00:00Z").expect("save");
        let trust = TrustPolicy {
            owner_uid: nix::unistd::geteuid().as_raw(),
        };
        let (set, at) = load(d.path(), &trust).expect("load");
        assert_eq!(at, "2026-11-23T10:00:00Z");
        assert_eq!(set.controls.len(), 1);
        assert_eq!(set.controls[0].id, "a");
        assert_eq!(set.files, [PathBuf::from("/etc/hardend/profiles.d/p.toml")]);

        save(d.path(), &texts, "2026-11-24T10:00:00Z").expect("save again");
        let (_, at) = load(d.path(), &trust).expect("load");
        assert_eq!(
            at, "2026-11-23T10:00:00Z",
            "same texts: the copy is left alone"
        );
    }

    #[test]
    fn a_missing_or_damaged_copy_is_an_error_naming_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let trust = TrustPolicy {
            owner_uid: nix::unistd::geteuid().as_raw(),
        };
        assert!(load(d.path(), &trust).is_err());
        std::fs::write(d.path().join(LAST_GOOD_FILE), b"{not json").expect("write");
        let e = load(d.path(), &trust).expect_err("damaged");
        assert!(e.contains(LAST_GOOD_FILE), "{e}");
    }
}
