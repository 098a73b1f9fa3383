//! Fights: another writer keeps undoing our reverts. After more than `fight_limit` reverts of
//! one control within `fight_window`, hardend backs off exponentially (1 s, 2 s, 4 s … 5 min)
//! instead of reverting at the other writer's pace, and says so once per fight.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct Fight {
    reverts: VecDeque<Instant>,
    backoff: Duration,
    until: Option<Instant>,
}

#[derive(Debug)]
pub struct Fights {
    limit: u32,
    window: Duration,
    by_control: HashMap<String, Fight>,
}

/// What recording a revert means.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Calm,
    /// A fight just started: report it once.
    Started {
        backoff: Duration,
    },
    /// Still fighting: the back-off doubled.
    Continues {
        backoff: Duration,
    },
}

impl Fights {
    pub fn new(limit: u32, window: Duration) -> Fights {
        Fights {
            limit,
            window,
            by_control: HashMap::new(),
        }
    }

    /// Whether the control is backed off at `now`: its events wait for the deadline.
    pub fn backed_off(&self, control: &str, now: Instant) -> bool {
        self.by_control
            .get(control)
            .and_then(|f| f.until)
            .is_some_and(|until| now < until)
    }

    /// Whether any control is backed off at `now`.
    pub fn any_backed_off(&self, now: Instant) -> bool {
        self.by_control
            .values()
            .any(|f| f.until.is_some_and(|u| now < u))
    }

    /// The earliest back-off deadline still ahead, and whose it is.
    pub fn next_deadline(&self) -> Option<(Instant, &str)> {
        self.by_control
            .iter()
            .filter_map(|(id, f)| f.until.map(|u| (u, id.as_str())))
            .min()
    }

    /// Controls whose back-off has ended by `now` (their deadline is cleared).
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        for (id, f) in &mut self.by_control {
            if f.until.is_some_and(|u| u <= now) {
                f.until = None;
                out.push(id.clone());
            }
        }
        out
    }

    /// Records one revert of `control` at `now`.
    pub fn record_revert(&mut self, control: &str, now: Instant) -> Verdict {
        if self.limit == 0 {
            return Verdict::Calm;
        }
        let window = self.window;
        let f = self.by_control.entry(control.to_string()).or_default();
        while f
            .reverts
            .front()
            .is_some_and(|t| now.duration_since(*t) > window)
        {
            f.reverts.pop_front();
        }
        if f.reverts.is_empty() {
            // A quiet window ends a fight.
            f.backoff = Duration::ZERO;
        }
        f.reverts.push_back(now);
        if f.reverts.len() <= self.limit as usize {
            return Verdict::Calm;
        }
        let started = f.backoff.is_zero();
        f.backoff = if started {
            FIRST_BACKOFF
        } else {
            (f.backoff * 2).min(MAX_BACKOFF)
        };
        f.until = Some(now + f.backoff);
        if started {
            Verdict::Started { backoff: f.backoff }
        } else {
            Verdict::Continues { backoff: f.backoff }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_limit_reverts_in_window_start_a_fight_that_backs_off_exponentially() {
        let mut f = Fights::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(
                f.record_revert("c", t0 + Duration::from_millis(i)),
                Verdict::Calm
            );
        }
        let t = t0 + Duration::from_millis(5);
        assert_eq!(
            f.record_revert("c", t),
            Verdict::Started {
                backoff: Duration::from_secs(1)
            }
        );
        assert!(f.backed_off("c", t));
        assert!(!f.backed_off("other", t));
        let later = t + Duration::from_secs(2);
        assert_eq!(f.due(later), vec!["c".to_string()]);
        assert_eq!(
            f.record_revert("c", later),
            Verdict::Continues {
                backoff: Duration::from_secs(2)
            }
        );
    }

    #[test]
    fn zero_limit_turns_detection_off_and_quiet_windows_end_fights() {
        let mut off = Fights::new(0, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..100 {
            assert_eq!(
                off.record_revert("c", t0 + Duration::from_millis(i)),
                Verdict::Calm
            );
        }
        let mut f = Fights::new(1, Duration::from_secs(1));
        f.record_revert("c", t0);
        assert!(matches!(f.record_revert("c", t0), Verdict::Started { .. }));
        let quiet = t0 + Duration::from_secs(5);
        assert_eq!(f.record_revert("c", quiet), Verdict::Calm);
    }
}
