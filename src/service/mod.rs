//! The systemd service protocol: sd_notify READY/STATUS/RELOADING/WATCHDOG. Every call is a
//! no-op when `NOTIFY_SOCKET` is unset (hardend run by hand or in a container).

use std::time::Duration;

use sd_notify::NotifyState;

pub fn ready(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
}

pub fn reloading() {
    let _ = sd_notify::notify(false, &[NotifyState::Reloading]);
}

pub fn stopping() {
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
}

pub fn watchdog() {
    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
}

/// The interval to ping the watchdog at (half of `WATCHDOG_USEC`), when systemd asks for one.
/// `WATCHDOG_PID`, when set, must be this process (sd_watchdog_enabled(3): unset means us).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}
