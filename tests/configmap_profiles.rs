//! Profiles from a Kubernetes ConfigMap volume mounted as `profiles.d`: the kubelet projects each
//! key as a symlink `NAME -> ..data/NAME`, `..data` links to a timestamped directory, and an
//! update writes a new timestamped directory and swaps `..data` by rename. hardend reads such
//! files through `..data`, checks owner and mode of what it reads, never takes the `..` entries
//! for profiles, and a running daemon picks an update up.

#[path = "common/daemon.rs"]
mod daemon;

use std::os::unix::fs::symlink;
use std::path::Path;

use daemon::*;

const SITE: &str = r#"
[profile]
name = "site"
policy = "enforce"

[[control]]
id = "app-mode"
title = "app.conf is at most 0640"
kind = "file-mode"
path = "/etc/app/app.conf"
mode = "0640"
"#;

const SITE_V2: &str = r#"
[profile]
name = "site"
policy = "enforce"

[[control]]
id = "app-mode"
title = "app.conf is at most 0640"
kind = "file-mode"
path = "/etc/app/app.conf"
mode = "0640"

[[control]]
id = "key-mode"
title = "app.key is at most 0600"
kind = "file-mode"
path = "/etc/app/app.key"
mode = "0600"
"#;

/// Projects `files` into `dir` as the kubelet's AtomicWriter does: a new timestamped directory
/// (0755) with the files (`mode`), the visible links, `..data_tmp` renamed over `..data`, then
/// the links of keys that went away and the previous timestamped directory removed.
fn project(dir: &Path, stamp: &str, files: &[(&str, &str)], mode: u32) {
    project_with(dir, stamp, files, mode, |_| {});
}

/// [`project`], calling `between` at the two moments a reader may see a half-done update: the
/// new keys' links exist but `..data` is still the old version, and `..data` is swapped but the
/// removed keys' links are still there.
fn project_with(
    dir: &Path,
    stamp: &str,
    files: &[(&str, &str)],
    mode: u32,
    mut between: impl FnMut(&str),
) {
    let ts = format!("..2026_11_23_12_00_{stamp}.000000001");
    let ts_dir = dir.join(&ts);
    std::fs::create_dir(&ts_dir).unwrap();
    chmod(&ts_dir, 0o755);
    for (name, text) in files {
        let p = ts_dir.join(name);
        std::fs::write(&p, text).unwrap();
        chmod(&p, mode);
    }
    for (name, _) in files {
        let visible = dir.join(name);
        if std::fs::symlink_metadata(&visible).is_err() {
            symlink(Path::new("..data").join(name), &visible).unwrap();
        }
    }
    between("new links, old data");
    let old = std::fs::read_link(dir.join("..data")).ok();
    symlink(&ts, dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    between("new data, old links");
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("..") && !files.iter().any(|(n, _)| *n == name) {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    }
}

fn host(enforce: bool) -> Host {
    let h = Host::new(enforce, "");
    h.file("/etc/app/app.conf", b"key = value\n", 0o640);
    h.file("/etc/app/app.key", b"secret\n", 0o600);
    h
}

#[track_caller]
fn assert_code(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn validate_and_check_read_a_configmap_volume_once() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    assert_code(&h.hardend(&["validate"]), 0);
    let visible = h.profiles.join("site.toml");
    assert_code(&h.hardend(&["validate", visible.to_str().unwrap()]), 0);
    let out = h.hardend(&["check", "--format", "json"]);
    assert_code(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    // One file, one control: neither `..data` nor the timestamped directory is read again.
    assert_eq!(ids, ["app-mode"], "{report:#}");
}

#[test]
fn a_configmap_file_still_faces_the_owner_and_mode_rules() {
    let h = host(true);
    // defaultMode 0664 (or an fsGroup) makes the projected file group-writable: refused.
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o664);
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("..data/site.toml") && err.contains("writable by group"),
        "{err}"
    );
}

#[test]
fn other_symlinks_are_still_refused() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    // A link that is not the kubelet's layout, to a file that would pass every check.
    let elsewhere = h.staging.join("other.toml");
    std::fs::write(&elsewhere, SITE.replace("\"site\"", "\"other\"")).unwrap();
    chmod(&elsewhere, 0o644);
    symlink(&elsewhere, h.profiles.join("other.toml")).unwrap();
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.toml") && err.contains("symlink"),
        "{err}"
    );
    // `..data` pointing out of the volume is not the layout either.
    std::fs::remove_file(h.profiles.join("other.toml")).unwrap();
    std::fs::remove_file(h.profiles.join("..data")).unwrap();
    symlink(&h.staging, h.profiles.join("..data")).unwrap();
    std::fs::write(h.staging.join("site.toml"), SITE).unwrap();
    chmod(&h.staging.join("site.toml"), 0o644);
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("site.toml") && err.contains("symlink"),
        "{err}"
    );
}

#[test]
fn run_picks_up_an_atomic_configmap_update() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    let d = h.start();
    d.wait_event("the first load", |e| {
        e.ty == "profile-loaded" && e.raw.contains("1 control(s)")
    });
    // The new version adds a control whose target has drifted: loaded and reverted.
    chmod(&h.path("/etc/app/app.key"), 0o644);
    project(&h.profiles, "01", &[("site.toml", SITE_V2)], 0o644);
    d.wait_event("the updated load", |e| {
        e.ty == "profile-loaded" && e.raw.contains("2 control(s)")
    });
    d.wait_event("the new control's revert", |e| {
        e.is("drift-reverted", "key-mode")
    });
    wait_until("app.key reverted", || {
        mode_of(&h.path("/etc/app/app.key")) == Some(0o600)
    });
    // The previous timestamped directory is gone, and the daemon keeps working on the new set.
    chmod(&h.path("/etc/app/app.conf"), 0o666);
    d.wait_event("a revert after the update", |e| {
        e.is("drift-reverted", "app-mode")
    });
    // A key removed from the ConfigMap: its control goes away.
    project(
        &h.profiles,
        "02",
        &[("other.toml", &SITE.replace("\"site\"", "\"other\""))],
        0o644,
    );
    d.wait_event("the load without site.toml", |e| {
        e.ty == "profile-loaded" && e.get("file").is_some_and(|f| f.ends_with("other.toml"))
    });
    // No update, whenever the daemon looked, was taken for a broken profile.
    assert_eq!(
        d.count(|e| e.ty == "profile-rejected"),
        0,
        "{:#?}",
        d.lines()
    );
}

#[test]
fn a_half_done_update_reads_the_version_in_force() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    let other = SITE
        .replace("\"site\"", "\"other\"")
        .replace("app-mode", "other-mode");
    // site.toml goes, other.toml comes: at each step the set is the version `..data` names,
    // never a missing file.
    let mut seen = Vec::new();
    project_with(
        &h.profiles,
        "01",
        &[("other.toml", &other)],
        0o644,
        |moment| {
            let out = h.hardend(&["check", "--format", "json"]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{moment}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let ids: Vec<String> = report["controls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_string())
                .collect();
            seen.push((moment.to_string(), ids));
        },
    );
    assert_eq!(
        seen,
        [
            (
                "new links, old data".to_string(),
                vec!["app-mode".to_string()]
            ),
            (
                "new data, old links".to_string(),
                vec!["other-mode".to_string()]
            ),
        ]
    );
}
