//! `apparmor-profile` with the real `apparmor_parser` (Debian's `apparmor` package): a good
//! profile compiles and is deployed, a bad one is rejected with the parser's message and never
//! written, `validate` says so (exit 2); on this host's kernel the live part is `unsupported`
//! where it has no AppArmor and is loaded in the wanted mode where it has; `hardend run`
//! reverts drift of the deployed file.
//!
//! The live tests write one uniquely named profile into the host's `/etc/apparmor.d` and remove
//! it (and unload it, where the kernel loaded it) when they end, passed or failed.

#[path = "common/daemon.rs"]
mod daemon;

// The one-shot builders, as the daemon module includes them.
use daemon::env as common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn good(name: &str) -> String {
    format!(
        "#include <tunables/global>\n\nprofile {name} flags=(attach_disconnected) {{\n  #include <abstractions/base>\n  /etc/hostname r,\n  deny /proc/sysrq-trigger w,\n}}\n"
    )
}

/// `rwq` is no permission: the parser stops at line 3.
const BAD: &str = "profile hardend-test-bad {\n  /etc/hostname r,\n  /etc/passwd rwq,\n}\n";

fn aa_control(id: &str, path: &str, content: &str, mode: &str) -> String {
    format!(
        "[[control]]\nid = \"{id}\"\ntitle = \"{id}\"\nkind = \"apparmor-profile\"\npath = \"{path}\"\nprofile_mode = \"{mode}\"\ncontent = '''\n{content}'''\n"
    )
}

fn profile(controls: &str) -> String {
    format!("[profile]\nname = \"apparmor\"\npolicy = \"enforce\"\n\n{controls}")
}

fn parts(report: &serde_json::Value, id: &str) -> Vec<(String, String, String)> {
    control(report, id)["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["target"].as_str().unwrap().to_string(),
                p["status"].as_str().unwrap().to_string(),
                p["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn kernel_has_apparmor() -> bool {
    Path::new("/sys/kernel/security/apparmor").is_dir()
}

#[test]
fn a_good_profile_compiles_and_deploys_on_an_offline_root() {
    let env = Env::new();
    let path = "/etc/apparmor.d/hardend-test-good";
    env.profile(
        "10-aa",
        &profile(&aa_control(
            "aa-good",
            path,
            &good("hardend-test-good"),
            "enforce",
        )),
    );

    let report = env.apply_json(0, &[]);
    let got = parts(&report, "aa-good");
    assert_eq!(got.len(), 2, "a file part and a live part: {report:#}");
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), (path, "fixed"));
    assert_eq!(
        (got[1].0.as_str(), got[1].1.as_str()),
        ("AppArmor profile hardend-test-good (live)", "skipped"),
        "{report:#}"
    );
    // The worst part: skipped outranks fixed.
    assert_eq!(field(&report, "aa-good", "status"), "skipped");
    assert_eq!(
        std::fs::read_to_string(env.path(path)).unwrap(),
        good("hardend-test-good")
    );
    env.run(&["validate"]).expect_code(0);
}

#[test]
fn a_bad_profile_is_rejected_with_the_parsers_message_and_not_deployed() {
    let env = Env::new();
    let bad = "/etc/apparmor.d/hardend-test-bad";
    let fine = "/etc/apparmor.d/hardend-test-fine";
    let file = env.profile(
        "10-aa",
        &profile(&format!(
            "{}{}",
            aa_control("aa-bad", bad, BAD, "complain"),
            aa_control("aa-fine", fine, &good("hardend-test-fine"), "complain")
        )),
    );

    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, "aa-bad", "status"), "error", "{report:#}");
    let message = field(&report, "aa-bad", "message");
    assert!(
        message.contains("AppArmor parser error") && message.contains("line 3"),
        "{message}"
    );
    assert!(!env.path(bad).exists(), "a rejected profile was deployed");
    assert!(env.path(fine).exists(), "the other control proceeds");

    let out = env.run(&["validate"]);
    out.expect_code(2);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("control `aa-bad`"))
        .unwrap_or_else(|| panic!("not reported: {out:?}"));
    assert!(line.starts_with(&format!("{}:", file.display())), "{line}");
    assert!(line.contains("line 3"), "{line}");
}

#[test]
fn a_text_forcing_complain_mode_cannot_be_enforced() {
    let env = Env::new();
    let forced = "/etc/apparmor.d/hardend-test-forced";
    let allowed = "/etc/apparmor.d/hardend-test-allowed";
    let text = |name: &str| {
        format!("profile {name} flags=(attach_disconnected,complain) {{\n  /etc/hostname r,\n}}\n")
    };
    let file = env.profile(
        "10-aa",
        &profile(&format!(
            "{}{}",
            aa_control("aa-forced", forced, &text("hardend-test-forced"), "enforce"),
            aa_control(
                "aa-allowed",
                allowed,
                &text("hardend-test-allowed"),
                "complain"
            )
        )),
    );

    // An error with no fix: loading it again could never enforce it.
    let report = env.apply_json(1, &[]);
    assert_eq!(field(&report, "aa-forced", "status"), "error", "{report:#}");
    let message = field(&report, "aa-forced", "message");
    assert!(
        message.contains("forces complain mode on hardend-test-forced")
            && message.contains("profile_mode = \"complain\""),
        "{message}"
    );
    assert!(!env.path(forced).exists(), "deployed against its mode");
    // The same text with the mode it forces is fine.
    assert_eq!(field(&report, "aa-allowed", "status"), "skipped");
    assert!(env.path(allowed).exists());

    let out = env.run(&["validate"]);
    out.expect_code(2);
    let line = out
        .stderr
        .lines()
        .find(|l| l.contains("control `aa-forced`"))
        .unwrap_or_else(|| panic!("not reported: {out:?}"));
    assert!(line.starts_with(&format!("{}:", file.display())), "{line}");
    assert!(line.contains("forces complain mode"), "{line}");
    assert!(!out.stderr.contains("control `aa-allowed`"), "{out:?}");
}

#[test]
fn profile_mode_and_path_are_checked_when_the_profile_loads() {
    let env = Env::new();
    let up = "[[control]]\nid = \"aa-up\"\ntitle = \"up\"\nkind = \"apparmor-profile\"\npath = \"/etc/apparmor.d/y\"\nsource = \"../y\"\n";
    let file = env.candidate(
        "aa.toml",
        &profile(&format!(
            "{}{}{up}",
            aa_control("aa-mode", "/etc/apparmor.d/x", &good("x"), "audit"),
            aa_control("aa-path", "/etc/apparmor.d/local/x", &good("x"), "enforce")
        )),
    );
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("invalid `profile_mode` \"audit\""),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("must be a file directly in /etc/apparmor.d/"),
        "{out:?}"
    );
}

/// Removes the test's profile from the host (and from the kernel, where it was loaded).
struct HostProfile {
    path: PathBuf,
}

impl Drop for HostProfile {
    fn drop(&mut self) {
        if kernel_has_apparmor() && self.path.exists() {
            let _ = Command::new("apparmor_parser")
                .arg("-R")
                .arg(&self.path)
                .output();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `hardend` on the host itself (no `--root`), with the test's own profiles and state.
fn on_host(env: &Env, args: &[&str]) -> Out {
    let mut all: Vec<String> = vec![
        "--profiles".into(),
        env.profiles.display().to_string(),
        "--state-dir".into(),
        env.state.display().to_string(),
        "--config".into(),
        env.config.display().to_string(),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    run_raw(&all, &[])
}

#[test]
fn the_live_part_follows_this_kernel() {
    let name = format!("hardend-test-live-{}", std::process::id());
    let path = format!("/etc/apparmor.d/{name}");
    let text = good(&name);
    let env = Env::new();
    env.profile(
        "10-aa",
        &profile(&aa_control("aa-live", &path, &text, "enforce")),
    );
    // The deployed file is in place, so only the live part can keep the control from passing.
    let guard = HostProfile {
        path: PathBuf::from(&path),
    };
    std::fs::write(&guard.path, &text).unwrap();
    chmod(&guard.path, 0o644);

    let out = on_host(&env, &["check", "--format", "json"]);
    let report = out.json();
    let got = parts(&report, "aa-live");
    assert_eq!(got[0].1, "pass", "{report:#}");
    let live = &got[1];
    assert_eq!(live.0, format!("AppArmor profile {name} (live)"));

    if !kernel_has_apparmor() {
        // Never `pass` without AppArmor; the control shows its worst part.
        assert_eq!(live.1, "unsupported", "{report:#}");
        assert!(live.2.contains("no AppArmor"), "{}", live.2);
        assert_eq!(field(&report, "aa-live", "status"), "unsupported");
        out.expect_code(0);
        return;
    }

    // A kernel with AppArmor: not loaded yet, then loaded by apply in enforce mode.
    assert_eq!(live.1, "drift", "{report:#}");
    assert!(live.2.contains("not loaded"), "{}", live.2);
    let out = on_host(&env, &["apply", "--format", "json", "--control", "aa-live"]);
    out.expect_code(0);
    let report = out.json();
    assert_eq!(parts(&report, "aa-live")[1].1, "fixed", "{report:#}");
    let listing = std::fs::read_to_string("/sys/kernel/security/apparmor/profiles").unwrap();
    assert!(
        listing.lines().any(|l| l == format!("{name} (enforce)")),
        "{listing}"
    );
    let out = on_host(&env, &["check", "--format", "json"]);
    out.expect_code(0);
    assert_eq!(field(&out.json(), "aa-live", "status"), "pass");
    drop(guard);
}

#[test]
fn run_reverts_drift_of_the_deployed_file() {
    use daemon::{wait_until, Host};

    let h = Host::new(true, "");
    let path = "/etc/apparmor.d/hardend-test-run";
    let text = good("hardend-test-run");
    h.profile(
        "10-aa.toml",
        &profile(&aa_control("aa-run", path, &text, "complain")),
    );
    let d = h.start();
    let deployed = h.path(path);
    let wanted = text;
    wait_until("the profile deployed at start", || {
        std::fs::read_to_string(&deployed).is_ok_and(|t| t == wanted)
    });

    h.write_atomic(
        &deployed,
        b"profile hardend-test-run flags=(unconfined) {\n}\n",
        0o644,
    );
    wait_until("the profile restored", || {
        std::fs::read_to_string(&deployed).is_ok_and(|t| t == wanted)
    });
    let e = d.wait_event("drift-reverted", |e| e.is("drift-reverted", "aa-run"));
    assert_eq!(e.get("kind"), Some("apparmor-profile"), "{}", e.raw);
}
