//! Profile validation: every broken file is rejected with `file:line:col: error: reason`, exit 2,
//! both by `validate FILE` and when `check` loads it from profiles.d; untrusted files are refused.

mod common;

use std::path::Path;

use common::*;

/// A broken fixture and where its (first) error is.
struct Case {
    file: &'static str,
    text: &'static str,
    line: usize,
    col: usize,
    /// The reason, exactly, or (ending in `…`) its beginning. `{FILE}` stands for the path.
    reason: &'static str,
    /// How many errors the file has in all (a typo'd `path` is also a missing `path`).
    errors: usize,
}

const CASES: &[Case] = &[
    Case {
        file: "syntax.toml",
        text: include_str!("fixtures/invalid/syntax.toml"),
        line: 6,
        col: 29,
        reason: "TOML syntax: …",
        errors: 1,
    },
    Case {
        file: "unknown_key.toml",
        text: include_str!("fixtures/invalid/unknown_key.toml"),
        line: 8,
        col: 1,
        reason: "unknown key `pth` in [[control]] (did you mean `path`?)",
        errors: 2,
    },
    Case {
        file: "unknown_kind.toml",
        text: include_str!("fixtures/invalid/unknown_kind.toml"),
        line: 7,
        col: 8,
        reason: "unknown kind `file-perms` (known: file-mode, file-content…",
        errors: 1,
    },
    Case {
        file: "missing_title.toml",
        text: include_str!("fixtures/invalid/missing_title.toml"),
        line: 4,
        col: 1,
        reason: "missing required key `title` in [[control]]",
        errors: 1,
    },
    Case {
        file: "bad_mode.toml",
        text: include_str!("fixtures/invalid/bad_mode.toml"),
        line: 9,
        col: 8,
        reason: "invalid `mode` \"0999\": expected up to four octal digits, like \"0644\"",
        errors: 1,
    },
    Case {
        file: "bad_glob.toml",
        text: include_str!("fixtures/invalid/bad_glob.toml"),
        line: 8,
        col: 8,
        reason: "invalid `path` \"/etc/[abc\": invalid glob: …",
        errors: 1,
    },
    Case {
        file: "duplicate_id.toml",
        text: include_str!("fixtures/invalid/duplicate_id.toml"),
        line: 12,
        col: 6,
        reason: "duplicate control id `dup-1` in this file (first defined at {FILE}:5:6)",
        errors: 1,
    },
    Case {
        file: "bad_date.toml",
        text: include_str!("fixtures/invalid/bad_date.toml"),
        line: 14,
        col: 11,
        reason: "`expires` = \"2027-02-30\" is not a date (expected YYYY-MM-DD)",
        errors: 1,
    },
];

/// Asserts that stderr has the diagnostic `FILE:LINE:COL: error: REASON` on one line.
#[track_caller]
fn assert_diagnostic(out: &Out, file: &Path, case: &Case) {
    let prefix = format!("{}:{}:{}: error: ", file.display(), case.line, case.col);
    let reason = case.reason.replace("{FILE}", &file.display().to_string());
    let found = out
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .any(|r| match reason.strip_suffix('…') {
            Some(start) => r.starts_with(start) && r.len() > start.len(),
            None => r == reason,
        });
    assert!(found, "{}: expected `{prefix}{reason}`: {out:?}", case.file);
    // The unknown kind's count is the subject of its own (failing) test.
    if case.file != "unknown_kind.toml" {
        let errors = out
            .stderr
            .lines()
            .filter(|l| l.starts_with(&format!("{}:", file.display())) && l.contains(": error: "))
            .count();
        assert_eq!(errors, case.errors, "{}: {out:?}", case.file);
    }
}

#[test]
fn validate_file_rejects_each_broken_profile_with_its_position() {
    for case in CASES {
        let env = Env::new();
        let file = env.candidate(case.file, case.text);
        let out = env.run(&["validate", file.to_str().unwrap()]);
        assert_eq!(out.code, Some(2), "{}: {out:?}", case.file);
        assert_diagnostic(&out, &file, case);
        assert!(!out.stdout.contains("valid"), "{}: {out:?}", case.file);
    }
}

#[test]
fn check_rejects_each_broken_profile_in_profiles_d_with_its_position() {
    for case in CASES {
        let env = site_env(true);
        let file = env.profile(case.file, case.text);
        let before = env.tree_snapshot();
        let out = env.run(&["check", "--format", "json"]);
        assert_eq!(out.code, Some(2), "{}: {out:?}", case.file);
        assert_diagnostic(&out, &file, case);
        assert_eq!(out.stdout, "", "{}: nothing is evaluated", case.file);
        // apply refuses too, and changes nothing.
        let out = env.run(&["apply"]);
        assert_eq!(out.code, Some(2), "{}: {out:?}", case.file);
        assert_same_tree(&before, &env.tree_snapshot(), case.file);
        // And so does `validate` of the whole set.
        let out = env.run(&["validate"]);
        assert_eq!(out.code, Some(2), "{}: {out:?}", case.file);
        assert_diagnostic(&out, &file, case);
    }
}

/// Bug: with an unknown kind, the kind's own keys are never read, so each of them is also
/// reported as an "unknown key" (src/profile/parse.rs read_control): `path` is a valid key, and
/// the only problem is the kind.
#[test]
fn an_unknown_kind_is_the_only_error_reported() {
    let case = &CASES[2];
    assert_eq!(case.file, "unknown_kind.toml");
    let env = Env::new();
    let file = env.candidate(case.file, case.text);
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(2);
    let errors: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(": error: "))
        .collect();
    assert_eq!(errors.len(), case.errors, "{out:?}");
}

const UNDEFINED_WAIVER: &str = include_str!("fixtures/invalid/undefined_waiver.toml");
const WAIVER_REASON: &str = "waiver for control `nowhere-1`, which no loaded profile defines";

#[test]
fn a_waiver_for_an_undefined_control_is_an_error_in_the_loaded_set() {
    let env = Env::new();
    let file = env.profile("10-waivers", UNDEFINED_WAIVER);
    let want = format!("{}:12:11: error: {WAIVER_REASON}", file.display());
    for args in [&["check"][..], &["validate"][..]] {
        let out = env.run(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(
            out.stderr.lines().any(|l| l == want),
            "{args:?}: {want}: {out:?}"
        );
    }
}

#[test]
fn a_waiver_for_an_undefined_control_is_a_warning_for_validate_file() {
    let env = Env::new();
    let file = env.candidate("waivers.toml", UNDEFINED_WAIVER);
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(0);
    let want = format!("{}:12:11: warning: {WAIVER_REASON}", file.display());
    assert!(out.stderr.lines().any(|l| l == want), "{want}: {out:?}");
    assert!(!out.stderr.contains(": error: "), "{out:?}");
    assert_eq!(out.stdout, "1 file(s): valid\n");

    // When the set in force defines the control, there is nothing to warn about.
    env.profile(
        "10-defines",
        r#"
[profile]
name = "defines"

[[control]]
id = "nowhere-1"
title = "defined in the set in force"
kind = "file-mode"
path = "/etc/a"
mode = "0644"
"#,
    );
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(0);
    assert!(!out.stderr.contains("warning"), "{out:?}");
}

#[test]
fn a_valid_file_validates() {
    let env = Env::new();
    let file = env.candidate("site.toml", SITE_PROFILE);
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(0);
    assert_eq!(out.stdout, "1 file(s): valid\n");
    assert_eq!(out.stderr, "");
    env.profile("10-site", SITE_PROFILE);
    let out = env.run(&["validate"]);
    out.expect_code(0);
    assert_eq!(out.stdout, "1 profile file(s), 7 control(s): valid\n");
}

#[test]
fn a_group_writable_profile_in_profiles_d_is_refused() {
    let env = site_env(true);
    let file = env.profile("20-extra", "[profile]\nname = \"extra\"\n");
    chmod(&file, 0o664);
    let out = env.run(&["check"]);
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("{}:1:1: error: ", file.display())))
        .unwrap_or_else(|| panic!("no diagnostic for {}: {out:?}", file.display()));
    assert!(line.contains("writable by group"), "{line}");
    // validate FILE judges the candidate by the same rule.
    let out = env.run(&["validate", file.to_str().unwrap()]);
    out.expect_code(2);
    assert!(out.stderr.contains("writable by group"), "{out:?}");
}

#[test]
fn a_profile_owned_by_another_user_is_refused() {
    let env = site_env(true);
    let file = env.profile("20-extra", "[profile]\nname = \"extra\"\n");
    lchown(&file, 1000, 1000);
    let out = env.run(&["check"]);
    out.expect_code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.lines().any(
            |l| l.starts_with(&format!("{}:1:1: error: ", file.display()))
                && l.contains("owned by uid 1000")
        ),
        "{out:?}"
    );
}

#[test]
fn a_group_writable_profiles_directory_is_refused() {
    let env = site_env(true);
    chmod(&env.profiles, 0o775);
    let out = env.run(&["check"]);
    out.expect_code(2);
    assert!(out.stderr.contains("writable by group"), "{out:?}");
}

#[test]
fn a_group_writable_settings_file_is_refused() {
    let env = site_env(true);
    chmod(&env.config, 0o664);
    for args in [&["check"][..], &["apply"][..], &["validate"][..]] {
        let out = env.run(args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr.lines().any(|l| l
                .starts_with(&format!("{}:1:1: error: ", env.config.display()))
                && l.contains("writable by group")),
            "{args:?}: {out:?}"
        );
    }
}

#[test]
fn only_visible_toml_files_in_profiles_d_are_read() {
    let env = site_env(true);
    // Editor and config-management temp files, package leftovers, notes: never loaded.
    for name in [
        ".10-site.toml.swp",
        ".#20-extra.toml",
        "30-extra.toml.dpkg-old",
        "README",
    ] {
        let p = env.profiles.join(name);
        std::fs::write(&p, "this is [not TOML\n").unwrap();
        chmod(&p, 0o644);
    }
    let hidden = env.profiles.join(".99-hidden.toml");
    std::fs::write(&hidden, "this is [not TOML\n").unwrap();
    chmod(&hidden, 0o644);
    let report = env.check_json(1, &[]);
    assert_eq!(report["controls"].as_array().unwrap().len(), 7);
}

#[test]
fn a_typo_in_the_settings_is_rejected_with_its_position() {
    let env = site_env(true);
    env.write_config("builtin_profiles = []\nenforse = true\n");
    let out = env.run(&["check"]);
    out.expect_code(2);
    let want = format!(
        "{}:2:1: error: unknown key `enforse` in the settings (did you mean `enforce`?)",
        env.config.display()
    );
    assert!(out.stderr.lines().any(|l| l == want), "{want}: {out:?}");
    assert_eq!(out.stdout, "");
}
