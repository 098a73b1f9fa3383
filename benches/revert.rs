//! Benchmark of `hardend run`: drift-to-revert latency (`cargo bench --bench revert`).
//!
//! For each size N in {1, 1,000, 10,000} and each kind {`file-mode`, `file-content`}, an offline
//! `--root` holds N managed files spread over N/100+1 directories, with one control per file
//! (`file-mode`: `mode = "0644"`; `file-content`: inline `content`), settings `enforce = true`,
//! `builtin_profiles = []`, `fight_limit = 0` (one file is drifted many times).
//!
//! Latency is measured as a client sees it. The bench watches the target's directory with its
//! own inotify descriptor, takes t0 just before the drift (`file-mode`: chmod 0666;
//! `file-content`: open with O_TRUNC, write other bytes, close), and t1 when it sees the file
//! back (`file-mode`: an IN_ATTRIB after which stat shows 0644; `file-content`: the IN_MOVED_TO
//! of the file's name after which the content is the managed one again). The drifted file is
//! chosen pseudo-randomly among the N (the same sequence for both enforcers). Before each drift
//! the bench waits until the enforcer sleeps (its task state in /proc is `S`, at most 200 ms),
//! then a random 0-1 ms more, so that one drift's tail does not count in the next one.
//! `BENCH_DRIFTS` drifts per configuration (default 1,000); a drift not reverted within 2 s is a
//! miss (the bench then puts the file back itself).
//!
//! Baseline, measured in the same run on the same tree and with the same client: a thread of
//! this process, no engine around it, with its own inotify watch on the same directories and
//! the same event mask as the daemon; on each event naming a file it checks that file and fixes
//! it the same way (`file-mode`: fchmod on an O_NOFOLLOW descriptor; `file-content`: temp file in
//! the same directory, fchown, fchmod, write, fsync, renameat, fsync of the directory).
//! The two are interleaved in blocks of 50 drifts (the same files for both), so that both meet
//! the same noise of a shared machine and disk: while the baseline acts the daemon is stopped
//! with SIGSTOP, and while the daemon acts the baseline thread sleeps without watching its
//! inotify descriptor (it drops what queued meanwhile when it resumes), so neither meets the
//! other's wake-ups.
//!
//! Once, with N = 10,000 `file-mode` controls: resident memory of the converged daemon, its
//! context switches over 3 idle seconds (no kernel-state controls, so no timer should wake it),
//! and a burst: all 10,000 files chmod 0666 as fast as one thread can, then every file polled
//! until all are 0644 again (deadline 60 s).
//!
//! Targets (issue): p99 within 2x of the baseline's at every size; the burst all reverted, none
//! missed; resident memory under 20 MB watching 10,000 files; no timer wake-ups. The bench
//! prints whether each is met on this machine; it never fails because a figure is slow.
//!
//! `BENCH_SIZES` (e.g. `1,1000`) restricts the sizes, for quick runs.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hardend::fs::TEMP_PREFIX;
use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};
use nix::fcntl::{openat, renameat, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::{fchmod, fstat, Mode};
use nix::unistd::Pid;

const HARDEND: &str = env!("CARGO_BIN_EXE_hardend");

const SIZES: [usize; 3] = [1, 1_000, 10_000];
const FILES_PER_DIR: usize = 100;
const CONTROLS_PER_PROFILE: usize = 2_500;
const DEFAULT_DRIFTS: usize = 1_000;
const MODE_OK: u32 = 0o644;
const MODE_DRIFT: u32 = 0o666;
const CONTENT: &str = "# managed by hardend (revert benchmark)\nsetting = 1\n";
const DRIFTED: &str = "# drifted by the benchmark\nsetting = 2\n";

const DRIFT_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_WAIT_MAX: Duration = Duration::from_millis(200);
/// Drifts per block; blocks alternate between the baseline and hardend.
const BLOCK: usize = 50;
const START_TIMEOUT: Duration = Duration::from_secs(180);
const BURST_DEADLINE: Duration = Duration::from_secs(60);
const IDLE_MEASURE: Duration = Duration::from_secs(3);
const RATIO_TARGET: f64 = 2.0;
const RSS_TARGET_BYTES: u64 = 20_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mode,
    Content,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Mode => "file-mode",
            Kind::Content => "file-content",
        }
    }
}

fn main() {
    let drifts = env_usize("BENCH_DRIFTS").unwrap_or(DEFAULT_DRIFTS);
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .ok()
        .map(|v| {
            v.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .filter(|n| *n > 0)
                .collect()
        })
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| SIZES.to_vec());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let started = Instant::now();
    println!(
        "hardend run drift-to-revert benchmark: {drifts} drifts per configuration, {cores} CPUs"
    );
    println!("binary: {HARDEND}");
    println!(
        "kernel {}, load average {}, inotify max_queued_events {}",
        read_trim("/proc/sys/kernel/osrelease"),
        read_trim("/proc/loadavg"),
        read_trim("/proc/sys/fs/inotify/max_queued_events"),
    );

    let mut rows: Vec<Row> = Vec::new();
    let mut once: Option<Once> = None;
    for &n in &sizes {
        for kind in [Kind::Mode, Kind::Content] {
            let extra = kind == Kind::Mode && n == 10_000;
            match configuration(kind, n, drifts, extra) {
                Ok((row, o)) => {
                    rows.push(row);
                    if o.is_some() {
                        once = o;
                    }
                }
                Err(e) => println!("{} N={n}: not measured: {e}", kind.name()),
            }
        }
    }

    println!();
    println!("== drift-to-revert latency, client-side (µs; p99 nearest rank) ==");
    println!(
        "{:<13} {:>6}  {:<9} {:>6} {:>5} {:>9} {:>9} {:>9}  {:>9}",
        "kind", "N", "enforcer", "drifts", "miss", "median", "p99", "max", "p99 ratio"
    );
    for r in &rows {
        for (label, s) in [("baseline", &r.baseline), ("hardend", &r.hardend)] {
            let ratio = if label == "hardend" {
                r.ratio().map_or("-".to_string(), |x| format!("{x:.2}x"))
            } else {
                String::new()
            };
            println!(
                "{:<13} {:>6}  {:<9} {:>6} {:>5} {:>9} {:>9} {:>9}  {:>9}",
                r.kind.name(),
                r.n,
                label,
                s.samples.len(),
                s.misses,
                us_opt(s.stats().map(|x| x.median)),
                us_opt(s.stats().map(|x| x.p99)),
                us_opt(s.stats().map(|x| x.max)),
                ratio
            );
        }
    }

    println!();
    println!("== hardend detail ==");
    for r in &rows {
        let name = format!("{} N={}", r.kind.name(), r.n);
        let split = |first: bool| {
            let v: Vec<Duration> = r
                .hardend
                .samples
                .iter()
                .filter(|s| s.first == first)
                .map(|s| s.latency)
                .collect();
            Stats::of(&v).map_or("none".to_string(), |s| {
                format!(
                    "{} drifts, median {} p99 {}",
                    v.len(),
                    us(s.median),
                    us(s.p99)
                )
            })
        };
        println!(
            "{name:<20} first drift of a file: {}; repeat drift: {}",
            split(true),
            split(false)
        );
        let journal = Stats::of(&r.journal_latency).map_or("none".to_string(), |s| {
            format!(
                "{} events, median {} p99 {} max {}",
                r.journal_latency.len(),
                us(s.median),
                us(s.p99),
                us(s.max)
            )
        });
        println!("{:<20} self-reported HARDEND_LATENCY_US: {journal}", "");
        println!(
            "{:<20} start to converged: {:.0} ms; watched directories {}; revert-failed events {}; drift-reverted events {}",
            "",
            ms(r.startup),
            r.watched_dirs.map_or("?".to_string(), |w| w.to_string()),
            r.failed_events,
            r.reverted_events,
        );
        let drifts = r.hardend.samples.len() + r.hardend.misses;
        println!(
            "{:<20} daemon CPU over the drift phase: {:.0} ms ({:.0} µs per drift); backup index after it: {}",
            "",
            ms(r.cpu),
            r.cpu.as_secs_f64() * 1e6 / drifts.max(1) as f64,
            r.index_entries.map_or("none".to_string(), |(e, b)| format!(
                "{e} entries, {:.0} KB rewritten on each new entry",
                b as f64 / 1e3
            ))
        );
    }

    if let Some(o) = &once {
        println!();
        println!("== N = 10,000 file-mode, once ==");
        println!(
            "resident memory after convergence: VmRSS {:.1} MB ({:.1} MiB; RssAnon {:.1} MB, RssFile {:.1} MB), VmHWM {:.1} MB ({:.1} MiB); after the burst: VmRSS {:.1} MB, VmHWM {:.1} MB",
            mb(o.rss),
            mib(o.rss),
            mb(o.rss_anon),
            mb(o.rss_file),
            mb(o.hwm),
            mib(o.hwm),
            mb(o.rss_after),
            mb(o.hwm_after)
        );
        println!(
            "idle {} s with no drifts ({} task(s), {} polled controls): {} context switches (voluntary+nonvoluntary)",
            IDLE_MEASURE.as_secs(),
            o.tasks,
            o.polled.map_or("?".to_string(), |p| p.to_string()),
            o.wakeups
        );
        match &o.burst {
            Ok(b) => println!(
                "burst: {} chmods in {:.1} ms; reverted {}/{}; last revert seen {:.1} ms after the first chmod{}",
                b.files,
                ms(b.chmod_time),
                b.reverted,
                b.files,
                b.last.map_or(f64::NAN, ms),
                if b.reverted < b.files {
                    format!(" (gave up after {} s)", BURST_DEADLINE.as_secs())
                } else {
                    String::new()
                }
            ),
            Err(e) => println!("burst: not measured: {e}"),
        }
    }

    println!();
    println!("== verdicts ==");
    for r in &rows {
        let verdict = match r.ratio() {
            Some(x) if x <= RATIO_TARGET && r.hardend.misses == 0 => "met",
            Some(_) => "NOT met",
            None => "not measured",
        };
        println!(
            "{} N={}: p99 within 2x of baseline: {verdict} (hardend p99 {} µs, baseline p99 {} µs, ratio {}{})",
            r.kind.name(),
            r.n,
            us_opt(r.hardend.stats().map(|s| s.p99)),
            us_opt(r.baseline.stats().map(|s| s.p99)),
            r.ratio().map_or("-".to_string(), |x| format!("{x:.2}x")),
            if r.hardend.misses > 0 {
                format!(", {} missed", r.hardend.misses)
            } else {
                String::new()
            }
        );
    }
    for kind in [Kind::Mode, Kind::Content] {
        let of = |n: usize| {
            rows.iter()
                .find(|r| r.kind == kind && r.n == n)
                .and_then(|r| r.hardend.stats())
        };
        if let (Some(small), Some(large)) = (of(1), of(10_000)) {
            println!(
                "{} flat as files grow: hardend p99 at 10,000 / at 1 = {:.2}x (median {:.2}x)",
                kind.name(),
                large.p99.as_secs_f64() / small.p99.as_secs_f64(),
                large.median.as_secs_f64() / small.median.as_secs_f64()
            );
        }
    }
    match &once {
        Some(o) => {
            match &o.burst {
                Ok(b) => println!(
                    "burst of {} drifts all reverted, none missed: {} ({} reverted)",
                    b.files,
                    met(b.reverted == b.files),
                    b.reverted
                ),
                Err(_) => println!("burst of 10,000 drifts all reverted: not measured"),
            }
            println!(
                "resident memory under 20 MB watching 10,000 files: {} (VmRSS {:.1} MB)",
                met(o.rss < RSS_TARGET_BYTES),
                mb(o.rss)
            );
            println!(
                "no timer wake-ups without kernel-state controls: {} ({} context switches in {} s idle)",
                met(o.wakeups == 0),
                o.wakeups,
                IDLE_MEASURE.as_secs()
            );
        }
        None => println!("burst, memory, wake-ups: not measured (needs N = 10,000)"),
    }
    if cores != 2 {
        println!("note: the targets are stated for a 2-core machine; this one has {cores} CPUs");
    }
    println!(
        "total bench time {:.1} s; load average now {}",
        started.elapsed().as_secs_f64(),
        read_trim("/proc/loadavg")
    );
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

// ---------------------------------------------------------------------------------------------
// One configuration: a tree, the baseline, then the daemon.

struct Row {
    kind: Kind,
    n: usize,
    baseline: Run,
    hardend: Run,
    journal_latency: Vec<Duration>,
    startup: Duration,
    watched_dirs: Option<u64>,
    failed_events: usize,
    reverted_events: usize,
    /// CPU time (user + system) of the daemon over its drift phase.
    cpu: Duration,
    /// (entries, bytes) of the backup index after the drift phase.
    index_entries: Option<(usize, u64)>,
}

impl Row {
    fn ratio(&self) -> Option<f64> {
        let h = self.hardend.stats()?;
        let b = self.baseline.stats()?;
        Some(h.p99.as_secs_f64() / b.p99.as_secs_f64().max(1e-9))
    }
}

struct Once {
    rss: u64,
    hwm: u64,
    rss_anon: u64,
    rss_file: u64,
    rss_after: u64,
    hwm_after: u64,
    wakeups: u64,
    tasks: usize,
    polled: Option<u64>,
    burst: Result<Burst, String>,
}

struct Burst {
    files: usize,
    reverted: usize,
    chmod_time: Duration,
    last: Option<Duration>,
}

fn configuration(
    kind: Kind,
    n: usize,
    drifts: usize,
    extra: bool,
) -> Result<(Row, Option<Once>), String> {
    let t_config = Instant::now();
    let t = Instant::now();
    let tree = Tree::build(kind, n)?;
    println!();
    println!(
        "{} N={n}: tree of {n} files in {} directories built in {:.0} ms",
        kind.name(),
        tree.dirs.len(),
        ms(t.elapsed())
    );
    let order = drift_order(n, drifts);
    let mut client = Client::new(&tree)?;
    // Start each phase with no writeback of the tree (or of the last phase) in flight.
    let t = Instant::now();
    sync_disks();
    println!("  sync: {:.0} ms", ms(t.elapsed()));

    // The baseline thread starts paused; the daemon converges alone.
    let baseline_thread = Baseline::spawn(&tree, kind)?;
    let t = Instant::now();
    let mut daemon = Daemon::start(&tree, &format!("{}-{n}", kind.name()))?;
    let startup = t.elapsed();
    let status = read_status(&tree.state);
    let watched_dirs = status
        .as_ref()
        .and_then(|s| s["watched_directories"].as_u64());
    let polled = status.as_ref().and_then(|s| s["polled_controls"].as_u64());
    let summary = status
        .as_ref()
        .map(|s| s["summary"].to_string())
        .unwrap_or_default();
    println!(
        "  hardend: converged in {:.0} ms, pid {}, summary {summary}",
        ms(startup),
        daemon.pid
    );

    // Memory and idle wake-ups before any drift.
    let mut once = None;
    if extra {
        thread::sleep(Duration::from_secs(1));
        let rss = proc_status_bytes(daemon.pid, "VmRSS").unwrap_or(0);
        let hwm = proc_status_bytes(daemon.pid, "VmHWM").unwrap_or(0);
        let tasks = daemon.tasks().len();
        let before = ctxt_switches(daemon.pid);
        thread::sleep(IDLE_MEASURE);
        let after = ctxt_switches(daemon.pid);
        println!(
            "  VmRSS {:.1} MB, VmHWM {:.1} MB, {} context switches in {} s idle",
            mb(rss),
            mb(hwm),
            after.saturating_sub(before),
            IDLE_MEASURE.as_secs()
        );
        once = Some(Once {
            rss,
            hwm,
            rss_anon: proc_status_bytes(daemon.pid, "RssAnon").unwrap_or(0),
            rss_file: proc_status_bytes(daemon.pid, "RssFile").unwrap_or(0),
            rss_after: 0,
            hwm_after: 0,
            wakeups: after.saturating_sub(before),
            tasks,
            polled,
            burst: Err("not run".into()),
        });
    }

    // Interleaved blocks: the same drifts for both enforcers, under the same machine noise.
    // While the baseline acts, the daemon is stopped (SIGSTOP); its queued events are then
    // re-checks of compliant files, handled before its next block starts.
    sync_disks();
    let didle = daemon.tasks();
    let bidle = [PathBuf::from(format!(
        "/proc/self/task/{}/stat",
        baseline_thread.tid
    ))];
    let mut baseline = Phase::default();
    let mut hardend = Phase::default();
    let mut cpu = Duration::ZERO;
    for (k, block) in order.chunks(BLOCK).enumerate() {
        for step in 0..2 {
            if (step == 0) == (k % 2 == 0) {
                daemon.stop_signal();
                baseline_thread.set_active(true);
                client.run(&tree, kind, block, &bidle, &mut baseline);
                wait_idle(&bidle, IDLE_WAIT_MAX);
                baseline_thread.set_active(false);
            } else {
                daemon.cont_signal();
                wait_idle(&didle, Duration::from_secs(5));
                let c0 = cpu_time(daemon.pid);
                client.run(&tree, kind, block, &didle, &mut hardend);
                wait_idle(&didle, IDLE_WAIT_MAX);
                cpu += cpu_time(daemon.pid).saturating_sub(c0);
            }
        }
    }
    daemon.cont_signal();
    wait_idle(&didle, Duration::from_secs(5));
    let fixes = baseline_thread.stop()?;
    let (baseline, hardend) = (baseline.run, hardend.run);
    println!(
        "  baseline: {} drifts, {} missed, {} fixes made",
        baseline.samples.len(),
        baseline.misses,
        fixes
    );
    let index_entries = backup_index_entries(&tree.state);
    let log = fs::read_to_string(&daemon.log).unwrap_or_default();
    let (journal_latency, reverted_events, failed_events) = parse_log(&log);
    println!(
        "  hardend: {} drifts, {} missed",
        hardend.samples.len(),
        hardend.misses
    );

    if let Some(o) = once.as_mut() {
        o.burst = burst(&tree, &daemon);
        if let Ok(b) = &o.burst {
            println!(
                "  burst: {}/{} reverted, last after {:.1} ms",
                b.reverted,
                b.files,
                b.last.map_or(f64::NAN, ms)
            );
        }
        o.rss_after = proc_status_bytes(daemon.pid, "VmRSS").unwrap_or(0);
        o.hwm_after = proc_status_bytes(daemon.pid, "VmHWM").unwrap_or(0);
    }
    daemon.stop();
    println!(
        "  configuration done in {:.1} s",
        t_config.elapsed().as_secs_f64()
    );
    Ok((
        Row {
            kind,
            n,
            baseline,
            hardend,
            journal_latency,
            startup,
            watched_dirs,
            failed_events,
            reverted_events,
            cpu,
            index_entries,
        },
        once,
    ))
}

/// The files to drift, pseudo-random among the N (xorshift, fixed seed).
fn drift_order(n: usize, drifts: usize) -> Vec<usize> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..drifts).map(|_| rng.below(n)).collect()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(u64::MAX)).unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------------------------
// The tree.

struct Tree {
    _work: tempfile::TempDir,
    root: PathBuf,
    profiles: PathBuf,
    config: PathBuf,
    state: PathBuf,
    logs: PathBuf,
    /// Host paths of the managed directories.
    dirs: Vec<PathBuf>,
    /// (directory index, file name) of each managed file.
    files: Vec<(usize, OsString)>,
}

impl Tree {
    fn build(kind: Kind, n: usize) -> Result<Tree, String> {
        let work = tempfile::Builder::new()
            .prefix("hardend-revert-")
            .tempdir()
            .map_err(|e| format!("temporary directory: {e}"))?;
        let w = work.path();
        let root = w.join("root");
        let etc = root.join("etc");
        mkdir(&etc, 0o755)?;
        write(
            &etc.join("passwd"),
            "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
            0o644,
        )?;
        write(&etc.join("group"), "root:x:0:\ndaemon:x:1:\n", 0o644)?;
        let ndirs = n / FILES_PER_DIR + 1;
        let mut dirs = Vec::with_capacity(ndirs);
        for d in 0..ndirs {
            let dir = etc.join("app").join(format!("d{d:03}"));
            mkdir(&dir, 0o755)?;
            dirs.push(dir);
        }
        let mut files = Vec::with_capacity(n);
        for i in 0..n {
            let d = i % ndirs;
            let name = format!("f{i:05}");
            write(&dirs[d].join(&name), CONTENT, MODE_OK)?;
            files.push((d, OsString::from(name)));
        }

        // The daemon watches the directories of its settings and profiles: each gets its own,
        // and the daemon's log lives elsewhere (else its own journal lines would wake it).
        let profiles = w.join("profiles");
        mkdir(&profiles, 0o755)?;
        let content_toml = toml_string(CONTENT);
        for (p, chunk) in (0..n)
            .collect::<Vec<_>>()
            .chunks(CONTROLS_PER_PROFILE)
            .enumerate()
        {
            let mut text = format!(
                "[profile]\nname = \"bench-revert-{p}\"\ndescription = \"revert benchmark\"\npolicy = \"enforce\"\n"
            );
            for &i in chunk {
                let d = i % ndirs;
                let path = format!("/etc/app/d{d:03}/f{i:05}");
                let body = match kind {
                    Kind::Mode => "kind = \"file-mode\"\nmode = \"0644\"\n".to_string(),
                    Kind::Content => format!(
                        "kind = \"file-content\"\ncontent = {content_toml}\nmode = \"0644\"\n"
                    ),
                };
                write!(
                    text,
                    "\n[[control]]\nid = \"bench-f{i:05}\"\ntitle = \"bench file {i}\"\npath = \"{path}\"\n{body}"
                )
                .map_err(|e| e.to_string())?;
            }
            write(&profiles.join(format!("{p:02}-bench.toml")), &text, 0o644)?;
        }
        let config_dir = w.join("config");
        mkdir(&config_dir, 0o755)?;
        let config = config_dir.join("hardend.toml");
        write(
            &config,
            "enforce = true\nbuiltin_profiles = []\nfight_limit = 0\n",
            0o644,
        )?;
        let state = w.join("state");
        mkdir(&state, 0o700)?;
        let logs = w.join("logs");
        mkdir(&logs, 0o755)?;
        Ok(Tree {
            _work: work,
            root,
            profiles,
            config,
            state,
            logs,
            dirs,
            files,
        })
    }

    fn path(&self, i: usize) -> PathBuf {
        let (d, name) = &self.files[i];
        self.dirs[*d].join(name)
    }
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn mkdir(path: &Path, mode: u32) -> Result<(), String> {
    fs::create_dir_all(path).map_err(|e| format!("create {}: {e}", path.display()))?;
    set_mode(path, mode)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    set_mode(path, mode)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The client: drifts a file and waits until it sees it back.

struct Sample {
    latency: Duration,
    /// The first drift of this file in this run (hardend then saves its original first).
    first: bool,
}

#[derive(Default)]
struct Run {
    samples: Vec<Sample>,
    misses: usize,
}

/// One enforcer's drifts so far, and the files it has seen drifted.
#[derive(Default)]
struct Phase {
    run: Run,
    seen: HashSet<usize>,
}

impl Run {
    fn stats(&self) -> Option<Stats> {
        let v: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        Stats::of(&v)
    }
}

struct Client {
    inotify: Inotify,
    wds: Vec<WatchDescriptor>,
    buffer: Vec<u8>,
    rng: Rng,
}

impl Client {
    fn new(tree: &Tree) -> Result<Client, String> {
        let inotify = Inotify::init().map_err(|e| format!("inotify: {e}"))?;
        let mut wds = Vec::with_capacity(tree.dirs.len());
        for dir in &tree.dirs {
            wds.push(
                inotify
                    .watches()
                    .add(dir, WatchMask::ATTRIB | WatchMask::MOVED_TO)
                    .map_err(|e| format!("watch {}: {e}", dir.display()))?,
            );
        }
        Ok(Client {
            inotify,
            wds,
            buffer: vec![0; 64 * 1024],
            rng: Rng(0x2545_f491_4f6c_dd1d),
        })
    }

    fn drain(&mut self) {
        while let Ok(events) = self.inotify.read_events(&mut self.buffer) {
            if events.count() == 0 {
                break;
            }
        }
    }

    /// Drifts each file of `block` in turn, adding to `phase`.
    fn run(
        &mut self,
        tree: &Tree,
        kind: Kind,
        block: &[usize],
        idle: &[PathBuf],
        phase: &mut Phase,
    ) {
        for &i in block {
            wait_idle(idle, IDLE_WAIT_MAX);
            let jitter = self.rng.below(1_000);
            thread::sleep(Duration::from_micros(u64::try_from(jitter).unwrap_or(0)));
            self.drain();
            let first = phase.seen.insert(i);
            match self.drift(tree, kind, i) {
                Some(latency) => phase.run.samples.push(Sample { latency, first }),
                None => {
                    phase.run.misses += 1;
                    // Put it back so the next drifts measure from a compliant state.
                    let _ = match kind {
                        Kind::Mode => set_mode(&tree.path(i), MODE_OK),
                        Kind::Content => write(&tree.path(i), CONTENT, MODE_OK),
                    };
                }
            }
        }
    }

    /// One drift of file `i`; the time until the client sees it reverted, or `None` after
    /// [`DRIFT_TIMEOUT`].
    fn drift(&mut self, tree: &Tree, kind: Kind, i: usize) -> Option<Duration> {
        let (d, name) = &tree.files[i];
        let path = tree.path(i);
        let wd = self.wds[*d].clone();
        let t0 = Instant::now();
        match kind {
            Kind::Mode => {
                fs::set_permissions(&path, fs::Permissions::from_mode(MODE_DRIFT)).ok()?;
            }
            Kind::Content => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .ok()?;
                f.write_all(DRIFTED.as_bytes()).ok()?;
            }
        }
        let deadline = t0 + DRIFT_TIMEOUT;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            if !wait_readable(self.inotify.as_raw_fd(), deadline - now) {
                continue;
            }
            let mut hit = false;
            match self.inotify.read_events(&mut self.buffer) {
                Ok(events) => {
                    for e in events {
                        if e.wd != wd || e.name != Some(name.as_os_str()) {
                            continue;
                        }
                        hit |= match kind {
                            Kind::Mode => e.mask.contains(EventMask::ATTRIB),
                            Kind::Content => e.mask.contains(EventMask::MOVED_TO),
                        };
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(_) => return None,
            }
            if hit && reverted(kind, &path) {
                return Some(t0.elapsed());
            }
        }
    }
}

fn reverted(kind: Kind, path: &Path) -> bool {
    match kind {
        Kind::Mode => {
            fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.mode() & 0o7777 == MODE_OK)
        }
        Kind::Content => fs::read(path).is_ok_and(|b| b == CONTENT.as_bytes()),
    }
}

fn wait_readable(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(timeout.as_millis().max(1)).unwrap_or(i32::MAX);
    // SAFETY: `p` is one valid pollfd that outlives the call.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    n > 0
}

/// The state letter of a task (`R`, `S`, `D`, `T`, ...) from its /proc stat file.
fn task_state(stat: &Path) -> Option<String> {
    let s = fs::read_to_string(stat).ok()?;
    let at = s.rfind(')')?;
    s[at + 1..].split_whitespace().next().map(str::to_string)
}

/// Waits (at most `max`) until every task sleeps (state `S`: blocked in epoll or
/// poll; a task busy in fsync is `D`, one running is `R`).
fn wait_idle(stats: &[PathBuf], max: Duration) {
    let deadline = Instant::now() + max;
    while Instant::now() < deadline {
        let asleep = stats
            .iter()
            .all(|p| task_state(p).is_some_and(|st| st == "S"));
        if asleep {
            return;
        }
        thread::sleep(Duration::from_micros(100));
    }
}

// ---------------------------------------------------------------------------------------------
// The baseline: a minimal loop, no engine.

struct Baseline {
    stop: Arc<AtomicBool>,
    active: Arc<AtomicBool>,
    /// Changes of `active` asked for, and the last one the thread has taken into account.
    epoch: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
    handle: JoinHandle<Result<u64, String>>,
    tid: i32,
}

impl Baseline {
    fn spawn(tree: &Tree, kind: Kind) -> Result<Baseline, String> {
        let dirs = tree.dirs.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let active = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicU64::new(0));
        let acked = Arc::new(AtomicU64::new(0));
        let (tx, rx) = mpsc::channel();
        let turn = Turn {
            stop: Arc::clone(&stop),
            active: Arc::clone(&active),
            epoch: Arc::clone(&epoch),
            acked: Arc::clone(&acked),
        };
        let handle = thread::spawn(move || baseline_loop(&dirs, kind, &turn, &tx));
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(tid) => Ok(Baseline {
                stop,
                active,
                epoch,
                acked,
                handle,
                tid,
            }),
            Err(_) => Err(match handle.join() {
                Ok(Err(e)) => format!("baseline: {e}"),
                _ => "baseline did not start".into(),
            }),
        }
    }

    /// While paused, the thread sleeps without watching its inotify descriptor, so that the
    /// daemon's blocks meet no competing wake-ups (as the baseline's meet none from the daemon,
    /// stopped by SIGSTOP); resumed, it drops what queued meanwhile. Returns once the thread
    /// has done so.
    fn set_active(&self, on: bool) {
        self.active.store(on, Ordering::SeqCst);
        let asked = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.handle.thread().unpark();
        while self.acked.load(Ordering::SeqCst) < asked {
            thread::sleep(Duration::from_micros(100));
        }
    }

    fn stop(self) -> Result<u64, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.thread().unpark();
        self.handle
            .join()
            .map_err(|_| "baseline thread panicked".to_string())?
    }
}

/// The flags a baseline thread and the bench share.
struct Turn {
    stop: Arc<AtomicBool>,
    active: Arc<AtomicBool>,
    epoch: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
}

fn baseline_loop(
    dirs: &[PathBuf],
    kind: Kind,
    turn: &Turn,
    ready: &mpsc::Sender<i32>,
) -> Result<u64, String> {
    let Turn {
        stop,
        active,
        epoch,
        acked,
    } = turn;
    let mut inotify = Inotify::init().map_err(|e| format!("inotify: {e}"))?;
    let mut by_wd: HashMap<WatchDescriptor, OwnedFd> = HashMap::new();
    for dir in dirs {
        let wd = inotify
            .watches()
            .add(dir, hardend::watch::dir_mask())
            .map_err(|e| format!("watch {}: {e}", dir.display()))?;
        let fd = openat(
            None,
            dir.as_path(),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("open {}: {e}", dir.display()))?;
        // SAFETY: `openat` just returned this descriptor and nothing else owns it.
        by_wd.insert(wd, unsafe { OwnedFd::from_raw_fd(fd) });
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let _ = ready.send(tid);
    let mut buffer = vec![0u8; 64 * 1024];
    let mut fixes = 0u64;
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // The epoch is read before `active`: an ack never covers a change not yet seen.
        let seen = epoch.load(Ordering::SeqCst);
        if !active.load(Ordering::SeqCst) {
            acked.store(seen, Ordering::SeqCst);
            while !active.load(Ordering::SeqCst) && !stop.load(Ordering::Relaxed) {
                thread::park();
            }
            let seen = epoch.load(Ordering::SeqCst);
            // What queued while paused was the daemon's business.
            while let Ok(events) = inotify.read_events(&mut buffer) {
                if events.count() == 0 {
                    break;
                }
            }
            acked.store(seen, Ordering::SeqCst);
            continue;
        }
        if !wait_readable(inotify.as_raw_fd(), Duration::from_millis(50)) {
            continue;
        }
        // One batch: what is queued now, each (directory, name) once, as the daemon does.
        let mut batch: Vec<(WatchDescriptor, OsString)> = Vec::new();
        loop {
            match inotify.read_events(&mut buffer) {
                Ok(events) => {
                    let mut any = false;
                    for e in events {
                        any = true;
                        let Some(name) = e.name else { continue };
                        if name.as_bytes().starts_with(TEMP_PREFIX.as_bytes()) {
                            continue;
                        }
                        if !batch.iter().any(|(w, n)| *w == e.wd && n == name) {
                            batch.push((e.wd.clone(), name.to_os_string()));
                        }
                    }
                    if !any {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(format!("read inotify: {e}")),
            }
        }
        if !active.load(Ordering::SeqCst) {
            continue;
        }
        for (wd, name) in batch {
            let Some(dir) = by_wd.get(&wd) else { continue };
            let fixed = match kind {
                Kind::Mode => baseline_fix_mode(dir.as_raw_fd(), &name),
                Kind::Content => baseline_fix_content(dir.as_raw_fd(), &name, &mut counter),
            };
            if fixed {
                fixes += 1;
            }
        }
    }
    Ok(fixes)
}

fn open_at(dir: RawFd, name: &OsStr, flags: OFlag, mode: Mode) -> Option<File> {
    let fd = openat(Some(dir), name, flags | OFlag::O_CLOEXEC, mode).ok()?;
    // SAFETY: `openat` just returned this descriptor and nothing else owns it.
    Some(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// fchmod back to at most 0644 on an O_NOFOLLOW descriptor; whether it changed anything.
fn baseline_fix_mode(dir: RawFd, name: &OsStr) -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let Some(f) = open_at(dir, name, flags, Mode::empty()) else {
        return false;
    };
    let Ok(st) = fstat(f.as_raw_fd()) else {
        return false;
    };
    let mode = st.st_mode & 0o7777;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG || mode & !MODE_OK == 0 {
        return false;
    }
    fchmod(f.as_raw_fd(), Mode::from_bits_truncate(mode & MODE_OK)).is_ok()
}

/// Checks content, owner and mode; on a difference, the atomic rewrite. Whether it wrote.
fn baseline_fix_content(dir: RawFd, name: &OsStr, counter: &mut u64) -> bool {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    if let Some(mut f) = open_at(dir, name, flags, Mode::empty()) {
        let mut current = Vec::new();
        let same = f.read_to_end(&mut current).is_ok()
            && current == CONTENT.as_bytes()
            && fstat(f.as_raw_fd())
                .is_ok_and(|st| st.st_mode & 0o7777 == MODE_OK && st.st_uid == 0 && st.st_gid == 0);
        if same {
            return false;
        }
    }
    *counter += 1;
    let tmp = OsString::from(format!("{TEMP_PREFIX}baseline-{counter:016x}"));
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let Some(mut f) = open_at(dir, &tmp, flags, Mode::S_IRUSR | Mode::S_IWUSR) else {
        return false;
    };
    let ok = std::os::unix::fs::fchown(&f, Some(0), Some(0)).is_ok()
        && fchmod(f.as_raw_fd(), Mode::from_bits_truncate(MODE_OK)).is_ok()
        && f.write_all(CONTENT.as_bytes()).is_ok()
        && f.sync_all().is_ok();
    drop(f);
    if !ok || renameat(Some(dir), tmp.as_os_str(), Some(dir), name).is_err() {
        let _ = nix::unistd::unlinkat(
            Some(dir),
            tmp.as_os_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        return false;
    }
    let dot = OFlag::O_RDONLY | OFlag::O_DIRECTORY;
    open_at(dir, OsStr::new("."), dot, Mode::empty()).is_some_and(|d| d.sync_all().is_ok())
}

// ---------------------------------------------------------------------------------------------
// The daemon.

struct Daemon {
    child: Child,
    pid: i32,
    log: PathBuf,
}

impl Daemon {
    fn start(tree: &Tree, label: &str) -> Result<Daemon, String> {
        let log = tree.logs.join(format!("daemon-{label}.log"));
        let err = File::create(&log).map_err(|e| format!("create {}: {e}", log.display()))?;
        let _ = fs::remove_file(tree.state.join("status.json"));
        let mut child = Command::new(HARDEND)
            .arg("run")
            .arg("--root")
            .arg(&tree.root)
            .arg("--profiles")
            .arg(&tree.profiles)
            .arg("--config")
            .arg(&tree.config)
            .arg("--state-dir")
            .arg(&tree.state)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("run {HARDEND}: {e}"))?;
        let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
        let status = tree.state.join("status.json");
        let start = Instant::now();
        loop {
            if status.exists() {
                break;
            }
            if let Ok(Some(exit)) = child.try_wait() {
                return Err(format!(
                    "hardend run exited with {exit} before converging:\n{}",
                    tail(&log)
                ));
            }
            if start.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "hardend run did not converge within {} s:\n{}",
                    START_TIMEOUT.as_secs(),
                    tail(&log)
                ));
            }
            thread::sleep(Duration::from_millis(2));
        }
        Ok(Daemon { child, pid, log })
    }

    /// The stat files of the daemon's tasks, for [`wait_idle`].
    fn tasks(&self) -> Vec<PathBuf> {
        fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|rd| rd.flatten().map(|e| e.path().join("stat")).collect())
            .unwrap_or_default()
    }

    /// SIGSTOP, and wait until the kernel shows it stopped.
    fn stop_signal(&self) {
        let stat = PathBuf::from(format!("/proc/{}/stat", self.pid));
        if task_state(&stat).as_deref() == Some("T") {
            return;
        }
        wait_idle(&self.tasks(), Duration::from_secs(5));
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGSTOP);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if task_state(&stat).as_deref() == Some("T") {
                return;
            }
            thread::sleep(Duration::from_micros(100));
        }
    }

    fn cont_signal(&self) {
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGCONT);
    }

    fn stop(&mut self) {
        self.cont_signal();
        let _ = kill(Pid::from_raw(self.pid), Signal::SIGTERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(5));
        }
        println!("  hardend did not stop within 10 s of SIGTERM; killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn read_status(state: &Path) -> Option<serde_json::Value> {
    let bytes = fs::read(state.join("status.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// (latency_us of every drift-reverted line, drift-reverted lines, revert-failed lines).
fn parse_log(log: &str) -> (Vec<Duration>, usize, usize) {
    let mut latencies = Vec::new();
    let mut reverted = 0;
    let mut failed = 0;
    for line in log.lines() {
        if line.starts_with("hardend: revert-failed") {
            failed += 1;
        }
        if !line.starts_with("hardend: drift-reverted") {
            continue;
        }
        reverted += 1;
        if let Some(at) = line.find("latency_us=\"") {
            let digits: String = line[at + 12..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(v) = digits.parse() {
                latencies.push(Duration::from_micros(v));
            }
        }
    }
    (latencies, reverted, failed)
}

fn sync_disks() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
}

/// (entries, bytes) of `<state>/backups/index.json`.
fn backup_index_entries(state: &Path) -> Option<(usize, u64)> {
    let path = state.join("backups").join("index.json");
    let bytes = fs::read(&path).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    Some((v["entries"].as_array()?.len(), bytes.len() as u64))
}

/// User plus system CPU time of `pid` (all its threads), from /proc/PID/stat.
fn cpu_time(pid: i32) -> Duration {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    let Some(after) = text.rfind(')').map(|at| &text[at + 1..]) else {
        return Duration::ZERO;
    };
    // Fields after the command: state is field 3; utime and stime are fields 14 and 15.
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100);
    Duration::from_micros(ticks * 1_000_000 / hz)
}

// ---------------------------------------------------------------------------------------------
// Once: burst, memory, wake-ups.

fn burst(tree: &Tree, daemon: &Daemon) -> Result<Burst, String> {
    wait_idle(&daemon.tasks(), Duration::from_secs(5));
    let paths: Vec<PathBuf> = (0..tree.files.len()).map(|i| tree.path(i)).collect();
    let start = Instant::now();
    for p in &paths {
        fs::set_permissions(p, fs::Permissions::from_mode(MODE_DRIFT))
            .map_err(|e| format!("chmod {}: {e}", p.display()))?;
    }
    let chmod_time = start.elapsed();
    let mut pending: Vec<&PathBuf> = paths.iter().collect();
    let mut last = None;
    while start.elapsed() < BURST_DEADLINE {
        pending.retain(|p| !fs::symlink_metadata(p).is_ok_and(|m| m.mode() & 0o7777 == MODE_OK));
        if pending.is_empty() {
            last = Some(start.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    Ok(Burst {
        files: paths.len(),
        reverted: paths.len() - pending.len(),
        chmod_time,
        last,
    })
}

/// A `VmRSS`-like line of /proc/PID/status, in bytes.
fn proc_status_bytes(pid: i32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())?;
    Some(kb * 1024)
}

/// Voluntary plus nonvoluntary context switches of every task of `pid`.
fn ctxt_switches(pid: i32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut sum = 0;
    for t in tasks.flatten() {
        let Ok(text) = fs::read_to_string(t.path().join("status")) else {
            continue;
        };
        for line in text.lines() {
            if line.starts_with("voluntary_ctxt_switches:")
                || line.starts_with("nonvoluntary_ctxt_switches:")
            {
                sum += line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    sum
}

// ---------------------------------------------------------------------------------------------
// Figures.

#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    p99: Duration,
    max: Duration,
}

impl Stats {
    /// Nearest-rank percentiles.
    fn of(samples: &[Duration]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_unstable();
        let rank = |p: f64| {
            let r = (p * v.len() as f64).ceil() as usize;
            v[r.clamp(1, v.len()) - 1]
        };
        Some(Stats {
            median: rank(0.5),
            p99: rank(0.99),
            max: v[v.len() - 1],
        })
    }
}

fn us(d: Duration) -> String {
    d.as_micros().to_string()
}

fn us_opt(d: Option<Duration>) -> String {
    d.map_or("-".to_string(), us)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
}

fn read_trim(path: &str) -> String {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
