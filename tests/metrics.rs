//! The metrics file of `hardend run` (`metrics_file` in the settings): kept current for
//! node_exporter's textfile collector, counting what the journal reports, and accepted by
//! Prometheus' own linter (`promtool check metrics`, Debian's `prometheus` package).

#[path = "common/daemon.rs"]
mod daemon;

use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use daemon::*;

const PROFILE: &str = r#"
[profile]
name = "live"
policy = "enforce"

[[control]]
id = "app-mode"
title = "app.conf is root:root 0640 or stricter"
kind = "file-mode"
path = "/etc/app/app.conf"
owner = "root"
group = "root"
mode = "0640"

[[control]]
id = "cis-docker-2.2"
title = "Restrict traffic between containers on the default bridge"
kind = "docker-daemon"
key = "icc"
value = false
"#;

/// A host whose settings name a metrics file in a directory of its own (a host path, as
/// node_exporter's textfile directory is: not inside the root).
fn host(enforce: bool) -> (Host, PathBuf) {
    let probe = Host::new(enforce, "");
    let textfile = probe.base.join("textfile_collector");
    mkdirs(&textfile);
    let metrics = textfile.join("hardend.prom");
    probe.settings(&format!(
        "enforce = {enforce}\nbuiltin_profiles = []\nmetrics_file = \"{}\"\n",
        metrics.display()
    ));
    probe.file("/etc/app/app.conf", b"key = value\n", 0o640);
    probe.file("/usr/sbin/dockerd", b"\x7fELF", 0o755);
    probe.file("/etc/docker/daemon.json", b"{}\n", 0o644);
    probe.profile("10-live.toml", PROFILE);
    (probe, metrics)
}

/// The file's samples as `name{labels} value` lines (comments left out).
fn samples(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Waits until the file holds `line` exactly.
#[track_caller]
fn wait_sample(path: &Path, line: &str) {
    wait_for(
        std::time::Duration::from_secs(10),
        &format!("{line:?} in {}", path.display()),
        || samples(path).iter().any(|l| l == line).then_some(()),
    );
}

/// `promtool check metrics < FILE` must print nothing and exit 0: it parses the text format and
/// lints the names (units, `_total`, HELP text).
#[track_caller]
fn assert_promtool_accepts(path: &Path) {
    let text = std::fs::read(path).expect("metrics file");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's `prometheus` package; scripts/test installs it)");
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {:?}\n{}{}\nof:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&text)
    );
}

#[test]
fn promtool_rejects_a_broken_file() {
    // The check above can fail: a counter without `_total` and a bad line are refused.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.prom");
    std::fs::write(
        &bad,
        "# HELP hardend_reverts Reverts.\n# TYPE hardend_reverts counter\nhardend_reverts 1\n",
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&bad).unwrap())
        .output()
        .expect("promtool");
    assert!(
        !out.status.success() || !out.stdout.is_empty() || !out.stderr.is_empty(),
        "promtool accepted a counter without _total"
    );
}

#[test]
fn enforce_counts_reverts_latency_and_rejected_reloads() {
    let (h, metrics) = host(true);
    let mut d = h.start();
    // The first convergence wrote icc (a revert with no kernel event, so no latency); on an
    // offline root the live part is skipped and no dockerd waits for a restart.
    wait_sample(&metrics, "hardend_enforce 1");
    wait_sample(
        &metrics,
        "hardend_reverts_total{control=\"cis-docker-2.2\",kind=\"docker-daemon\"} 1",
    );
    wait_sample(&metrics, "hardend_pending_restarts{component=\"docker\"} 0");
    wait_sample(
        &metrics,
        "hardend_pending_restarts{component=\"kubelet\"} 0",
    );
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"live\",status=\"pass\"} 1",
    );
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"live\",status=\"skipped\"} 1",
    );
    assert!(
        samples(&metrics)
            .iter()
            .any(|l| l.starts_with("hardend_last_convergence_timestamp_seconds ")),
        "{:?}",
        samples(&metrics)
    );
    wait_sample(&metrics, "hardend_revert_latency_seconds_count 0");
    assert_promtool_accepts(&metrics);

    let app = h.path("/etc/app/app.conf");
    for n in 1..=2 {
        chmod(&app, 0o666);
        d.wait_event_after(n - 1, "a revert", |e| e.is("drift-reverted", "app-mode"));
        wait_until("the revert", || mode_of(&app) == Some(0o640));
    }
    wait_sample(
        &metrics,
        "hardend_reverts_total{control=\"app-mode\",kind=\"file-mode\"} 2",
    );
    wait_sample(
        &metrics,
        "hardend_drift_detected_total{control=\"app-mode\",kind=\"file-mode\"} 2",
    );
    wait_sample(&metrics, "hardend_revert_latency_seconds_count 2");
    wait_sample(
        &metrics,
        "hardend_revert_latency_seconds_bucket{le=\"+Inf\"} 2",
    );
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"live\",status=\"drift\"} 0",
    );
    assert_promtool_accepts(&metrics);
    // Replaced atomically: no temp file is left beside it.
    let names: Vec<String> = std::fs::read_dir(metrics.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["hardend.prom"]);

    // A rejected reload is counted; the counters survive a good reload.
    h.profile("20-bad.toml", "[profile\n");
    wait_sample(&metrics, "hardend_profile_rejections_total 1");
    std::fs::remove_file(h.profiles.join("20-bad.toml")).unwrap();
    d.wait_event_after(1, "the second load", |e| e.ty == "profile-loaded");
    wait_sample(
        &metrics,
        "hardend_reverts_total{control=\"app-mode\",kind=\"file-mode\"} 2",
    );
    assert!(d.terminate().success());
    assert_promtool_accepts(&metrics);
}

/// A daemon that starts from the last-known-good copy because the files on disk were rejected
/// says so in the metrics: the rejection is counted, and a gauge holds 1 until the files load.
#[test]
fn a_start_from_the_last_known_good_copy_is_counted_and_shown() {
    let (h, metrics) = host(true);
    let mut d = h.start();
    wait_sample(&metrics, "hardend_profiles_last_known_good 0");
    assert!(d.terminate().success());

    h.profile("10-live.toml", &PROFILE.replace("[[control]]", "[[control"));
    let mut d = h.start();
    d.wait_event("the load from the copy", |e| {
        e.ty == "profile-loaded" && e.message.contains("last-known-good")
    });
    wait_sample(&metrics, "hardend_profiles_last_known_good 1");
    wait_sample(&metrics, "hardend_profile_rejections_total 1");
    assert_promtool_accepts(&metrics);

    h.profile("10-live.toml", PROFILE);
    wait_sample(&metrics, "hardend_profiles_last_known_good 0");
    wait_sample(&metrics, "hardend_profile_rejections_total 1");
    assert!(d.terminate().success());
    assert_promtool_accepts(&metrics);
}

#[test]
fn report_counts_drift_and_status() {
    let (h, metrics) = host(false);
    let _d = h.start();
    wait_sample(&metrics, "hardend_enforce 0");
    // Report only: daemon.json is not written, so icc shows as drift from the start.
    wait_sample(
        &metrics,
        "hardend_drift_detected_total{control=\"cis-docker-2.2\",kind=\"docker-daemon\"} 1",
    );
    let app = h.path("/etc/app/app.conf");
    chmod(&app, 0o664);
    wait_sample(
        &metrics,
        "hardend_drift_detected_total{control=\"app-mode\",kind=\"file-mode\"} 1",
    );
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"live\",status=\"drift\"} 2",
    );
    assert!(
        !samples(&metrics)
            .iter()
            .any(|l| l.starts_with("hardend_reverts_total{")),
        "{:?}",
        samples(&metrics)
    );
    assert_eq!(mode_of(&app), Some(0o664), "report mode changed the file");
    // Put back by someone else: the gauge follows, the counter stays.
    chmod(&app, 0o640);
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"live\",status=\"drift\"} 1",
    );
    wait_sample(
        &metrics,
        "hardend_drift_detected_total{control=\"app-mode\",kind=\"file-mode\"} 1",
    );
    assert_promtool_accepts(&metrics);
    // Idle: nothing changes, so the file is not replaced (same inode) and nothing wakes up.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let inode = std::fs::metadata(&metrics).unwrap().ino();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(std::fs::metadata(&metrics).unwrap().ino(), inode);
}

#[test]
fn without_the_setting_no_file_is_written() {
    let h = Host::new(true, "");
    h.file("/etc/app/app.conf", b"key = value\n", 0o640);
    h.profile("10-live.toml", PROFILE);
    let d = h.start();
    chmod(&h.path("/etc/app/app.conf"), 0o666);
    d.wait_event("a revert", |e| e.is("drift-reverted", "app-mode"));
    let prom: Vec<PathBuf> = walk(&h.base)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "prom"))
        .collect();
    assert!(prom.is_empty(), "{prom:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The counters agree with the journal: every `drift-reverted` event is one revert and one
/// latency observation, a fight is counted once, and a conflict once per distinct state.
#[test]
fn counters_agree_with_the_journal_through_a_fight_and_a_conflict() {
    let (h, metrics) = host(true);
    h.settings(&format!(
        "enforce = true\nbuiltin_profiles = []\nfight_limit = 3\nfight_window = \"10s\"\nmetrics_file = \"{}\"\n",
        metrics.display()
    ));
    // dockerd started with `-H fd://` refuses a `hosts` key in daemon.json: a conflict.
    h.file(
        "/usr/lib/systemd/system/docker.service",
        b"[Service]\nExecStart=/usr/sbin/dockerd -H fd://\n",
        0o644,
    );
    h.profile(
        "20-hosts.toml",
        r#"
[profile]
name = "docker-site"
policy = "enforce"

[[control]]
id = "docker-hosts"
title = "dockerd listens on its socket only"
kind = "docker-daemon"
key = "hosts"
value = ["unix:///run/docker.sock"]
"#,
    );
    let d = h.start();
    wait_sample(
        &metrics,
        "hardend_conflicts_total{control=\"docker-hosts\",kind=\"docker-daemon\"} 1",
    );
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"docker-site\",status=\"conflict\"} 1",
    );

    // Another writer keeps undoing the revert until hardend backs off.
    let app = h.path("/etc/app/app.conf");
    wait_for(std::time::Duration::from_secs(20), "a fight", || {
        chmod(&app, 0o666);
        std::thread::sleep(std::time::Duration::from_millis(5));
        (d.count(|e| e.is("fight", "app-mode")) > 0).then_some(())
    });
    wait_sample(&metrics, "hardend_fights_total{control=\"app-mode\"} 1");
    // The back-off ends, the last drift is reverted; then the file settles.
    wait_until("app.conf reverted after the back-off", || {
        mode_of(&app) == Some(0o640)
    });
    std::thread::sleep(std::time::Duration::from_millis(600));
    let reverts = d.count(|e| e.is("drift-reverted", "app-mode"));
    assert!(reverts >= 3, "{reverts} reverts");
    wait_sample(
        &metrics,
        &format!("hardend_reverts_total{{control=\"app-mode\",kind=\"file-mode\"}} {reverts}"),
    );
    let with_latency = d
        .events()
        .iter()
        .filter(|e| e.ty == "drift-reverted" && e.get("latency_us").is_some())
        .count();
    wait_sample(
        &metrics,
        &format!("hardend_revert_latency_seconds_count {with_latency}"),
    );
    assert_eq!(
        d.count(|e| e.is("conflict", "docker-hosts")),
        1,
        "one conflict event"
    );
    assert_promtool_accepts(&metrics);
}

/// A burst of drift on many controls: every revert is counted, but the file is replaced only a
/// few times (coalesced with the status file, at most every 250 ms), not once per event.
#[test]
fn a_drift_storm_is_coalesced_into_few_writes() {
    const N: usize = 60;
    let (h, metrics) = host(true);
    let mut profile = String::from("[profile]\nname = \"storm\"\npolicy = \"enforce\"\n");
    for i in 0..N {
        h.file(&format!("/etc/storm/{i}.conf"), b"x\n", 0o640);
        profile.push_str(&format!(
            "\n[[control]]\nid = \"storm-{i}\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/storm/{i}.conf\"\nmode = \"0640\"\n"
        ));
    }
    h.profile("30-storm.toml", &profile);
    let d = h.start();
    wait_sample(
        &metrics,
        "hardend_controls{profile=\"storm\",status=\"pass\"} 60",
    );
    std::thread::sleep(std::time::Duration::from_millis(400));

    // Count the renames onto the metrics file from here on.
    let mut inotify = inotify::Inotify::init().unwrap();
    inotify
        .watches()
        .add(metrics.parent().unwrap(), inotify::WatchMask::MOVED_TO)
        .unwrap();
    let start = std::time::Instant::now();
    for i in 0..N {
        chmod(&h.path(&format!("/etc/storm/{i}.conf")), 0o666);
    }
    wait_until("every storm file reverted", || {
        (0..N).all(|i| mode_of(&h.path(&format!("/etc/storm/{i}.conf"))) == Some(0o640))
    });
    let reverts = |d: &Daemon| {
        d.count(|e| {
            e.ty == "drift-reverted" && e.get("control").is_some_and(|c| c.starts_with("storm-"))
        })
    };
    wait_until("every revert reported", || reverts(&d) == N);
    let total: u64 = wait_for(std::time::Duration::from_secs(10), "the counters", || {
        let sum: u64 = samples(&metrics)
            .iter()
            .filter(|l| l.starts_with("hardend_reverts_total{control=\"storm-"))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        (sum == N as u64).then_some(sum)
    });
    let elapsed = start.elapsed();
    assert_eq!(total, N as u64);
    let mut buffer = [0u8; 4096];
    let mut renames = 0;
    // Non-blocking reads until the queue is empty (WouldBlock).
    while let Ok(events) = inotify.read_events(&mut buffer) {
        let mut any = false;
        for e in events {
            any = true;
            renames += usize::from(e.name.is_some_and(|n| n == "hardend.prom"));
        }
        if !any {
            break;
        }
    }
    let bound = elapsed.as_millis() as usize / 250 + 2;
    eprintln!("storm: {renames} writes for {N} reverts in {elapsed:?}");
    assert!(
        (1..=bound).contains(&renames),
        "{renames} writes of the metrics file for {N} reverts in {elapsed:?} (at most {bound})"
    );
}

/// A metrics directory that does not exist: one warning, the daemon goes on, and the file
/// appears once the directory does.
#[test]
fn a_missing_directory_is_warned_about_once() {
    let (h, metrics) = host(true);
    std::fs::remove_dir(metrics.parent().unwrap()).unwrap();
    let d = h.start();
    let app = h.path("/etc/app/app.conf");
    for n in 0..3 {
        chmod(&app, 0o666);
        d.wait_event_after(n, "a revert", |e| e.is("drift-reverted", "app-mode"));
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let warnings = d
        .lines()
        .iter()
        .filter(|l| l.contains("cannot write the metrics file"))
        .count();
    assert_eq!(warnings, 1, "{:#?}", d.lines());
    mkdirs(metrics.parent().unwrap());
    chmod(&app, 0o666);
    wait_sample(
        &metrics,
        "hardend_reverts_total{control=\"app-mode\",kind=\"file-mode\"} 4",
    );
}
