//! Several controls share one file (daemon.json keys): `hardend run` must end with every
//! managed key written and every unmanaged key kept, at start and after tampering, never
//! writing one control's fix over another's.

#[path = "common/daemon.rs"]
mod daemon;

use daemon::*;

const KEYS: [(&str, &str); 5] = [
    ("live-restore", "true"),
    ("log-level", "\"info\""),
    ("userland-proxy", "false"),
    ("no-new-privileges", "true"),
    ("experimental", "false"),
];

fn profile() -> String {
    let mut p = String::from("[profile]\nname = \"shared\"\n");
    for (key, value) in KEYS {
        p.push_str(&format!(
            "\n[[control]]\nid = \"dd-{key}\"\ntitle = \"{key}\"\nkind = \"docker-daemon\"\nkey = \"{key}\"\nvalue = {value}\n"
        ));
    }
    p
}

fn has_every_key(path: &std::path::Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return false;
    };
    doc["site-label"] == "kept"
        && KEYS.iter().all(|(k, v)| {
            doc.get(*k) == Some(&serde_json::from_str::<serde_json::Value>(v).unwrap())
        })
}

#[test]
fn run_writes_every_key_of_a_shared_file_and_keeps_the_others() {
    let h = Host::new(true, "");
    h.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    let json = h.file(
        "/etc/docker/daemon.json",
        br#"{"site-label": "kept", "live-restore": false}"#,
        0o644,
    );
    h.profile("10-shared.toml", &profile());
    let _d = h.start();
    wait_until("every managed key written at start", || {
        has_every_key(&json)
    });
    // An editor replaces the file with one that lacks most managed keys.
    h.write_atomic(
        &json,
        br#"{"site-label": "kept", "log-level": "debug"}"#,
        0o644,
    );
    wait_until("every managed key written again", || has_every_key(&json));
}
