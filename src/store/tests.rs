//! Unit tests of the backup store on temporary roots and state directories (run as root: they
//! chown files to arbitrary ids).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::*;

struct Fixture {
    _tmp: TempDir,
    root_dir: PathBuf,
    state: PathBuf,
    root: Root,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("create a temp dir");
    let root_dir = tmp.path().join("root");
    let state = tmp.path().join("state");
    std::fs::create_dir_all(root_dir.join("etc")).expect("create root/etc");
    let root = Root::open(&root_dir, 0).expect("open the temp root");
    Fixture {
        _tmp: tmp,
        root_dir,
        state,
        root,
    }
}

impl Fixture {
    fn host(&self, path: &str) -> PathBuf {
        self.root_dir.join(path.trim_start_matches('/'))
    }

    fn put(&self, path: &str, content: &[u8], uid: u32, gid: u32, mode: u32) {
        let host = self.host(path);
        std::fs::write(&host, content).expect("write a test file");
        std::os::unix::fs::chown(&host, Some(uid), Some(gid)).expect("chown a test file");
        std::fs::set_permissions(&host, std::fs::Permissions::from_mode(mode))
            .expect("chmod a test file");
    }

    fn lookup(&self, path: &str) -> Lookup {
        self.root
            .lookup(Path::new(path))
            .expect("look the target up")
    }

    fn save(&self, store: &mut Store, path: &str, control: &str) {
        store
            .save_original(&self.root, &self.lookup(path), control)
            .expect("save the original");
    }

    /// Changes a target the way apply does: an atomic write as root, mode 0600.
    fn change(&self, path: &str, content: &[u8]) {
        self.lookup(path)
            .write_atomic(content, 0, 0, 0o600)
            .expect("change the target");
    }

    fn owner_mode(&self, path: &str) -> (u32, u32, u32) {
        let meta = std::fs::symlink_metadata(self.host(path)).expect("stat the target");
        (meta.uid(), meta.gid(), meta.mode() & 0o7777)
    }
}

fn controls(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

fn object_names(state: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(state.join("backups/objects"))
        .expect("list objects")
        .map(|d| {
            d.expect("read a dirent")
                .file_name()
                .into_string()
                .expect("object names are UTF-8")
        })
        .collect();
    names.sort();
    names
}

#[test]
fn rollback_restores_content_owner_and_mode() {
    let f = fixture();
    f.put("/etc/app.conf", b"original\n", 1234, 5678, 0o4640);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "c1");
    f.change("/etc/app.conf", b"hardened\n");

    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(
        results,
        vec![Restored {
            path: PathBuf::from("/etc/app.conf"),
            controls: controls(&["c1"]),
            action: "restored content, owner and mode".to_owned(),
            error: None,
        }]
    );
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read back"),
        b"original\n"
    );
    assert_eq!(f.owner_mode("/etc/app.conf"), (1234, 5678, 0o4640));
    assert!(store.entries(f.root.path()).is_empty());
    assert!(
        object_names(&f.state).is_empty(),
        "the restored object is collected"
    );
}

#[test]
fn metadata_only_change_is_restored_without_rewriting() {
    let f = fixture();
    f.put("/etc/app.conf", b"same\n", 0, 0, 0o666);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "c1");
    let ino = std::fs::metadata(f.host("/etc/app.conf"))
        .expect("stat")
        .ino();
    f.lookup("/etc/app.conf")
        .set_owner_mode(None, None, Some(0o644))
        .expect("chmod as apply would");

    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(results[0].action, "restored owner and mode");
    assert_eq!(f.owner_mode("/etc/app.conf"), (0, 0, 0o666));
    let after = std::fs::metadata(f.host("/etc/app.conf")).expect("stat");
    assert_eq!(after.ino(), ino, "same file, only chmod'ed back");
}

#[test]
fn absent_original_is_removed_again() {
    let f = fixture();
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/new.conf", "c1");
    assert_eq!(
        store.entries(f.root.path())[0].original,
        Original::Absent,
        "recorded as absent"
    );
    f.change("/etc/new.conf", b"created by apply\n");

    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].action, "removed (did not exist)");
    assert_eq!(results[0].error, None);
    assert!(std::fs::symlink_metadata(f.host("/etc/new.conf")).is_err());
}

#[test]
fn saving_twice_keeps_the_first_original() {
    let f = fixture();
    f.put("/etc/app.conf", b"first\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "c1");
    f.change("/etc/app.conf", b"second\n");
    f.save(&mut store, "/etc/app.conf", "c2");
    f.save(&mut store, "/etc/app.conf", "c1");
    f.change("/etc/app.conf", b"third\n");

    let entries = store.entries(f.root.path());
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].controls, controls(&["c1", "c2"]));
    assert!(
        matches!(&entries[0].original, Original::File { sha256, mode: 0o644, .. }
            if *sha256 == sha256_hex(b"first\n"))
    );

    store.rollback(&f.root, None).expect("roll back");
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"first\n"
    );
    assert_eq!(f.owner_mode("/etc/app.conf"), (0, 0, 0o644));
}

#[test]
fn symlink_original_is_recreated_with_the_same_target() {
    let f = fixture();
    std::fs::create_dir_all(f.host("/usr/share")).expect("mkdir");
    std::fs::write(f.host("/usr/share/app.conf"), b"link target\n").expect("write");
    std::os::unix::fs::symlink("../usr/share/app.conf", f.host("/etc/app.conf")).expect("ln -s");
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "c1");
    f.change("/etc/app.conf", b"managed\n");
    assert!(std::fs::symlink_metadata(f.host("/etc/app.conf"))
        .expect("stat")
        .is_file());

    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(results[0].action, "re-created symlink");
    assert_eq!(
        std::fs::read_link(f.host("/etc/app.conf")).expect("readlink"),
        PathBuf::from("../usr/share/app.conf")
    );
    assert_eq!(
        std::fs::read(f.host("/usr/share/app.conf")).expect("read"),
        b"link target\n",
        "the link's target is never touched"
    );
}

#[test]
fn rollback_filtered_by_control() {
    let f = fixture();
    f.put("/etc/a.conf", b"a\n", 0, 0, 0o644);
    f.put("/etc/b.conf", b"b\n", 0, 0, 0o644);
    f.put("/etc/shared.conf", b"s\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/a.conf", "c1");
    f.save(&mut store, "/etc/b.conf", "c2");
    f.save(&mut store, "/etc/shared.conf", "c1");
    f.save(&mut store, "/etc/shared.conf", "c2");
    for path in ["/etc/a.conf", "/etc/b.conf", "/etc/shared.conf"] {
        f.change(path, b"changed\n");
    }

    let results = store
        .rollback(&f.root, Some(&controls(&["c2"])))
        .expect("roll back c2");
    let mut paths: Vec<_> = results.iter().map(|r| r.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            PathBuf::from("/etc/b.conf"),
            PathBuf::from("/etc/shared.conf")
        ]
    );
    assert_eq!(std::fs::read(f.host("/etc/b.conf")).expect("read"), b"b\n");
    assert_eq!(
        std::fs::read(f.host("/etc/shared.conf")).expect("read"),
        b"s\n"
    );
    assert_eq!(
        std::fs::read(f.host("/etc/a.conf")).expect("read"),
        b"changed\n"
    );
    let left: Vec<_> = store.entries(f.root.path());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].path, PathBuf::from("/etc/a.conf"));
    assert_eq!(object_names(&f.state), [sha256_hex(b"a\n")]);

    let results = store
        .rollback(&f.root, Some(&controls(&["c9"])))
        .expect("roll back an unknown control");
    assert!(results.is_empty());
    store
        .rollback(&f.root, Some(&controls(&["c1"])))
        .expect("roll back c1");
    assert_eq!(std::fs::read(f.host("/etc/a.conf")).expect("read"), b"a\n");
}

#[test]
fn rollback_twice_is_a_no_op_and_unchanged_targets_are_left_alone() {
    let f = fixture();
    f.put("/etc/app.conf", b"original\n", 0, 0, 0o644);
    f.put("/etc/untouched.conf", b"as is\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "c1");
    f.save(&mut store, "/etc/untouched.conf", "c1");
    f.change("/etc/app.conf", b"hardened\n");
    let ino = std::fs::metadata(f.host("/etc/untouched.conf"))
        .expect("stat")
        .ino();

    let first = store.rollback(&f.root, None).expect("first rollback");
    assert_eq!(first.len(), 2);
    let untouched = first
        .iter()
        .find(|r| r.path == Path::new("/etc/untouched.conf"))
        .expect("a result for the untouched file");
    assert_eq!(untouched.action, "unchanged");
    assert_eq!(
        std::fs::metadata(f.host("/etc/untouched.conf"))
            .expect("stat")
            .ino(),
        ino,
        "not rewritten"
    );

    let second = store.rollback(&f.root, None).expect("second rollback");
    assert!(second.is_empty(), "nothing left to do: {second:?}");
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"original\n"
    );
}

#[test]
fn corrupt_object_is_refused_and_others_proceed() {
    let f = fixture();
    f.put("/etc/a.conf", b"a original\n", 0, 0, 0o644);
    f.put("/etc/b.conf", b"b original\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/a.conf", "c1");
    f.save(&mut store, "/etc/b.conf", "c1");
    f.change("/etc/a.conf", b"changed\n");
    f.change("/etc/b.conf", b"changed\n");
    let object = f
        .state
        .join("backups/objects")
        .join(sha256_hex(b"a original\n"));
    std::fs::write(&object, b"tampered\n").expect("corrupt the object");

    let results = store.rollback(&f.root, None).expect("roll back");
    let a = results
        .iter()
        .find(|r| r.path == Path::new("/etc/a.conf"))
        .expect("a result for a.conf");
    let error = a.error.as_deref().expect("a.conf is refused");
    assert!(error.contains("is corrupt"), "{error}");
    assert!(error.contains(&object.display().to_string()), "{error}");
    assert!(error.contains("/etc/a.conf"), "{error}");
    assert_eq!(a.action, "not restored");
    assert_eq!(
        std::fs::read(f.host("/etc/a.conf")).expect("read"),
        b"changed\n"
    );

    let b = results
        .iter()
        .find(|r| r.path == Path::new("/etc/b.conf"))
        .expect("a result for b.conf");
    assert_eq!(b.error, None);
    assert_eq!(
        std::fs::read(f.host("/etc/b.conf")).expect("read"),
        b"b original\n"
    );

    let left = store.entries(f.root.path());
    assert_eq!(left.len(), 1, "the refused entry stays");
    assert_eq!(left[0].path, PathBuf::from("/etc/a.conf"));
    assert!(object.exists(), "a referenced object is never collected");
}

#[test]
fn index_survives_reopen() {
    let f = fixture();
    f.put("/etc/app.conf", b"original\n", 42, 43, 0o600);
    {
        let mut store = Store::open(&f.state).expect("open the store");
        f.save(&mut store, "/etc/app.conf", "c1");
        f.save(&mut store, "/etc/absent.conf", "c2");
    }
    f.change("/etc/app.conf", b"changed\n");
    f.change("/etc/absent.conf", b"new\n");

    let mut store = Store::open(&f.state).expect("reopen the store");
    let entries = store.entries(f.root.path());
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].path, PathBuf::from("/etc/app.conf"));
    assert_eq!(
        entries[0].original,
        Original::File {
            sha256: sha256_hex(b"original\n"),
            uid: 42,
            gid: 43,
            mode: 0o600
        }
    );
    assert!(
        time::OffsetDateTime::parse(&entries[0].saved_at, &Rfc3339).is_ok(),
        "{}",
        entries[0].saved_at
    );
    assert_eq!(entries[1].original, Original::Absent);

    let results = store.rollback(&f.root, None).expect("roll back");
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"original\n"
    );
    assert!(!f.host("/etc/absent.conf").exists());
}

#[test]
fn layout_modes_and_index_format() {
    let f = fixture();
    f.put("/etc/app.conf", b"original\n", 0, 0, 0o640);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.conf", "cis-1.2");

    let mode = |p: &Path| std::fs::metadata(p).expect("stat").mode() & 0o7777;
    assert_eq!(mode(&f.state), 0o700);
    assert_eq!(mode(&f.state.join("backups")), 0o700);
    assert_eq!(mode(&f.state.join("backups/objects")), 0o700);
    assert_eq!(mode(&f.state.join("backups/index.json")), 0o600);
    let sha = sha256_hex(b"original\n");
    assert_eq!(mode(&f.state.join("backups/objects").join(&sha)), 0o600);

    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(f.state.join("backups/index.json")).expect("read the index"),
    )
    .expect("the index is JSON");
    assert_eq!(json["version"], 1);
    let entry = &json["entries"][0];
    assert_eq!(
        entry["root"],
        f.root.path().to_str().expect("UTF-8 temp path")
    );
    assert_eq!(entry["path"], "/etc/app.conf");
    assert_eq!(entry["controls"], serde_json::json!(["cis-1.2"]));
    assert_eq!(
        entry["original"],
        serde_json::json!({"type": "file", "sha256": sha, "uid": 0, "gid": 0, "mode": "0640"})
    );
}

#[test]
fn corrupt_index_is_an_error_and_is_kept() {
    let f = fixture();
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/x.conf", "c1");
    let index = f.state.join("backups/index.json");
    std::fs::write(&index, b"{\"version\": 1, \"entries\": [").expect("truncate the index");

    let err = Store::open(&f.state)
        .err()
        .expect("a corrupt index is refused");
    assert!(matches!(err, StoreError::ParseIndex { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&index.display().to_string()),
        "{err}"
    );
    assert!(
        store.rollback(&f.root, None).is_err(),
        "an open store re-reads the index"
    );
    assert_eq!(
        std::fs::read(&index).expect("read"),
        b"{\"version\": 1, \"entries\": [",
        "never reset"
    );

    std::fs::write(&index, br#"{"version": 7, "entries": []}"#).expect("write");
    let err = Store::open(&f.state)
        .err()
        .expect("a newer index is refused");
    assert!(
        matches!(err, StoreError::UnsupportedVersion { found: 7, .. }),
        "{err:?}"
    );

    std::fs::write(
        &index,
        br#"{"version": 1, "entries": [{"root": "/", "path": "/etc/x", "controls": [],
            "original": {"type": "file", "sha256": "../../etc/shadow", "uid": 0, "gid": 0,
            "mode": "0644"}, "saved_at": ""}]}"#,
    )
    .expect("write");
    let err = Store::open(&f.state)
        .err()
        .expect("a bad object name is refused");
    assert!(matches!(err, StoreError::InvalidIndex { .. }), "{err:?}");
}

#[test]
fn non_utf8_path_is_an_error_and_leaves_the_index_alone() {
    use std::os::unix::ffi::OsStrExt;
    let f = fixture();
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/ok.conf", "c1");
    let before = std::fs::read(f.state.join("backups/index.json")).expect("read the index");
    let name = Path::new(std::ffi::OsStr::from_bytes(b"/etc/bad-\xff.conf"));
    let lookup = f.root.lookup(name).expect("look the target up");
    let err = store
        .save_original(&f.root, &lookup, "c1")
        .expect_err("a non-UTF-8 path cannot be recorded");
    assert!(matches!(err, StoreError::EncodeIndex { .. }), "{err:?}");
    assert_eq!(
        std::fs::read(f.state.join("backups/index.json")).expect("read the index"),
        before
    );
    assert_eq!(store.entries(f.root.path()).len(), 1);
}

#[test]
fn created_dirs_are_removed_innermost_first_when_empty() {
    let f = fixture();
    let mut store = Store::open(&f.state).expect("open the store");
    let target = Path::new("/opt/app/conf.d/app.conf");
    let created = f.root.create_parents(target).expect("create parents");
    assert_eq!(
        created,
        [
            PathBuf::from("/opt"),
            PathBuf::from("/opt/app"),
            PathBuf::from("/opt/app/conf.d")
        ]
    );
    store
        .record_created_dirs(&f.root, &created, "c1")
        .expect("record created dirs");
    f.save(&mut store, "/opt/app/conf.d/app.conf", "c1");
    f.change("/opt/app/conf.d/app.conf", b"new\n");
    // Someone else's file in /opt keeps that directory.
    std::fs::write(f.host("/opt/other"), b"not ours\n").expect("write");

    let results = store.rollback(&f.root, None).expect("roll back");
    let actions: Vec<_> = results
        .iter()
        .map(|r| (r.path.to_str().expect("UTF-8"), r.action.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("/opt/app/conf.d/app.conf", "removed (did not exist)"),
            ("/opt/app/conf.d", "removed created directory"),
            ("/opt/app", "removed created directory"),
            ("/opt", "kept created directory (not empty)"),
        ]
    );
    assert!(!f.host("/opt/app").exists());
    assert!(f.host("/opt/other").exists());
    let left = store.entries(f.root.path());
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].original, Original::CreatedDir);

    std::fs::remove_file(f.host("/opt/other")).expect("rm");
    let results = store.rollback(&f.root, None).expect("roll back again");
    assert_eq!(results[0].action, "removed created directory");
    assert!(!f.host("/opt").exists());
}

#[test]
fn directory_original_gets_owner_and_mode_back() {
    let f = fixture();
    std::fs::create_dir(f.host("/etc/app.d")).expect("mkdir");
    std::os::unix::fs::chown(f.host("/etc/app.d"), Some(7), Some(8)).expect("chown");
    std::fs::set_permissions(
        f.host("/etc/app.d"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .expect("chmod");
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/app.d", "c1");
    f.lookup("/etc/app.d")
        .set_owner_mode(Some(0), Some(0), Some(0o755))
        .expect("harden");

    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(results[0].action, "restored owner and mode");
    assert_eq!(f.owner_mode("/etc/app.d"), (7, 8, 0o1777));
}

#[test]
fn roots_share_one_state_dir_without_mixing() {
    let f = fixture();
    let g = fixture();
    f.put("/etc/app.conf", b"root one\n", 0, 0, 0o644);
    g.put("/etc/app.conf", b"root two\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    let mut other = Store::open(&f.state).expect("open the same store again");
    f.save(&mut store, "/etc/app.conf", "c1");
    g.save(&mut other, "/etc/app.conf", "c1");
    f.change("/etc/app.conf", b"changed\n");
    g.change("/etc/app.conf", b"changed\n");

    let results = store.rollback(&f.root, None).expect("roll back root one");
    assert_eq!(
        results.len(),
        1,
        "the other store's entry was re-read, not lost"
    );
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"root one\n"
    );
    assert_eq!(
        std::fs::read(g.host("/etc/app.conf")).expect("read"),
        b"changed\n"
    );
    assert_eq!(store.entries(g.root.path()).len(), 1);
    assert_eq!(object_names(&f.state), [sha256_hex(b"root two\n")]);

    let results = other.rollback(&g.root, None).expect("roll back root two");
    assert_eq!(results.len(), 1);
    assert_eq!(
        std::fs::read(g.host("/etc/app.conf")).expect("read"),
        b"root two\n"
    );
}

/// The child half of [`crash_after_backup_leaves_the_original_recoverable`]: a no-op unless the
/// parent set the variables.
#[test]
fn crash_child() {
    let (Some(root), Some(state)) = (
        std::env::var_os("HARDEND_TEST_CRASH_ROOT"),
        std::env::var_os("HARDEND_TEST_CRASH_STATE"),
    ) else {
        return;
    };
    let root = Root::open(Path::new(&root), 0).expect("open the root");
    let mut store = Store::open(Path::new(&state)).expect("open the store");
    let lookup = root
        .lookup(Path::new("/etc/app.conf"))
        .expect("look the target up");
    store
        .save_original(&root, &lookup, "c1")
        .expect("save the original");
    // Not reached when HARDEND_FAULT=after-backup: the change that would follow.
    lookup
        .write_atomic(b"half-applied\n", 0, 0, 0o600)
        .expect("change the target");
}

#[test]
fn crash_after_backup_leaves_the_original_recoverable() {
    if !cfg!(debug_assertions) {
        return; // The hook exists only in debug builds.
    }
    let f = fixture();
    f.put("/etc/app.conf", b"original\n", 0, 0, 0o644);
    let status = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "store::tests::crash_child", "--test-threads=1"])
        .env("HARDEND_FAULT", "after-backup")
        .env("HARDEND_TEST_CRASH_ROOT", &f.root_dir)
        .env("HARDEND_TEST_CRASH_STATE", &f.state)
        .output()
        .expect("run the child")
        .status;
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "the child aborts: {status:?}"
    );
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"original\n",
        "aborted before the change"
    );

    // What a crash right after the backup leaves, then the change made by hand.
    f.change("/etc/app.conf", b"changed after the crash\n");
    let mut store = Store::open(&f.state).expect("open the store after the crash");
    assert_eq!(store.entries(f.root.path()).len(), 1);
    let results = store.rollback(&f.root, None).expect("roll back");
    assert_eq!(results[0].error, None);
    assert_eq!(
        std::fs::read(f.host("/etc/app.conf")).expect("read"),
        b"original\n"
    );
    assert_eq!(f.owner_mode("/etc/app.conf"), (0, 0, 0o644));
}

#[test]
fn a_released_index_is_read_again_before_anything_new_is_recorded() {
    let f = fixture();
    f.put("/etc/a", b"a\n", 0, 0, 0o644);
    f.put("/etc/b", b"b\n", 0, 0, 0o644);
    let mut store = Store::open(&f.state).expect("open the store");
    f.save(&mut store, "/etc/a", "c-a");
    store.release_index();
    // Already recorded: answered from the hashes, nothing read or written.
    f.save(&mut store, "/etc/a", "c-a");
    // New: the index is read again, so the first entry survives the write.
    f.save(&mut store, "/etc/b", "c-b");
    let reopened = Store::open(&f.state).expect("reopen the store");
    let paths: Vec<PathBuf> = reopened
        .entries(&f.root_dir)
        .iter()
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(
        paths,
        vec![PathBuf::from("/etc/a"), PathBuf::from("/etc/b")]
    );
}
