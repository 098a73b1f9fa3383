//! `plan` shows exactly what `apply` would change, and `validate` refuses a `source` file that
//! check and run would only report as that control's error.

mod common;

use common::*;

const PROFILE: &str = r#"
[profile]
name = "p"

[[control]]
id = "p-enforced"
title = "a.conf at most 0644"
kind = "file-mode"
path = "/etc/app/a.conf"
mode = "0644"

[[control]]
id = "p-report"
title = "b.conf at most 0644"
kind = "file-mode"
path = "/etc/app/b.conf"
mode = "0644"
policy = "report"

[[control]]
id = "p-waived"
title = "c.conf at most 0644"
kind = "file-mode"
path = "/etc/app/c.conf"
mode = "0644"

[[waiver]]
control = "p-waived"
reason = "vendor agent, OPS-1"
expires = 2099-12-31
"#;

fn changes(report: &serde_json::Value, id: &str) -> usize {
    control(report, id)["changes"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn plan_lists_only_what_apply_would_change() {
    let env = Env::new();
    for f in ["a", "b", "c"] {
        env.file(&format!("/etc/app/{f}.conf"), b"x\n", 0o666);
    }
    env.profile("10-p", PROFILE);
    let plan = env.run(&["plan", "--format", "json"]).expect_code(1).json();
    assert_eq!(changes(&plan, "p-enforced"), 1, "{plan:#}");
    assert_eq!(changes(&plan, "p-report"), 0, "{plan:#}");
    assert_eq!(changes(&plan, "p-waived"), 0, "{plan:#}");
    // Named with --control, a report-policy control is planned (and applied).
    let plan = env
        .run(&["plan", "--format", "json", "--control", "p-report"])
        .expect_code(1)
        .json();
    assert_eq!(changes(&plan, "p-report"), 1, "{plan:#}");
    // And apply does exactly what the first plan said.
    env.run(&["apply"]).expect_code(1);
    assert_eq!(mode_of(&env.path("/etc/app/a.conf")), 0o644);
    assert_eq!(mode_of(&env.path("/etc/app/b.conf")), 0o666);
    assert_eq!(mode_of(&env.path("/etc/app/c.conf")), 0o666);
}

#[test]
fn a_missing_source_is_a_validate_error_but_only_that_controls_error_at_check() {
    let env = Env::new();
    env.file("/etc/app/a.conf", b"x\n", 0o644);
    let missing = env.base().join("no-such-source");
    env.profile(
        "10-s",
        &format!(
            "[profile]\nname = \"s\"\n\n[[control]]\nid = \"s-banner\"\ntitle = \"banner\"\nkind = \"file-content\"\npath = \"/etc/issue.net\"\nsource = \"{}\"\n\n[[control]]\nid = \"s-mode\"\ntitle = \"a.conf\"\nkind = \"file-mode\"\npath = \"/etc/app/a.conf\"\nmode = \"0644\"\n",
            missing.display()
        ),
    );
    let out = env.run(&["validate"]);
    out.expect_code(2);
    assert!(
        out.stderr
            .contains("10-s.toml:5:6: error: control `s-banner`: source"),
        "{out:?}"
    );
    let report = env.check_json(1, &[]);
    assert_eq!(field(&report, "s-banner", "status"), "error");
    assert_eq!(field(&report, "s-mode", "status"), "pass");
}
