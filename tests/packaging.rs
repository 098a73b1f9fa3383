//! The settings file the packages install as /etc/hardend/hardend.toml: it is accepted as it
//! ships, and it ships in report mode, so that installing never changes a host.

mod common;

use std::path::Path;

use common::*;

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/hardend.toml");

#[test]
fn the_shipped_settings_load_with_every_builtin_profile() {
    let empty = tempfile::tempdir().expect("tempdir");
    let out = run_raw(
        &[
            "--config",
            SHIPPED,
            "--profiles",
            empty.path().to_str().expect("utf-8 path"),
            "validate",
        ],
        &[],
    );
    out.expect_code(0);
    assert!(out.stdout.contains("valid"), "{out:?}");
}

#[test]
fn the_shipped_settings_only_report() {
    let text = std::fs::read_to_string(Path::new(SHIPPED)).expect("read packaging/hardend.toml");
    let enforce: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("enforce"))
        .collect();
    assert_eq!(enforce, ["enforce = false"], "{text}");
}

/// Every example the shipped file gives in a comment (`#key = value`) is a valid setting: an
/// administrator who uncomments one gets what the comment says, not a rejected file.
#[test]
fn the_shipped_examples_are_valid_settings() {
    let text = std::fs::read_to_string(Path::new(SHIPPED)).expect("read packaging/hardend.toml");
    let examples: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| {
            l.split_once(" = ").is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        })
        .collect();
    assert!(examples.len() >= 6, "{examples:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    chmod(dir.path(), 0o755);
    let config = dir.path().join("hardend.toml");
    // The metrics file's directory need not exist for the settings to load.
    std::fs::write(
        &config,
        format!("enforce = false\n{}\n", examples.join("\n")),
    )
    .expect("write");
    chmod(&config, 0o644);
    let profiles = dir.path().join("profiles.d");
    std::fs::create_dir(&profiles).expect("mkdir");
    chmod(&profiles, 0o755);
    let out = run_raw(
        &[
            "--config",
            config.to_str().expect("utf-8 path"),
            "--profiles",
            profiles.to_str().expect("utf-8 path"),
            "validate",
        ],
        &[],
    );
    out.expect_code(0);
}
