//! `hardend generate-docs DIR`, the hidden command the package build runs: a man page for the
//! daemon and one per subcommand, and bash, zsh and fish completions, all from the clap
//! definitions; the command itself stays out of `--help`, the pages and the completions.

mod common;

use std::ffi::OsStr;

use common::*;

const SUBCOMMANDS: [&str; 7] = [
    "check", "plan", "apply", "rollback", "validate", "run", "status",
];

#[test]
fn writes_man_pages_and_completions_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    run_raw(&[OsStr::new("generate-docs"), dir.path().as_os_str()], &[]).expect_code(0);
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };

    let main = read("man/hardend.8");
    assert!(main.contains(".TH hardend 8"), "section 8 title: {main}");
    for section in ["EXIT STATUS", "SIGNALS", "FILES", "JOURNAL", "SEE ALSO"] {
        assert!(main.contains(section), "hardend.8 lacks {section}");
    }
    assert!(main.contains("/etc/hardend/hardend.toml"));
    for sub in SUBCOMMANDS {
        let page = read(&format!("man/hardend-{sub}.8"));
        assert!(
            page.contains(&format!(".TH hardend-{sub} 8")),
            "hardend-{sub}.8: {page}"
        );
        assert!(
            main.contains(&format!("hardend\\-{sub}")),
            "hardend.8 does not list {sub}"
        );
    }
    assert!(read("man/hardend-check.8").contains("\\-\\-control"));

    let names: Vec<String> = std::fs::read_dir(dir.path().join("man"))
        .expect("man dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), SUBCOMMANDS.len() + 1, "pages: {names:?}");

    for (file, marker) in [
        ("completions/hardend.bash", "complete -F"),
        ("completions/_hardend", "#compdef hardend"),
        ("completions/hardend.fish", "complete -c hardend"),
    ] {
        let script = read(file);
        assert!(script.contains(marker), "{file}: {script}");
        assert!(script.contains("validate"), "{file} lacks the subcommands");
        assert!(
            !script.contains("generate-docs"),
            "{file} offers the hidden command"
        );
    }
    assert!(
        !main.contains("generate"),
        "hardend.8 mentions the hidden command"
    );

    let help = run_raw(&["--help"], &[]);
    assert!(!help.stdout.contains("generate-docs"), "{help:?}");
}

#[test]
fn an_unwritable_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").expect("write");
    let out = run_raw(&[OsStr::new("generate-docs"), file.as_os_str()], &[]);
    out.expect_code(2);
    assert!(out.stderr.contains("not-a-dir"), "{out:?}");
}
