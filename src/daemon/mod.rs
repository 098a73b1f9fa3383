//! `hardend run`: converge once, then watch every managed target and revert (`enforce`) or
//! report drift, with one journal event per drift.
//!
//! One thread: a current-thread tokio runtime drives the inotify watcher, the signals and the
//! timers, so a change is handled as soon as the kernel reports it, no work is done while
//! nothing changes, and the seccomp filter of the sandbox covers the whole process.
//!
//! Cost follows changes: an event re-examines only the controls whose watch points name the
//! changed entry. Kernel state that inotify cannot see is re-checked on the poll timer, which
//! only runs when such controls exist.

mod fight;
mod status;

pub use status::{ControlStatus, DaemonStatus, STATUS_FILE};

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _};
use tokio::signal::unix::{signal, SignalKind};

use crate::diag::Diagnostics;
use crate::engine::{ControlResult, Engine, Status};
use crate::fs::{Root, TrustPolicy};
use crate::journal::{self, Action, Event, EventType};
use crate::kinds::KeptLookups;
use crate::metrics::{Gauges, Metrics};
use crate::profile::{self, last_good, Policy, ProfileSet, ProfileSources};
use crate::sandbox::Sandbox;
use crate::service;
use crate::settings::Settings;
use crate::store::Store;
use crate::watch::{watch_points, Batch, WatchPoint, Watcher};
use fight::{Fights, Verdict};
use status::now_rfc3339;

/// How often inotify is read at most while a fight's back-off is on.
const FIGHT_READ_PACE: Duration = Duration::from_millis(250);

/// How often the status file is rewritten at most while events keep coming.
const STATUS_FLUSH: Duration = Duration::from_millis(250);

pub struct DaemonConfig {
    pub settings: Settings,
    pub sources: ProfileSources,
    pub config_path: PathBuf,
    pub trust: TrustPolicy,
    pub root: Root,
    pub state_dir: PathBuf,
}

/// Why a watched directory matters.
#[derive(Debug, Clone)]
enum Interest {
    /// A control (by index), for one entry name or any.
    Control(usize, Option<OsString>),
    /// The profile directories: any change reloads.
    Profiles,
    /// The settings file, by name in its directory.
    Settings(OsString),
}

/// What was last said about a control, so that each distinct state is reported once.
#[derive(Debug, Clone, PartialEq)]
struct Said {
    status: Status,
    actual: String,
    message: String,
}

impl Said {
    fn of(r: &ControlResult) -> Said {
        Said {
            status: r.status,
            actual: r.actual.clone(),
            message: r.message.clone(),
        }
    }
}

struct Daemon {
    cfg: DaemonConfig,
    sandbox: Sandbox,
    /// How many controls the poll timer serves (counted at each load, not per event).
    polled: usize,
    engine: Engine,
    store: Store,
    watcher: Watcher,
    /// The host root, for watching hardend's own configuration.
    host: Root,
    interest: HashMap<PathBuf, Vec<Interest>>,
    said: HashMap<String, Said>,
    /// What each control showed last, by index: one status each, details only for the ones
    /// that are not passing (10,000 passing controls must not cost 10,000 reports).
    results: Results,
    fights: Fights,
    expired_waivers_said: HashSet<String>,
    started_at: String,
    last_convergence: String,
    status_due: Option<Instant>,
    last_status_line: String,
    /// Set while the profiles in force are the last-known-good copy (saved at this time),
    /// because the files on disk were rejected at start.
    last_good_since: Option<String>,
    /// Counters for the metrics file, written with the status file.
    metrics: Metrics,
}

/// Runs the daemon until SIGTERM or SIGINT; returns the exit code.
pub fn run(cfg: DaemonConfig) -> anyhow::Result<i32> {
    journal::init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the event loop")?;
    runtime.block_on(async move {
        let mut daemon = Daemon::start(cfg)?;
        daemon.event_loop().await
    })
}

impl Daemon {
    fn start(cfg: DaemonConfig) -> anyhow::Result<Daemon> {
        let mut metrics = Metrics::default();
        let (set, last_good_since) = match profile::load_with_texts(&cfg.sources) {
            Ok(loaded) => {
                accepted(&cfg.state_dir, &loaded);
                (loaded.set, None)
            }
            Err(diags) => {
                metrics.note_rejection();
                match last_good::load(&cfg.state_dir, &cfg.trust) {
                    Ok((set, saved_at)) => {
                        reject(&diags, "starting from the last-known-good copy");
                        (set, Some(saved_at))
                    }
                    Err(e) => {
                        reject(
                            &diags,
                            "refused: no last-known-good copy to start from, so hardend does not start",
                        );
                        return Err(anyhow!(
                            "profiles rejected, and no last-known-good set to fall back on ({e}); nothing was evaluated"
                        ));
                    }
                }
            }
        };
        // Before any control is looked at: the first convergence already runs sandboxed.
        let sandbox = Sandbox::enter(cfg.settings.sandbox, cfg.root.is_host(), &set).context(
            "cannot enter hardend's sandbox (`sandbox = false` in the settings runs without it)",
        )?;
        let store = Store::open(&cfg.state_dir).map_err(|e| anyhow!("{e}"))?;
        let root = Arc::new(Root::open(cfg.root.path(), cfg.root.trusted_uid())?);
        let engine = Engine::new(Arc::new(set), root, cfg.trust);
        let host = Root::open(Path::new("/"), cfg.trust.owner_uid)?;
        let fights = Fights::new(cfg.settings.fight_limit, cfg.settings.fight_window);
        let mut daemon = Daemon {
            sandbox,
            polled: count_polled(&engine.set),
            results: Results::new(engine.set.controls.len()),
            engine,
            store,
            watcher: Watcher::new().context("inotify")?,
            host,
            interest: HashMap::new(),
            said: HashMap::new(),
            fights,
            expired_waivers_said: HashSet::new(),
            started_at: now_rfc3339(),
            last_convergence: String::new(),
            status_due: None,
            last_status_line: String::new(),
            last_good_since,
            metrics,
            cfg,
        };
        loaded_event(&daemon.engine.set, daemon.last_good_since.as_deref());
        // Watch first: what the first convergence writes, and anything changed meanwhile,
        // then arrives as events and is checked again.
        daemon.rearm();
        daemon.converge_all(None);
        daemon.presave_originals();
        daemon.rearm();
        crate::sys::release_free_memory();
        Ok(daemon)
    }

    fn enforcing(&self, policy: Policy) -> bool {
        self.cfg.settings.enforce && policy == Policy::Enforce
    }

    async fn event_loop(&mut self) -> anyhow::Result<i32> {
        let mut hangup = signal(SignalKind::hangup())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut watchdog = service::watchdog_interval().map(tokio::time::interval);
        let mut poll = self.poll_timer();
        // READY carries the first convergence's summary: write it now, not in 250 ms.
        self.status_due = Some(Instant::now());
        self.flush_status();
        service::ready(&self.last_status_line);
        // While another writer fights us, inotify is read at most every FIGHT_READ_PACE: the
        // kernel merges the repeated events meanwhile, so the fight costs no CPU at its pace.
        let mut read_after: Option<Instant> = None;
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                _ = sleep_until(read_after) => read_after = None,
                batch = self.watcher.next_batch(), if read_after.is_none() => {
                    let batch = batch.context("reading inotify events")?;
                    self.on_batch(batch);
                    let now = Instant::now();
                    if self.fights.any_backed_off(now) {
                        read_after = Some(now + FIGHT_READ_PACE);
                    }
                    if poll.is_some() != self.has_polled() {
                        poll = self.poll_timer();
                    }
                }
                _ = hangup.recv() => {
                    self.reload("SIGHUP");
                    poll = self.poll_timer();
                }
                _ = terminate.recv() => break,
                _ = interrupt.recv() => break,
                _ = tick(&mut poll) => self.recheck_polled(),
                _ = tick(&mut watchdog) => service::watchdog(),
                _ = sleep_until(deadline) => self.on_deadline(),
            }
        }
        service::stopping();
        self.status_due = Some(Instant::now());
        self.flush_status();
        Ok(0)
    }

    fn has_polled(&self) -> bool {
        self.polled > 0
    }

    /// The poll timer exists only while some control needs it: no wake-ups otherwise.
    fn poll_timer(&self) -> Option<tokio::time::Interval> {
        self.has_polled().then(|| {
            let mut i = tokio::time::interval(self.cfg.settings.poll_interval);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        })
    }

    /// The earliest of: a fight's back-off end, a waiver's expiry, a pending status write.
    fn next_deadline(&self) -> Option<Instant> {
        let fight = self.fights.next_deadline().map(|(t, _)| t);
        [fight, self.next_waiver_expiry(), self.status_due]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the next active waiver lapses (it applies through its `expires` day, UTC).
    fn next_waiver_expiry(&self) -> Option<Instant> {
        let now = time::OffsetDateTime::now_utc();
        self.engine
            .set
            .waivers
            .iter()
            .filter(|w| w.expires >= self.engine.today)
            .filter_map(|w| w.expires.next_day())
            .map(|day| day.midnight().assume_utc())
            .min()
            .map(|at| {
                let secs = (at - now).whole_milliseconds().max(0);
                Instant::now() + Duration::from_millis(u64::try_from(secs).unwrap_or(0))
            })
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        for id in self.fights.due(now) {
            if let Some(i) = self.index_of(&id) {
                self.evaluate(i, None);
            }
        }
        let today = time::OffsetDateTime::now_utc().date();
        if today != self.engine.today {
            self.engine.today = today;
            let waived: Vec<usize> = (0..self.engine.set.controls.len())
                .filter(|i| {
                    self.engine
                        .set
                        .waiver(&self.engine.set.controls[*i].id)
                        .is_some()
                })
                .collect();
            for i in waived {
                self.evaluate(i, None);
            }
        }
        self.flush_status();
    }

    fn index_of(&self, id: &str) -> Option<usize> {
        self.engine.set.controls.iter().position(|c| c.id == id)
    }

    fn on_batch(&mut self, batch: Batch) {
        let mut affected = BTreeSet::new();
        let mut reload = false;
        for (dir, name) in &batch.changes {
            let Some(interests) = self.interest.get(dir) else {
                continue;
            };
            for interest in interests {
                match interest {
                    Interest::Control(i, None) => {
                        affected.insert(*i);
                    }
                    Interest::Control(i, Some(n)) => {
                        if name.as_ref().is_none_or(|changed| changed == n) {
                            affected.insert(*i);
                        }
                    }
                    Interest::Profiles => reload = true,
                    Interest::Settings(n) => {
                        reload |= name.as_ref().is_none_or(|changed| changed == n);
                    }
                }
            }
        }
        if batch.overflow {
            // The kernel dropped events: look at everything again.
            affected.extend(0..self.engine.set.controls.len());
        }
        self.evaluate_many(affected, batch.read_at);
        if batch.overflow || batch.structural {
            // A directory re-created before its new watch existed sent us nothing: look at
            // every control whose watched directories changed.
            let moved = self.rearm();
            self.evaluate_many(moved, batch.read_at);
        }
        if reload {
            self.reload("profile files changed");
        }
        self.schedule_status();
    }

    /// Re-examines one control, reverting or reporting as its policy says.
    fn evaluate(&mut self, i: usize, event_at: Option<Instant>) {
        self.evaluate_many([i], event_at);
    }

    /// Re-examines controls: each is observed, then the originals of everything to revert are
    /// saved with one durable index write, then the reverts are done. A burst of drifts costs
    /// one fsync of the index, not one per file.
    fn evaluate_many(
        &mut self,
        indexes: impl IntoIterator<Item = usize>,
        event_at: Option<Instant>,
    ) {
        let set = Arc::clone(&self.engine.set);
        let now = Instant::now();
        let mut to_revert = Vec::new();
        for i in indexes {
            let control = &set.controls[i];
            if self.fights.backed_off(&control.id, now) {
                continue;
            }
            let (checked, kept) = self.engine.check_for_fix(control);
            self.note_expired_waiver(&checked);
            if checked.has_fixes() && !checked.is_waived() && self.enforcing(control.policy) {
                // Only a lone revert uses the lookups its check kept (several are observed
                // again below): a burst must not hold a directory open per drifted file.
                if let Some((_, _, first)) = to_revert.first_mut() {
                    *first = KeptLookups::default();
                    drop(kept);
                    to_revert.push((i, checked, KeptLookups::default()));
                } else {
                    to_revert.push((i, checked, kept));
                }
            } else {
                self.report(&checked);
                self.results.record(i, &checked, &set.controls[i]);
            }
        }
        // With several reverts, one durable index write for all their originals; a single
        // revert saves its own in `perform`.
        let several = to_revert.len() > 1;
        if several {
            let pending: Vec<&ControlResult> = to_revert.iter().map(|(_, r, _)| r).collect();
            self.engine.save_originals(&pending, &mut self.store);
        }
        let mut reverted = false;
        for (i, checked, kept) in to_revert {
            // Observe again right before changing: an earlier revert in this batch may have
            // rewritten a file this control shares (daemon.json), and its fix must start from
            // what is there now, never from a stale copy.
            let fresh = if several {
                Cow::Owned(self.engine.check(&set.controls[i]))
            } else {
                Cow::Borrowed(&checked)
            };
            if !fresh.has_fixes() {
                self.report(&fresh);
                self.results.record(i, &fresh, &set.controls[i]);
                continue;
            }
            let after =
                self.engine
                    .remediate_found(&set.controls[i], fresh, kept, &mut self.store, false);
            self.after_revert(&checked, &after, event_at);
            self.results.record(i, &after, &set.controls[i]);
            reverted = true;
        }
        if reverted {
            self.store.release_index();
        }
    }

    fn after_revert(&mut self, before: &ControlResult, after: &ControlResult, at: Option<Instant>) {
        let mut e = control_event(EventType::DriftReverted, before);
        // Only a fix that failed makes a failed revert: a part that is skipped or in error
        // for other reasons (docker's live part offline, a symlink among a glob's files) does
        // not, and drift again right after a revert is another writer (a fight).
        let reverted = !after
            .parts
            .iter()
            .any(|p| p.status == Status::Error && p.message.starts_with("apply failed"));
        if reverted {
            e.message = format!("{}: {} (reverted)", before.target, before.message);
            e.action = Some(Action::Reverted);
            e.latency_us = at.map(|t| u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
            journal::emit(&e);
            self.metrics.note(&e);
            if after.restart_required {
                let mut r = control_event(EventType::RestartRequired, after);
                r.action = Some(Action::Skipped);
                r.message = format!(
                    "{}: written; the component reads it only at start, so it applies at its next restart (hardend never restarts it)",
                    after.target
                );
                journal::emit(&r);
            }
            self.said.insert(after.id.clone(), Said::of(after));
            let now = Instant::now();
            match self.fights.record_revert(&after.id, now) {
                Verdict::Calm | Verdict::Continues { .. } => {}
                Verdict::Started { backoff } => {
                    let mut f = control_event(EventType::Fight, before);
                    let writers =
                        writers_of(&self.engine.root.host_path(Path::new(&before.target)));
                    f.writer = (!writers.is_empty()).then(|| writers.join(", "));
                    f.action = Some(Action::Skipped);
                    f.message = format!(
                        "{} keeps being changed back after reverts; backing off for {}s, then every time longer",
                        before.target,
                        backoff.as_secs()
                    );
                    journal::emit(&f);
                    self.metrics.note(&f);
                }
            }
        } else {
            let said = Said::of(after);
            if self.said.get(&after.id) != Some(&said) {
                let mut e = control_event(EventType::RevertFailed, after);
                e.action = Some(Action::Failed);
                journal::emit(&e);
                self.metrics.note(&e);
                self.said.insert(after.id.clone(), said);
            }
        }
    }

    /// Report-only handling: one event per distinct non-compliant state, and one when the
    /// control is compliant again.
    fn report(&mut self, r: &ControlResult) {
        let said = Said::of(r);
        let previous = self.said.get(&r.id);
        if previous == Some(&said) {
            return;
        }
        let kind = match r.status {
            Status::Drift => Some(EventType::DriftDetected),
            Status::Conflict => Some(EventType::Conflict),
            Status::Error => Some(EventType::RevertFailed),
            _ if previous.is_some_and(|p| p.status.is_failure()) => Some(EventType::DriftResolved),
            _ => None,
        };
        if let Some(kind) = kind {
            let mut e = control_event(kind, r);
            // Nothing was attempted here: an error found while only observing is reported.
            e.action = Some(match r.status {
                Status::Drift | Status::Conflict | Status::Error => Action::Reported,
                _ => Action::Skipped,
            });
            journal::emit(&e);
            self.metrics.note(&e);
        }
        // Passing states need no memory: the next failure is news either way.
        if r.status.is_failure() {
            self.said.insert(r.id.clone(), said);
        } else {
            self.said.remove(&r.id);
        }
    }

    fn note_expired_waiver(&mut self, r: &ControlResult) {
        if let Some(w) = r.waiver.as_ref().filter(|w| w.expired) {
            if self.expired_waivers_said.insert(r.id.clone()) {
                let mut e = control_event(EventType::WaiverExpired, r);
                e.message = format!(
                    "waiver for {} expired on {} ({})",
                    r.id, w.expires, w.reason
                );
                journal::emit(&e);
            }
        }
    }

    /// Evaluates every control (start, reload, overflow).
    fn converge_all(&mut self, at: Option<Instant>) {
        self.evaluate_many(0..self.engine.set.controls.len(), at);
        self.last_convergence = now_rfc3339();
        self.schedule_status();
    }

    /// The poll tick: each polled control answers the cheap live question; only those whose
    /// live state no longer matches (or that were not passing) are observed in full.
    /// When enforcing, records the original of every existing target of an enforce-policy
    /// control in one durable index write, so that a revert later never waits for the backup
    /// index: the original is the state hardend found when it took charge.
    fn presave_originals(&mut self) {
        if !self.cfg.settings.enforce {
            return;
        }
        let set = Arc::clone(&self.engine.set);
        let mut lookups = Vec::new();
        for control in set.controls.iter().filter(|c| c.policy == Policy::Enforce) {
            for part in self.engine.check(control).parts {
                if !part.target.starts_with('/') || crate::kinds::is_glob(&part.target) {
                    continue;
                }
                let Ok(lookup) = self.engine.root.lookup(Path::new(&part.target)) else {
                    continue;
                };
                if lookup.parent_exists() && !part.target.starts_with("/proc/") {
                    lookups.push((lookup, control.id.as_str()));
                }
            }
        }
        let items: Vec<(&crate::fs::Lookup, &str)> =
            lookups.iter().map(|(l, id)| (l, *id)).collect();
        if let Err(e) = self.store.save_originals(&self.engine.root, &items) {
            tracing::warn!("cannot record the originals ahead of time: {e}");
        }
        drop(lookups);
        self.store.release_index();
    }

    fn recheck_polled(&mut self) {
        let set = Arc::clone(&self.engine.set);
        let ctx = self.engine.context();
        let due: Vec<usize> = (0..set.controls.len())
            .filter(|i| set.controls[*i].spec.kind().polled())
            .filter(|i| {
                let passing = self.results.status[*i] == Some(Status::Pass);
                !(passing && set.controls[*i].spec.kind().live_matches(&ctx) == Some(true))
            })
            .collect();
        if !due.is_empty() {
            self.evaluate_many(due, Some(Instant::now()));
            self.schedule_status();
        }
    }

    /// Recomputes every watch point and watches exactly the directories needed. Returns the
    /// controls that gained a watched directory they did not have.
    fn rearm(&mut self) -> BTreeSet<usize> {
        let mut interest: HashMap<PathBuf, Vec<Interest>> = HashMap::new();
        let root = &self.engine.root;
        for (i, control) in self.engine.set.controls.iter().enumerate() {
            let mut patterns = control.spec.kind().watch_paths();
            // Where the control was last found to live (daemon.json from dockerd's
            // --config-file, the alternative that exists) is watched too.
            if let Some(seen) = self.results.seen.get(&i) {
                patterns.push(seen.clone());
            }
            for pattern in patterns {
                for WatchPoint { dir, name } in watch_points(root, &pattern) {
                    interest
                        .entry(root.host_path(&dir))
                        .or_default()
                        .push(Interest::Control(i, name));
                }
            }
            for path in control.spec.kind().host_watch_paths() {
                for WatchPoint { dir, name } in watch_points(&self.host, &path.to_string_lossy()) {
                    interest
                        .entry(dir)
                        .or_default()
                        .push(Interest::Control(i, name));
                }
            }
        }
        // hardend's own profile directories: any change there reloads. A missing directory
        // is waited for in its nearest existing ancestor.
        for dir in [&self.cfg.sources.dropin_dir, &self.cfg.sources.builtin_dir] {
            if dir.is_dir() {
                interest
                    .entry(dir.clone())
                    .or_default()
                    .push(Interest::Profiles);
            } else {
                for point in watch_points(&self.host, &dir.to_string_lossy()) {
                    interest
                        .entry(point.dir)
                        .or_default()
                        .push(Interest::Profiles);
                }
            }
        }
        if let (Some(dir), Some(name)) = (
            self.cfg.config_path.parent(),
            self.cfg.config_path.file_name(),
        ) {
            interest
                .entry(dir.to_path_buf())
                .or_default()
                .push(Interest::Settings(name.to_os_string()));
        }
        let dirs: BTreeSet<PathBuf> = interest.keys().filter(|d| d.is_dir()).cloned().collect();
        // A control whose own watch points changed (its directory went away and it now waits in
        // the parent, or came back) may have missed events meanwhile: it is looked at again,
        // even when the directory was already watched for another control.
        let before: HashSet<(&PathBuf, usize, Option<&OsString>)> = self
            .interest
            .iter()
            .filter(|(dir, _)| self.watcher.is_watched(dir))
            .flat_map(|(dir, list)| {
                list.iter().filter_map(move |i| match i {
                    Interest::Control(i, name) => Some((dir, *i, name.as_ref())),
                    _ => None,
                })
            })
            .collect();
        let mut moved = BTreeSet::new();
        for (dir, interests) in &interest {
            for i in interests {
                if let Interest::Control(i, name) = i {
                    if !before.contains(&(dir, *i, name.as_ref())) {
                        moved.insert(*i);
                    }
                }
            }
        }
        self.watcher.set_dirs(&dirs);
        // A directory replaced by a new one under the same name keeps its path: ask the
        // watcher which watches it had to renew.
        self.interest = interest;
        moved
    }

    /// Loads the settings and profiles again; a rejected set leaves the last good one in force.
    fn reload(&mut self, why: &str) {
        service::reloading();
        let settings = match Settings::load(&self.cfg.config_path, &self.cfg.trust) {
            Ok(s) => s,
            Err(diags) => {
                reject(&diags, RELOAD_REJECTED);
                self.metrics.note_rejection();
                self.flush_status();
                service::ready(&self.last_status_line);
                return;
            }
        };
        let mut sources = self.cfg.sources.clone();
        sources.builtin = settings.builtin_profiles.clone();
        match profile::load_with_texts(&sources) {
            Ok(loaded) => {
                tracing::info!("reloading profiles ({why})");
                accepted(&self.cfg.state_dir, &loaded);
                let set = loaded.set;
                self.last_good_since = None;
                loaded_event(&set, None);
                self.sandbox.after_reload(&set, settings.sandbox);
                let ids: HashSet<&str> = set.controls.iter().map(|c| c.id.as_str()).collect();
                self.said.retain(|id, _| ids.contains(id.as_str()));
                self.expired_waivers_said
                    .retain(|id| ids.contains(id.as_str()));
                self.fights = Fights::new(settings.fight_limit, settings.fight_window);
                self.results = Results::new(set.controls.len());
                self.polled = count_polled(&set);
                self.engine = Engine::new(Arc::new(set), self.engine.root.clone(), self.cfg.trust);
                self.cfg.settings = settings;
                self.cfg.sources = sources;
                self.converge_all(None);
                self.rearm();
                crate::sys::release_free_memory();
            }
            Err(diags) => {
                reject(&diags, RELOAD_REJECTED);
                self.metrics.note_rejection();
            }
        }
        self.status_due = Some(Instant::now());
        self.flush_status();
        service::ready(&self.last_status_line);
    }

    fn schedule_status(&mut self) {
        self.status_due
            .get_or_insert_with(|| Instant::now() + STATUS_FLUSH);
    }

    /// Writes the status file and STATUS= when due.
    fn flush_status(&mut self) {
        if self.status_due.is_some_and(|t| t > Instant::now()) {
            return;
        }
        self.status_due = None;
        let mut summary: BTreeMap<String, usize> = Status::ALL
            .iter()
            .map(|s| (s.name().to_string(), 0))
            .collect();
        for status in self.results.status.iter().flatten() {
            *summary.entry(status.name().to_string()).or_default() += 1;
        }
        let controls: Vec<ControlStatus> = self.results.details.values().cloned().collect();
        let status = DaemonStatus {
            pid: std::process::id(),
            started_at: self.started_at.clone(),
            updated_at: now_rfc3339(),
            last_convergence: self.last_convergence.clone(),
            enforce: self.cfg.settings.enforce,
            root: self.engine.root.path().to_path_buf(),
            profile_files: self.engine.set.files.clone(),
            last_good_since: self.last_good_since.clone(),
            watched_directories: self.watcher.watched(),
            polled_controls: self.polled,
            sandbox: self.sandbox.status().clone(),
            controls,
            summary,
        };
        if let Err(e) = status.save(&self.cfg.state_dir) {
            tracing::warn!("cannot write the status file: {e}");
        }
        if let Some(path) = &self.cfg.settings.metrics_file {
            let pending = self
                .results
                .details
                .iter()
                .filter(|(_, c)| c.restart_required)
                .map(|(i, _)| *i);
            let gauges = Gauges::of(
                &self.engine.set,
                &self.results.status,
                pending,
                &self.last_convergence,
                self.cfg.settings.enforce,
                self.last_good_since.is_some(),
            );
            self.metrics.write(path, &gauges);
        }
        let line = status.one_line();
        if line != self.last_status_line {
            service::status(&line);
            self.last_status_line = line;
        }
    }
}

/// The last result of every control, kept small.
struct Results {
    status: Vec<Option<Status>>,
    /// Controls that are not passing, in profile order (for the status file).
    details: BTreeMap<usize, ControlStatus>,
    /// Where a control was last found when that is not among its own watch paths
    /// (daemon.json from dockerd's --config-file, a TLS file from `path_from`): watched too.
    seen: HashMap<usize, String>,
}

impl Results {
    fn new(controls: usize) -> Results {
        Results {
            status: vec![None; controls],
            details: BTreeMap::new(),
            seen: HashMap::new(),
        }
    }

    fn record(&mut self, i: usize, r: &ControlResult, control: &crate::profile::Control) {
        self.status[i] = Some(r.status);
        if r.status == Status::Pass {
            self.details.remove(&i);
        } else {
            self.details.insert(i, control_status(r));
        }
        let outside =
            r.target.starts_with('/') && !control.spec.kind().watch_paths().contains(&r.target);
        if outside {
            self.seen.insert(i, r.target.clone());
        } else {
            self.seen.remove(&i);
        }
    }
}

fn count_polled(set: &ProfileSet) -> usize {
    set.controls
        .iter()
        .filter(|c| c.spec.kind().polled())
        .count()
}

fn control_status(r: &ControlResult) -> ControlStatus {
    ControlStatus {
        id: r.id.clone(),
        kind: r.kind.to_string(),
        status: r.status.name().to_string(),
        target: r.target.clone(),
        message: r.message.clone(),
        restart_required: r.restart_required,
    }
}

fn control_event(kind: EventType, r: &ControlResult) -> Event {
    let mut e = Event::new(kind, format!("{}: {}", r.target, r.message));
    e.control = Some(r.id.clone());
    e.control_kind = Some(r.kind);
    e.target = Some(r.target.clone());
    e.expected = Some(r.expected.clone());
    e.actual = Some(r.actual.clone());
    e
}

/// Logs an accepted load's warnings and saves its texts as the last-known-good copy, unless
/// ConfigMap keys were skipped: a set missing a profile must not replace a whole one. Failing
/// to save is worth a warning only.
fn accepted(state_dir: &Path, loaded: &profile::Loaded) {
    for w in loaded.warnings.warnings() {
        tracing::warn!("{w}");
    }
    if !loaded.skipped.is_empty() {
        tracing::warn!(
            "{} ConfigMap key(s) skipped: the last-known-good profile copy is left as it was",
            loaded.skipped.len()
        );
        return;
    }
    if let Err(e) = last_good::save(state_dir, &loaded.texts, &now_rfc3339()) {
        tracing::warn!("cannot keep the last-known-good profile copy: {e}");
    }
}

/// `last_good_since`: the set is the saved copy (accepted then), the files on disk were not.
fn loaded_event(set: &ProfileSet, last_good_since: Option<&str>) {
    let mut message = format!(
        "{} profile file(s), {} control(s), {} waiver(s) in force",
        set.files.len(),
        set.controls.len(),
        set.waivers.len()
    );
    if let Some(at) = last_good_since {
        message.push_str(&format!(
            ", from the last-known-good copy accepted at {at}: the files on disk were rejected"
        ));
    }
    let mut e = Event::new(EventType::ProfileLoaded, message);
    e.file = Some(
        set.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );
    journal::emit(&e);
}

/// What a rejected reload leaves in force.
const RELOAD_REJECTED: &str = "the last good profile set stays in force";

/// One `profile-rejected` event per error, naming file:line:col, and `then`: what happens
/// instead.
fn reject(diags: &Diagnostics, then: &str) {
    for d in diags.errors() {
        let mut e = Event::new(EventType::ProfileRejected, format!("{d}; {then}"));
        e.file = Some(d.location.file.display().to_string());
        e.action = Some(Action::Skipped);
        journal::emit(&e);
    }
}

/// Processes that hold the file open, where the kernel can tell (`/proc/PID/fd`).
fn writers_of(path: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    let me = std::process::id().to_string();
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().to_string();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        if fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
        {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            out.push(format!("pid {pid} ({})", comm.trim_end()));
        }
    }
    out
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
