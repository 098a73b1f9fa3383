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
        err.contains(".000000001/site.toml") && err.contains("writable by group"),
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

/// Whoever can write the directory holding the links can plant a whole layout (`..data`, a
/// timestamped directory, the key links) that leads to any file root owns: a drop-in directory
/// that group or others can write is refused, naming it, as it is for a plain drop-in.
#[test]
fn a_layout_in_a_directory_others_can_write_is_refused() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    chmod(&h.profiles, 0o777);
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    let dir = format!(
        "{}: refused: the directory is writable by group (mode 0777) and not a read-only mount",
        h.profiles.display()
    );
    assert!(err.contains(&dir), "expected {dir:?} in:\n{err}");
    // The daemon does not start from it either (there is no last-known-good copy).
    let out = h.hardend(&["check"]);
    assert_code(&out, 2);
    chmod(&h.profiles, 0o775);
    let err = String::from_utf8_lossy(&h.hardend(&["validate"]).stderr).into_owned();
    assert!(err.contains("writable by group (mode 0775)"), "{err}");
}

/// A bind mount of `dir` on itself, read-only, for as long as it lives.
struct ReadOnlyMount(std::path::PathBuf);

impl ReadOnlyMount {
    fn new(dir: &Path) -> ReadOnlyMount {
        let run = |args: &[&str]| {
            let out = std::process::Command::new("mount")
                .args(args)
                .arg(dir)
                .arg(dir)
                .output()
                .expect("mount");
            assert!(out.status.success(), "mount {args:?}: {out:?}");
        };
        run(&["--bind"]);
        let mount = ReadOnlyMount(dir.to_path_buf());
        run(&["-o", "remount,bind,ro"]);
        mount
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

/// The kubelet's case: the volume's directory is 0777 on the node, and the volume is mounted
/// read-only into the container. Nobody can plant entries through a read-only mount, so there
/// the mode of the directory holding the links does not matter.
#[test]
fn a_layout_on_a_read_only_mount_is_read_whatever_the_directory_mode() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    chmod(&h.profiles, 0o777);
    let _ro = ReadOnlyMount::new(&h.profiles);
    let out = h.hardend(&["validate"]);
    assert_code(&out, 0);
}

/// `..data` must lead to a real directory beside it: a `..X` that is itself a symlink could
/// lead to any directory root owns.
#[test]
fn a_timestamped_directory_that_is_a_symlink_is_refused() {
    let h = host(true);
    let elsewhere = h.staging.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    chmod(&elsewhere, 0o755);
    std::fs::write(elsewhere.join("site.toml"), SITE).unwrap();
    chmod(&elsewhere.join("site.toml"), 0o644);
    symlink(
        &elsewhere,
        h.profiles.join("..2026_11_23_12_00_00.000000001"),
    )
    .unwrap();
    symlink("..2026_11_23_12_00_00.000000001", h.profiles.join("..data")).unwrap();
    symlink("..data/site.toml", h.profiles.join("site.toml")).unwrap();
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("..2026_11_23_12_00_00.000000001: refused: it is a symlink"),
        "{err}"
    );
}

/// A key whose file is not in the version in force is skipped with a warning naming it; a
/// `..data` that leads nowhere leaves no version at all: an error for every key, so the load is
/// rejected instead of quietly losing every site profile.
#[test]
fn a_dangling_key_is_a_warning_and_a_dangling_data_link_an_error() {
    let h = host(true);
    project(&h.profiles, "00", &[("site.toml", SITE)], 0o644);
    symlink("..data/late.toml", h.profiles.join("late.toml")).unwrap();
    let out = h.hardend(&["validate"]);
    assert_code(&out, 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:1:1: warning: skipped: a ConfigMap key that is not in the version in force",
            h.profiles.join("late.toml").display()
        )),
        "{err}"
    );

    std::fs::remove_dir_all(h.profiles.join("..2026_11_23_12_00_00.000000001")).unwrap();
    let out = h.hardend(&["validate"]);
    assert_code(&out, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["site.toml", "late.toml"] {
        let line = format!(
            "{}:1:1: error: {}/..data links to ..2026_11_23_12_00_00.000000001, which does not exist: the ConfigMap volume is broken",
            h.profiles.join(key).display(),
            h.profiles.display()
        );
        assert!(err.contains(&line), "expected {line:?} in:\n{err}");
    }
}

/// A load that skipped keys is used (it is the version in force) but does not replace the
/// last-known-good copy: a broken volume must not leave a copy without its profiles.
#[test]
fn a_load_with_skipped_keys_is_not_kept_as_the_last_known_good_copy() {
    let h = host(true);
    let other = SITE
        .replace("\"site\"", "\"other\"")
        .replace("app-mode", "other-mode");
    project(
        &h.profiles,
        "00",
        &[("site.toml", SITE), ("other.toml", &other)],
        0o644,
    );
    let d = h.start();
    d.wait_event("the first load", |e| {
        e.ty == "profile-loaded" && e.raw.contains("2 control(s)")
    });
    let copy = h.state.join("last-good-profiles.json");
    let saved = std::fs::read_to_string(&copy).expect("the copy of the first load");
    assert!(saved.contains("other.toml"), "{saved}");
    // `..data` moves to a version without other.toml, whose link stays (a half-done update
    // that does not finish).
    let ts = h.profiles.join("..2026_11_23_12_00_01.000000001");
    std::fs::create_dir(&ts).unwrap();
    chmod(&ts, 0o755);
    std::fs::write(ts.join("site.toml"), SITE).unwrap();
    chmod(&ts.join("site.toml"), 0o644);
    symlink(
        "..2026_11_23_12_00_01.000000001",
        h.profiles.join("..data_tmp"),
    )
    .unwrap();
    std::fs::rename(h.profiles.join("..data_tmp"), h.profiles.join("..data")).unwrap();
    d.wait_event("the load without other.toml", |e| {
        e.ty == "profile-loaded" && e.raw.contains("1 control(s)")
    });
    assert!(
        d.lines()
            .iter()
            .any(|l| l.contains("other.toml") && l.contains("skipped")),
        "{:#?}",
        d.lines()
    );
    assert_eq!(
        std::fs::read_to_string(&copy).unwrap(),
        saved,
        "the copy was replaced"
    );
    // The update finishes: the whole new version is kept.
    std::fs::remove_file(h.profiles.join("other.toml")).unwrap();
    wait_until("the copy of the finished update", || {
        std::fs::read_to_string(&copy).is_ok_and(|t| !t.contains("other.toml"))
    });
    assert_eq!(
        d.count(|e| e.ty == "profile-rejected"),
        0,
        "{:#?}",
        d.lines()
    );
}
