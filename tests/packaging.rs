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
