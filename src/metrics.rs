//! The Prometheus metrics file: `hardend run` keeps the file named by the `metrics_file`
//! setting current in the text exposition format, for node_exporter's textfile collector.
//!
//! Counters count the journal events of their type, so the metrics and the audit trail agree:
//! `hardend_drift_detected_total` every drift seen (reverted, failed to revert, or reported:
//! report-only handling reports each distinct drifted state once, as the journal does),
//! `hardend_reverts_total`, `hardend_revert_failures_total`, `hardend_fights_total`,
//! `hardend_conflicts_total`, `hardend_profile_rejections_total` (rejected loads, at start or
//! reload), and the
//! `hardend_revert_latency_seconds` histogram of the journal's `HARDEND_LATENCY_US`. Gauges
//! describe the state at the last write: controls by status and profile, pending restarts by
//! component, the last convergence time, and whether the profiles in force are the
//! last-known-good copy (`hardend_profiles_last_known_good`).
//!
//! # Invariants
//! - The file is replaced atomically (temp file, fsync, rename, fsync of the directory), so the
//!   collector never reads half a file; the temp name does not end in `.prom`, so the collector
//!   skips it.
//! - The daemon writes it together with its status file: at most every 250 ms while events
//!   keep coming, at convergence, reload and shutdown, never while nothing changes; identical
//!   content is not written again.
//! - Counters live as long as the process: a reload keeps them (Prometheus sees a reset only
//!   when hardend restarts).
//!
//! # Known limits
//! - Per-control counters have one series per control that ever drifted, not per managed file.
//! - After hardend stops the file stays with its last values; node_exporter's
//!   `node_textfile_mtime_seconds` tells how old it is.
//! - The file's directory is not created: it belongs to node_exporter.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::engine::Status;
use crate::fs::write_state_file;
use crate::journal::{Action, Event, EventType};
use crate::profile::ProfileSet;

/// Upper bounds of the revert-latency buckets in µs, and the same in seconds as written.
/// From 100 µs (a revert by fchmod) to 1 s (a content revert on a slow disk).
const LATENCY_BUCKETS: [(u64, &str); 13] = [
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
];

/// A per-control counter: control → (its kind, count). A control has one kind, so the lookup
/// on every event needs no allocation.
type ByControl = HashMap<String, (&'static str, u64)>;

#[derive(Debug, Default)]
struct Histogram {
    /// Observations at or below each bound of [`LATENCY_BUCKETS`] (not cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum_us: u64,
}

impl Histogram {
    fn observe(&mut self, us: u64) {
        if let Some(i) = LATENCY_BUCKETS.iter().position(|(le, _)| us <= *le) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum_us = self.sum_us.saturating_add(us);
    }
}

/// The counters, and what was last written (to skip identical writes).
#[derive(Debug, Default)]
pub struct Metrics {
    drift_detected: ByControl,
    reverts: ByControl,
    revert_failures: ByControl,
    fights: ByControl,
    conflicts: ByControl,
    profile_rejections: u64,
    latency: Histogram,
    written: Option<(PathBuf, String)>,
    last_error: Option<String>,
}

/// The daemon's state at the time of a write: the gauges.
#[derive(Debug, Default)]
pub struct Gauges<'a> {
    /// `(profile, status)` → number of controls; every status is written for every profile.
    controls: BTreeMap<(&'a str, &'static str), usize>,
    /// Component → controls written but waiting for that component's restart.
    pending_restarts: BTreeMap<&'static str, usize>,
    /// Unix time of the last full convergence (start, reload), if any.
    last_convergence: Option<f64>,
    enforce: bool,
    /// The profiles in force are the last-known-good copy: the files were rejected at start.
    last_known_good: bool,
}

impl<'a> Gauges<'a> {
    /// Gathers the gauges from the set in force, each control's last status (by index), the
    /// indexes of controls pending a restart, the last convergence time (RFC 3339), and whether
    /// the set is the last-known-good copy.
    pub fn of(
        set: &'a ProfileSet,
        statuses: &[Option<Status>],
        pending_restart: impl IntoIterator<Item = usize>,
        last_convergence: &str,
        enforce: bool,
        last_known_good: bool,
    ) -> Gauges<'a> {
        let mut controls = BTreeMap::new();
        let profiles: BTreeSet<&str> = set.controls.iter().map(|c| c.profile.as_str()).collect();
        for profile in profiles {
            for status in Status::ALL {
                controls.insert((profile, status.name()), 0);
            }
        }
        for (control, status) in set.controls.iter().zip(statuses) {
            if let Some(status) = status {
                *controls
                    .entry((control.profile.as_str(), status.name()))
                    .or_default() += 1;
            }
        }
        let mut pending_restarts = BTreeMap::new();
        for i in pending_restart {
            if let Some(control) = set.controls.get(i) {
                *pending_restarts
                    .entry(component_of(control.spec.name()))
                    .or_default() += 1;
            }
        }
        let last_convergence = time::OffsetDateTime::parse(
            last_convergence,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
        .map(|t| t.unix_timestamp_nanos() as f64 / 1e9);
        Gauges {
            controls,
            pending_restarts,
            last_convergence,
            enforce,
            last_known_good,
        }
    }
}

/// The component whose restart a kind's pending change waits for.
fn component_of(kind: &'static str) -> &'static str {
    match kind {
        "docker-daemon" => "docker",
        "kubelet-config" => "kubelet",
        other => other,
    }
}

fn bump(map: &mut ByControl, control: &str, kind: &'static str) {
    match map.get_mut(control) {
        Some((k, n)) => {
            // A reload may give the id another kind: the series follows the newest.
            *k = kind;
            *n += 1;
        }
        None => {
            map.insert(control.to_string(), (kind, 1));
        }
    }
}

impl Metrics {
    /// Counts a journal event that was just emitted.
    pub fn note(&mut self, e: &Event) {
        let Some(control) = e.control.as_deref() else {
            return;
        };
        let kind = e.control_kind.unwrap_or("");
        match (e.kind, e.action) {
            (EventType::DriftDetected, _) => bump(&mut self.drift_detected, control, kind),
            (EventType::DriftReverted, _) => {
                bump(&mut self.drift_detected, control, kind);
                bump(&mut self.reverts, control, kind);
                if let Some(us) = e.latency_us {
                    self.latency.observe(us);
                }
            }
            // An error found while only observing is reported under the same event type; only
            // a revert that was tried and failed counts here.
            (EventType::RevertFailed, Some(Action::Failed)) => {
                bump(&mut self.drift_detected, control, kind);
                bump(&mut self.revert_failures, control, kind);
            }
            (EventType::Fight, _) => bump(&mut self.fights, control, kind),
            (EventType::Conflict, _) => bump(&mut self.conflicts, control, kind),
            _ => {}
        }
    }

    /// Counts a rejected load of the profiles or settings: at start (the daemon then runs from
    /// the last-known-good copy) or at a reload (the last good set stays).
    pub fn note_rejection(&mut self) {
        self.profile_rejections += 1;
    }

    /// Writes the file at `path` when its content changed; a failure is logged (once per
    /// distinct error) and the daemon goes on.
    pub fn write(&mut self, path: &Path, gauges: &Gauges) {
        let text = self.render(gauges);
        if self
            .written
            .as_ref()
            .is_some_and(|(p, t)| p == path && *t == text)
        {
            return;
        }
        match write_state_file(path, text.as_bytes(), 0o644) {
            Ok(()) => {
                self.written = Some((path.to_path_buf(), text));
                self.last_error = None;
            }
            Err(e) => {
                let message = e.to_string();
                if self.last_error.as_ref() != Some(&message) {
                    tracing::warn!("cannot write the metrics file: {message}");
                    self.last_error = Some(message);
                }
            }
        }
    }

    /// The whole file in the Prometheus text format (version 0.0.4).
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "hardend_build_info",
            "gauge",
            "Always 1; the version of the running hardend as a label.",
        );
        sample(
            &mut out,
            "hardend_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        family(
            &mut out,
            "hardend_enforce",
            "gauge",
            "1 when `run` reverts drift of enforce-policy controls (enforce = true), 0 when it only reports.",
        );
        sample(&mut out, "hardend_enforce", &[], u64::from(g.enforce));
        family(
            &mut out,
            "hardend_profiles_last_known_good",
            "gauge",
            "1 while the profiles in force are the last-known-good copy because the files on disk were rejected at start, 0 when they are the files on disk.",
        );
        sample(
            &mut out,
            "hardend_profiles_last_known_good",
            &[],
            u64::from(g.last_known_good),
        );
        family(
            &mut out,
            "hardend_controls",
            "gauge",
            "Controls in force by their last status and the profile they come from.",
        );
        for ((profile, status), n) in &g.controls {
            sample(
                &mut out,
                "hardend_controls",
                &[("profile", profile), ("status", status)],
                *n as u64,
            );
        }
        family(
            &mut out,
            "hardend_pending_restarts",
            "gauge",
            "Controls written but read by their component only at start: they apply at its next restart.",
        );
        for component in ["docker", "kubelet"] {
            let n = g.pending_restarts.get(component).copied().unwrap_or(0);
            sample(
                &mut out,
                "hardend_pending_restarts",
                &[("component", component)],
                n as u64,
            );
        }
        for (component, n) in &g.pending_restarts {
            if !matches!(*component, "docker" | "kubelet") {
                sample(
                    &mut out,
                    "hardend_pending_restarts",
                    &[("component", component)],
                    *n as u64,
                );
            }
        }
        family(
            &mut out,
            "hardend_last_convergence_timestamp_seconds",
            "gauge",
            "Unix time at which the last full convergence (start or reload) finished.",
        );
        if let Some(t) = g.last_convergence {
            let _ = writeln!(out, "hardend_last_convergence_timestamp_seconds {t:.3}");
        }
        counter_by_control(
            &mut out,
            "hardend_drift_detected_total",
            "Drift seen per control: reverted, failed to revert, or reported (each distinct drifted state once).",
            &self.drift_detected,
            true,
        );
        counter_by_control(
            &mut out,
            "hardend_reverts_total",
            "Drift reverted per control.",
            &self.reverts,
            true,
        );
        counter_by_control(
            &mut out,
            "hardend_revert_failures_total",
            "Reverts tried that failed, per control.",
            &self.revert_failures,
            false,
        );
        counter_by_control(
            &mut out,
            "hardend_fights_total",
            "Fights per control: another writer kept undoing reverts and hardend backed off.",
            &self.fights,
            false,
        );
        counter_by_control(
            &mut out,
            "hardend_conflicts_total",
            "Conflicts reported per control: the component or a later file contradicts the control, so hardend does not write.",
            &self.conflicts,
            true,
        );
        family(
            &mut out,
            "hardend_profile_rejections_total",
            "counter",
            "Loads of the profiles or settings that were rejected: at start (hardend then runs from the last-known-good copy) or at a reload (the last good set stays in force).",
        );
        sample(
            &mut out,
            "hardend_profile_rejections_total",
            &[],
            self.profile_rejections,
        );
        self.render_latency(&mut out);
        out
    }

    fn render_latency(&self, out: &mut String) {
        let name = "hardend_revert_latency_seconds";
        family(
            out,
            name,
            "histogram",
            "From reading the kernel's event to the completed revert (the journal's HARDEND_LATENCY_US).",
        );
        let mut cumulative = 0;
        for ((_, le), n) in LATENCY_BUCKETS.iter().zip(self.latency.buckets) {
            cumulative += n;
            sample(out, &format!("{name}_bucket"), &[("le", le)], cumulative);
        }
        sample(
            out,
            &format!("{name}_bucket"),
            &[("le", "+Inf")],
            self.latency.count,
        );
        let _ = writeln!(out, "{name}_sum {}", self.latency.sum_us as f64 / 1e6);
        sample(out, &format!("{name}_count"), &[], self.latency.count);
    }
}

/// `# HELP` and `# TYPE` lines of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label(value));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A counter family with one series per control (and kind), sorted for a stable file.
fn counter_by_control(out: &mut String, name: &str, help: &str, map: &ByControl, kind: bool) {
    family(out, name, "counter", help);
    let mut rows: Vec<(&String, &(&str, u64))> = map.iter().collect();
    rows.sort();
    for (control, (control_kind, n)) in rows {
        if kind {
            sample(
                out,
                name,
                &[("control", control), ("kind", control_kind)],
                *n,
            );
        } else {
            sample(out, name, &[("control", control)], *n);
        }
    }
}

/// A label value: backslash, double quote and line feed are escaped (text format 0.0.4).
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed are escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, control: &str, action: Option<Action>, us: Option<u64>) -> Event {
        let mut e = Event::new(kind, "m");
        e.control = Some(control.to_string());
        e.control_kind = Some("file-mode");
        e.action = action;
        e.latency_us = us;
        e
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("two\nlines"), r"two\nlines");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        let mut out = String::new();
        sample(&mut out, "m", &[("control", "x\"y"), ("kind", "k")], 3);
        assert_eq!(out, "m{control=\"x\\\"y\",kind=\"k\"} 3\n");
    }

    #[test]
    fn counters_follow_the_events_and_the_histogram_is_cumulative() {
        let mut m = Metrics::default();
        m.note(&event(
            EventType::DriftReverted,
            "a",
            Some(Action::Reverted),
            Some(80),
        ));
        m.note(&event(
            EventType::DriftReverted,
            "a",
            Some(Action::Reverted),
            Some(3_000),
        ));
        m.note(&event(
            EventType::DriftReverted,
            "a",
            Some(Action::Reverted),
            Some(5_000_000),
        ));
        m.note(&event(
            EventType::DriftDetected,
            "b",
            Some(Action::Reported),
            None,
        ));
        // An error found while observing is not a failed revert.
        m.note(&event(
            EventType::RevertFailed,
            "c",
            Some(Action::Reported),
            None,
        ));
        m.note(&event(
            EventType::RevertFailed,
            "d",
            Some(Action::Failed),
            None,
        ));
        m.note(&event(EventType::Fight, "a", Some(Action::Skipped), None));
        m.note_rejection();
        let text = m.render(&Gauges::default());
        for line in [
            "hardend_drift_detected_total{control=\"a\",kind=\"file-mode\"} 3",
            "hardend_drift_detected_total{control=\"b\",kind=\"file-mode\"} 1",
            "hardend_drift_detected_total{control=\"d\",kind=\"file-mode\"} 1",
            "hardend_reverts_total{control=\"a\",kind=\"file-mode\"} 3",
            "hardend_revert_failures_total{control=\"d\"} 1",
            "hardend_fights_total{control=\"a\"} 1",
            "hardend_profile_rejections_total 1",
            "hardend_revert_latency_seconds_bucket{le=\"0.0001\"} 1",
            "hardend_revert_latency_seconds_bucket{le=\"0.0025\"} 1",
            "hardend_revert_latency_seconds_bucket{le=\"0.005\"} 2",
            "hardend_revert_latency_seconds_bucket{le=\"1\"} 2",
            "hardend_revert_latency_seconds_bucket{le=\"+Inf\"} 3",
            "hardend_revert_latency_seconds_sum 5.00308",
            "hardend_revert_latency_seconds_count 3",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(!text.contains("control=\"c\""), "{text}");
        // Every family has HELP and TYPE lines, and every sample belongs to a declared family.
        let declared: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                declared.iter().any(|f| name == *f
                    || name
                        .strip_prefix(f)
                        .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))),
                "{l}"
            );
        }
    }

    #[test]
    fn gauges_count_statuses_per_profile_and_pending_restarts() {
        let mut d = crate::diag::Diagnostics::default();
        let file = crate::profile::parse_file(
            Path::new("p.toml"),
            "[profile]\nname = \"p\"\n\n[[control]]\nid = \"a\"\ntitle = \"t\"\nkind = \"docker-daemon\"\nkey = \"icc\"\nvalue = false\n\n[[control]]\nid = \"b\"\ntitle = \"t\"\nkind = \"file-mode\"\npath = \"/etc/x\"\nmode = \"0644\"\n",
            &mut d,
        )
        .expect("profile parses");
        let mut set = ProfileSet::default();
        set.merge(file);
        let g = Gauges::of(
            &set,
            &[Some(Status::Fixed), None],
            [0],
            "2026-11-23T12:00:00.5Z",
            true,
            true,
        );
        let text = Metrics::default().render(&g);
        for line in [
            "hardend_enforce 1",
            "hardend_profiles_last_known_good 1",
            "hardend_controls{profile=\"p\",status=\"fixed\"} 1",
            "hardend_controls{profile=\"p\",status=\"pass\"} 0",
            "hardend_pending_restarts{component=\"docker\"} 1",
            "hardend_pending_restarts{component=\"kubelet\"} 0",
            "hardend_last_convergence_timestamp_seconds 1795435200.500",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }
}
