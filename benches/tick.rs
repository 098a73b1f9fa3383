//! The cost of one poll-timer tick of `hardend run` with 100 managed sysctls and 50 managed
//! audit rules: what the tick asks of each passing polled control (`live_matches`: read the
//! managed /proc/sys keys, and the live audit rule list once), timed in-process against the
//! real kernel. Prints median and p99, and the CPU share that implies at a 1-second interval.
//!
//! The sysctls are the first 100 readable keys under /proc/sys/net/ipv4 with their current
//! values (nothing is written). The audit rules are watches on files in a temp directory with
//! a unique key; they are loaded for the run and always deleted again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hardend::audit::live;
use hardend::engine::Engine;
use hardend::fs::{Root, TrustPolicy};
use hardend::profile::{self, ProfileSources};

const SYSCTLS: usize = 100;
const RULES: usize = 50;

fn sysctl_keys() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/proc/sys/net/ipv4")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries.into_iter().rev() {
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(v) = std::fs::read_to_string(&p) {
                let v = v.split_whitespace().collect::<Vec<_>>().join(" ");
                if v.is_empty() || v.contains('"') {
                    continue;
                }
                let key = p
                    .strip_prefix("/proc/sys")
                    .expect("under /proc/sys")
                    .iter()
                    .map(|c| c.to_string_lossy().replace('.', "/"))
                    .collect::<Vec<_>>()
                    .join(".");
                out.push((key, v));
            }
        }
    }
    out.truncate(SYSCTLS);
    out
}

/// Deletes the bench's audit rules however the bench ends.
struct RulesGuard(String);

impl Drop for RulesGuard {
    fn drop(&mut self) {
        live::delete_by_key(&self.0);
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let ticks: usize = std::env::var("BENCH_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().expect("temp dir");
    let watched = dir.path().join("watched");
    std::fs::create_dir(&watched).expect("mkdir");
    let profiles = dir.path().join("profiles.d");
    std::fs::create_dir(&profiles).expect("mkdir");
    let key = format!("hardend-tick-bench-{}", std::process::id());
    let _guard = RulesGuard(key.clone());

    let mut text = String::from("[profile]\nname = \"tick\"\n");
    let keys = sysctl_keys();
    for (i, (k, v)) in keys.iter().enumerate() {
        text.push_str(&format!(
            "\n[[control]]\nid = \"s{i}\"\ntitle = \"s{i}\"\nkind = \"sysctl\"\nkey = \"{k}\"\nvalue = \"{v}\"\n"
        ));
    }
    for i in 0..RULES {
        let file = watched.join(format!("f{i}"));
        std::fs::write(&file, b"x").expect("write watched file");
        let rule = format!("-w {} -p wa -k {key}", file.display());
        if let Err(e) = live::load(&rule) {
            eprintln!("cannot load audit rule ({e}); is this root with auditctl installed?");
            std::process::exit(1);
        }
        text.push_str(&format!(
            "\n[[control]]\nid = \"a{i}\"\ntitle = \"a{i}\"\nkind = \"audit-rule\"\nrule = \"{rule}\"\n"
        ));
    }
    let file = profiles.join("tick.toml");
    std::fs::write(&file, text).expect("write profile");
    let sources = ProfileSources {
        builtin_dir: dir.path().join("no-builtins"),
        builtin: Some(vec![]),
        dropin_dir: profiles.clone(),
        trust: TrustPolicy { owner_uid: 0 },
    };
    let (set, _) = profile::load(&sources).unwrap_or_else(|d| {
        for e in &d.items {
            eprintln!("{e}");
        }
        std::process::exit(1)
    });
    let root = Root::open(Path::new("/"), 0).expect("open /");
    let engine = Engine::new(Arc::new(set), Arc::new(root), TrustPolicy { owner_uid: 0 });
    let polled: Vec<_> = engine
        .set
        .controls
        .iter()
        .filter(|c| c.spec.kind().polled())
        .collect();

    // One tick: every polled control answers the cheap question, as `recheck_polled` asks it.
    let tick = || {
        let ctx = engine.context();
        polled
            .iter()
            .filter(|c| c.spec.kind().live_matches(&ctx) == Some(true))
            .count()
    };
    live::invalidate();
    let matched = tick();
    println!(
        "tick benchmark: {} sysctls, {} audit rules ({} polled controls), {matched} match the live state",
        keys.len(),
        RULES,
        polled.len()
    );
    let mut times = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        // Ticks are a poll interval apart: the live rule list is read afresh each time.
        live::invalidate();
        let t = Instant::now();
        std::hint::black_box(tick());
        times.push(t.elapsed());
    }
    times.sort();
    let median = percentile(&times, 50.0);
    let p99 = percentile(&times, 99.0);
    println!(
        "one tick ({ticks} ticks): median {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times.last().expect("ticks").as_secs_f64() * 1e3
    );
    println!(
        "CPU share at poll_interval = 1s: {:.2}% of one core (median), {:.2}% (p99)",
        median.as_secs_f64() * 100.0,
        p99.as_secs_f64() * 100.0
    );
}
