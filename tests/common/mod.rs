//! Builders shared by the integration tests: a temporary host layout (root tree, profiles.d,
//! state dir, settings) driven through the real `hardend` binary, and a deterministic snapshot
//! of a directory tree for before/after comparisons.
//!
//! Every test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const BIN: &str = env!("CARGO_BIN_EXE_hardend");

/// The root tree's own accounts: `hdtestuser`/`hdtestgrp` exist only here, not on the host.
pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
    hdtestuser:x:4242:4343:hardend test:/home/hdtestuser:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\nhdtestgrp:x:4343:hdtestuser\ndocker:x:998:\n";

pub const NO_BUILTINS: &str = "builtin_profiles = []\n";

/// A temporary host: `T/root` (the tree under `--root`), `T/profiles.d`, `T/state` and
/// `T/hardend.toml`.
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub profiles: PathBuf,
    pub state: PathBuf,
    pub config: PathBuf,
}

/// The result of one run of the binary.
pub struct Out {
    /// The exit code, `None` when a signal ended the process.
    pub code: Option<i32>,
    /// The signal that ended the process, if one did.
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit code {:?}, signal {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.signal, self.stdout, self.stderr
        )
    }
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        use std::os::unix::process::ExitStatusExt;
        Out {
            code: o.status.code(),
            signal: o.status.signal(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// Asserts the exit code, showing the whole output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Out {
        assert_eq!(self.code, Some(code), "unexpected exit: {self:?}");
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    /// The non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

pub fn lchown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
}

/// Creates `dir` and its missing parents, each new one root-owned 0755.
pub fn mkdirs(dir: &Path) {
    let mut missing = Vec::new();
    let mut d = dir;
    while std::fs::symlink_metadata(d).is_err() {
        missing.push(d.to_path_buf());
        d = d.parent().expect("a parent");
    }
    for m in missing.iter().rev() {
        std::fs::create_dir(m).unwrap_or_else(|e| panic!("mkdir {}: {e}", m.display()));
        chmod(m, 0o755);
    }
}

impl Env {
    /// A fresh host with `builtin_profiles = []`: only the test's own profiles load.
    pub fn new() -> Env {
        Env::with_config(NO_BUILTINS)
    }

    /// A fresh host with these settings.
    pub fn with_config(settings: &str) -> Env {
        Env::with_accounts(settings, PASSWD, GROUP)
    }

    /// A fresh host with these settings and these `/etc/passwd` and `/etc/group` in its root.
    pub fn with_accounts(settings: &str, passwd: &str, group: &str) -> Env {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the integration tests run as root (they chown files and need root-owned profiles)"
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        chmod(tmp.path(), 0o755);
        let base = tmp.path().canonicalize().expect("canonical tempdir");
        let env = Env {
            root: base.join("root"),
            profiles: base.join("profiles.d"),
            state: base.join("state"),
            config: base.join("hardend.toml"),
            tmp,
        };
        std::fs::create_dir(&env.root).expect("mkdir root");
        chmod(&env.root, 0o755);
        std::fs::create_dir(&env.profiles).expect("mkdir profiles.d");
        chmod(&env.profiles, 0o755);
        env.write_config(settings);
        env.file("/etc/passwd", passwd.as_bytes(), 0o644);
        env.file("/etc/group", group.as_bytes(), 0o644);
        env
    }

    /// The temp directory holding everything.
    pub fn base(&self) -> &Path {
        self.tmp.path()
    }

    /// Rewrites the settings file (root-owned, 0644).
    pub fn write_config(&self, settings: &str) {
        std::fs::write(&self.config, settings).expect("write settings");
        chmod(&self.config, 0o644);
    }

    /// Writes `profiles.d/NAME.toml` (root-owned, 0644) and returns its path.
    pub fn profile(&self, name: &str, toml: &str) -> PathBuf {
        let name = if name.ends_with(".toml") {
            name.to_string()
        } else {
            format!("{name}.toml")
        };
        let p = self.profiles.join(name);
        std::fs::write(&p, toml).expect("write profile");
        chmod(&p, 0o644);
        p
    }

    /// Writes a profile outside profiles.d (a candidate for `validate FILE`), root-owned 0644 in
    /// a 0755 directory.
    pub fn candidate(&self, name: &str, toml: &str) -> PathBuf {
        let dir = self.base().join("candidates");
        mkdirs(&dir);
        let p = dir.join(name);
        std::fs::write(&p, toml).expect("write candidate");
        chmod(&p, 0o644);
        p
    }

    /// The host path of a path inside the root (`/etc/x` → `T/root/etc/x`).
    pub fn path(&self, in_root: &str) -> PathBuf {
        self.root.join(in_root.trim_start_matches('/'))
    }

    /// A root-owned regular file in the root with this content and mode (parents 0755).
    pub fn file(&self, in_root: &str, bytes: &[u8], mode: u32) -> PathBuf {
        self.file_owned(in_root, bytes, mode, 0, 0)
    }

    /// A regular file with owner and group; the mode is set after the chown, so setuid and
    /// setgid bits stay.
    pub fn file_owned(
        &self,
        in_root: &str,
        bytes: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> PathBuf {
        let p = self.path(in_root);
        mkdirs(p.parent().expect("parent"));
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        lchown(&p, uid, gid);
        chmod(&p, mode);
        p
    }

    /// A directory in the root (parents 0755).
    pub fn dir(&self, in_root: &str, mode: u32) -> PathBuf {
        let p = self.path(in_root);
        mkdirs(&p);
        chmod(&p, mode);
        p
    }

    /// A symlink in the root whose link text is `target`, exactly.
    pub fn symlink(&self, in_root: &str, target: impl AsRef<Path>) -> PathBuf {
        let p = self.path(in_root);
        mkdirs(p.parent().expect("parent"));
        std::os::unix::fs::symlink(target.as_ref(), &p)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", p.display()));
        p
    }

    /// A FIFO in the root.
    pub fn fifo(&self, in_root: &str, mode: u32) -> PathBuf {
        let p = self.path(in_root);
        mkdirs(p.parent().expect("parent"));
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(mode))
            .unwrap_or_else(|e| panic!("mkfifo {}: {e}", p.display()));
        chmod(&p, mode);
        p
    }

    /// The global options, pointing at this host.
    pub fn globals(&self) -> Vec<String> {
        vec![
            "--root".into(),
            self.root.display().to_string(),
            "--profiles".into(),
            self.profiles.display().to_string(),
            "--state-dir".into(),
            self.state.display().to_string(),
            "--config".into(),
            self.config.display().to_string(),
        ]
    }

    /// Runs `hardend GLOBALS ARGS...`.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_env(args, &[])
    }

    /// Runs `hardend GLOBALS ARGS...` with extra environment variables.
    pub fn run_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Out {
        let mut all: Vec<String> = self.globals();
        all.extend(args.iter().map(|s| s.to_string()));
        run_raw(&all, vars)
    }

    /// `check --format json` (plus ARGS), its exit code asserted; returns the JSON.
    #[track_caller]
    pub fn check_json(&self, code: i32, args: &[&str]) -> Value {
        let mut all = vec!["check", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        out.expect_code(code);
        out.json()
    }

    /// `apply --format json` (plus ARGS), its exit code asserted; returns the JSON.
    #[track_caller]
    pub fn apply_json(&self, code: i32, args: &[&str]) -> Value {
        let mut all = vec!["apply", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        out.expect_code(code);
        out.json()
    }

    /// A deterministic description of the whole root tree.
    pub fn tree_snapshot(&self) -> Snapshot {
        Snapshot::of(&self.root)
    }
}

/// Runs the binary with exactly these arguments.
pub fn run_raw<S: AsRef<OsStr>>(args: &[S], vars: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    cmd.env_remove("HARDEND_FAULT");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("run hardend").into()
}

/// Every path under a directory (the directory itself as `.`) with its type, owner, group and
/// mode, plus the SHA-256 of a regular file's content, a symlink's target text or a device's
/// number. Timestamps are left out. Symlinks are never followed.
#[derive(Clone, PartialEq, Eq)]
pub struct Snapshot(pub BTreeMap<String, String>);

impl Snapshot {
    pub fn of(dir: &Path) -> Snapshot {
        let mut map = BTreeMap::new();
        walk(dir, dir, &mut map);
        Snapshot(map)
    }

    /// The lines that differ, `-` before and `+` after.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in &self.0 {
            match after.0.get(k) {
                Some(w) if w == v => {}
                Some(w) => {
                    out.push(format!("- {k} {v}"));
                    out.push(format!("+ {k} {w}"));
                }
                None => out.push(format!("- {k} {v}")),
            }
        }
        for (k, w) in &after.0 {
            if !self.0.contains_key(k) {
                out.push(format!("+ {k} {w}"));
            }
        }
        out
    }

    /// The paths whose entry differs between the two snapshots (added, removed or changed).
    pub fn changed_paths(&self, after: &Snapshot) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .keys()
            .chain(after.0.keys())
            .filter(|k| self.0.get(*k) != after.0.get(*k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.0 {
            writeln!(f, "{k} {v}")?;
        }
        Ok(())
    }
}

/// Asserts two snapshots are equal, printing only the differences.
#[track_caller]
pub fn assert_same_tree(before: &Snapshot, after: &Snapshot, what: &str) {
    let diff = before.diff(after);
    assert!(
        diff.is_empty(),
        "{what}: the tree changed:\n{}",
        diff.join("\n")
    );
}

fn walk(base: &Path, p: &Path, map: &mut BTreeMap<String, String>) {
    let meta =
        std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
    let rel = p.strip_prefix(base).expect("under base");
    let key = if rel.as_os_str().is_empty() {
        ".".to_string()
    } else {
        format!("/{}", rel.display())
    };
    let ft = meta.file_type();
    let (kind, detail) = if ft.is_symlink() {
        let t = std::fs::read_link(p).expect("readlink");
        ("symlink", format!("-> {}", t.display()))
    } else if ft.is_dir() {
        ("dir", String::new())
    } else if ft.is_file() {
        let bytes = std::fs::read(p).expect("read");
        (
            "file",
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes))),
        )
    } else if ft.is_fifo() {
        ("fifo", String::new())
    } else if ft.is_socket() {
        ("socket", String::new())
    } else if ft.is_char_device() {
        ("char-device", format!("rdev {:#x}", meta.rdev()))
    } else if ft.is_block_device() {
        ("block-device", format!("rdev {:#x}", meta.rdev()))
    } else {
        ("unknown", String::new())
    };
    let mode = if ft.is_symlink() {
        0
    } else {
        meta.mode() & 0o7777
    };
    map.insert(
        key,
        format!("{kind} {}:{} {mode:04o} {detail}", meta.uid(), meta.gid())
            .trim_end()
            .to_string(),
    );
    if ft.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
            .expect("readdir")
            .map(|e| e.expect("dirent").path())
            .collect();
        entries.sort();
        for e in entries {
            walk(base, &e, map);
        }
    }
}

/// `id → status` of every control in a JSON report.
pub fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["controls"]
        .as_array()
        .expect("controls array")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().expect("id").to_string(),
                c["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

/// Builds an expected `id → status` map.
pub fn expect_statuses(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// The control `id` of a JSON report.
#[track_caller]
pub fn control<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["controls"]
        .as_array()
        .expect("controls array")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no control {id} in {report:#}"))
}

/// A string field of the control `id`.
#[track_caller]
pub fn field<'a>(report: &'a Value, id: &str, key: &str) -> &'a str {
    control(report, id)[key]
        .as_str()
        .unwrap_or_else(|| panic!("{id}.{key} is not a string: {report:#}"))
}

/// The report's `summary` as counts.
pub fn summary(report: &Value) -> BTreeMap<String, u64> {
    report["summary"]
        .as_object()
        .expect("summary object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

/// A full summary: every status with its count (zero when not given) and `total`.
pub fn expect_summary(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = [
        "pass",
        "drift",
        "fixed",
        "waived",
        "not-applicable",
        "skipped",
        "unsupported",
        "conflict",
        "error",
    ]
    .iter()
    .map(|s| (s.to_string(), 0))
    .collect();
    let mut total = 0;
    for (k, v) in pairs {
        m.insert(k.to_string(), *v);
        total += v;
    }
    m.insert("total".into(), total);
    m
}

/// The sha256 hex of a host file's content.
pub fn sha256_of(p: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(p).expect("read")))
}

/// Mode bits (07777) of a path, not following a symlink there.
pub fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).expect("lstat").mode() & 0o7777
}

/// The site profile and a tree for it (`tests/fixtures/site.toml`): five drifted controls, one
/// that passes and one whose target is missing. With `drifted = false` every target is already
/// compliant.
pub const SITE_PROFILE: &str = include_str!("../fixtures/site.toml");

pub const BANNER: &str = "Authorised use only.\n";
pub const NEW_CONF: &str = "# managed by hardend\nlog_level = \"info\"\n";

pub fn site_env(drifted: bool) -> Env {
    let env = Env::new();
    env.profile("10-site", SITE_PROFILE);
    if drifted {
        env.file("/etc/issue.net", b"Debian GNU/Linux\nold banner\n", 0o664);
        env.file("/etc/docker/daemon.json", b"{\"icc\": false}\n", 0o666);
        env.file_owned(
            "/etc/ssh/sshd_config",
            b"PermitRootLogin no\n",
            0o644,
            4242,
            4343,
        );
        env.file_owned(
            "/usr/local/bin/helper",
            b"#!/bin/sh\necho helper\n",
            0o4755,
            4242,
            4343,
        );
    } else {
        env.file("/etc/issue.net", BANNER.as_bytes(), 0o644);
        env.file("/etc/docker/daemon.json", b"{\"icc\": false}\n", 0o640);
        env.file("/etc/ssh/sshd_config", b"PermitRootLogin no\n", 0o644);
        env.file("/usr/local/bin/helper", b"#!/bin/sh\necho helper\n", 0o755);
        env.file(
            "/etc/hardend-site/conf.d/site.conf",
            NEW_CONF.as_bytes(),
            0o640,
        );
    }
    env
}

/// The seven controls of the site profile.
pub const SITE_IDS: [&str; 7] = [
    "site-banner",
    "site-daemon-json",
    "site-sshd-owner",
    "site-helper",
    "site-new-conf",
    "site-passwd",
    "site-optional",
];
