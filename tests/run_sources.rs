//! `hardend run` follows what decides a control besides its target: a `file-content` control's
//! `source` file (a config-management tool updating it gets the new content deployed), and
//! docker.service with its drop-ins (a command-line option that now contradicts daemon.json
//! is a conflict as soon as the drop-in lands).

#[path = "common/daemon.rs"]
mod daemon;

use std::time::Duration;

use daemon::*;

#[test]
fn an_updated_source_is_deployed() {
    let h = Host::new(true, "");
    let sources = h.base.join("sources");
    mkdirs(&sources);
    let source = sources.join("banner");
    h.write_atomic(&source, b"first version\n", 0o644);
    h.file("/etc/issue.net", b"first version\n", 0o644);
    h.profile(
        "10-banner.toml",
        &format!(
            r#"
[profile]
name = "banner"
policy = "enforce"

[[control]]
id = "banner"
title = "the login banner comes from the shared source"
kind = "file-content"
path = "/etc/issue.net"
source = "{}"
mode = "0644"
"#,
            source.display()
        ),
    );
    let d = h.start();
    let target = h.path("/etc/issue.net");

    // A config-management tool replaces the source as it replaces any file: by rename.
    h.write_atomic(&source, b"second version\n", 0o644);
    wait_until("the new source content is deployed", || {
        is_regular_with(&target, b"second version\n")
    });
    let e = d.wait_event("a revert toward the new source", |e| {
        e.is("drift-reverted", "banner")
    });
    assert_eq!(
        e.get("expected"),
        Some(format!("{} root:root 0644", digest(b"second version\n")).as_str()),
        "{}",
        e.raw
    );

    // Rewritten in place this time (an editor without a rename): followed as well.
    std::fs::write(&source, b"third version\n").expect("rewrite source");
    wait_until("the rewritten source content is deployed", || {
        is_regular_with(&target, b"third version\n")
    });
}

const UNIT: &str = "[Unit]\nDescription=Docker Application Container Engine\n\n[Service]\nType=notify\nExecStart=/usr/sbin/dockerd -H fd://\n";

#[test]
fn a_docker_drop_in_that_sets_the_key_on_the_command_line_is_a_conflict() {
    let h = Host::new(true, "");
    h.file("/usr/sbin/dockerd", b"", 0o755);
    h.file(
        "/usr/lib/systemd/system/docker.service",
        UNIT.as_bytes(),
        0o644,
    );
    let daemon_json = "{\n  \"icc\": false\n}\n";
    let json = h.file("/etc/docker/daemon.json", daemon_json.as_bytes(), 0o644);
    h.profile(
        "10-docker.toml",
        r#"
[profile]
name = "docker"
policy = "enforce"

[[control]]
id = "icc"
title = "no inter-container traffic on the default bridge"
kind = "docker-daemon"
key = "icc"
value = false
"#,
    );
    let d = h.start();
    assert_eq!(d.count(|e| e.is("conflict", "icc")), 0, "{:?}", d.lines());

    // An admin's drop-in puts the option on dockerd's command line too: dockerd would refuse
    // to start with it in both places.
    let dropin = h.path("/etc/systemd/system/docker.service.d/override.conf");
    mkdirs(dropin.parent().expect("parent"));
    h.write_atomic(
        &dropin,
        b"[Service]\nExecStart=\nExecStart=/usr/sbin/dockerd -H fd:// --icc=false\n",
        0o644,
    );
    let e = d.wait_event("a conflict once the drop-in lands", |e| {
        e.is("conflict", "icc")
    });
    assert!(
        e.raw.contains("--icc") && e.raw.contains("override.conf"),
        "names the option and where it is set: {}",
        e.raw
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        std::fs::read_to_string(&json).expect("daemon.json"),
        daemon_json,
        "nothing written while in conflict"
    );

    // The drop-in goes away again: the conflict resolves without a restart.
    std::fs::remove_file(&dropin).expect("rm drop-in");
    d.wait_event("the conflict resolved", |e| {
        e.get("control") == Some("icc") && e.ty == "drift-resolved"
    });
}
