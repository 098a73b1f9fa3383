//! What hardend knows about dockerd: daemon.json keys, its command line, its live settings.

pub mod api;
pub mod keys;
pub mod process;

pub use process::Dockerd;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends dockerd SIGHUP and waits (up to 5 s) until its live state shows `key` = `expected`.
/// dockerd re-validates the whole file on reload and keeps its old settings when that fails,
/// so a value that never arrives is an error naming where to look.
pub fn reload(
    pid: u32,
    socket: &Path,
    key: &str,
    expected: &serde_json::Value,
) -> Result<(), String> {
    let raw = i32::try_from(pid).map_err(|_| format!("bad pid {pid}"))?;
    kill(Pid::from_raw(raw), Signal::SIGHUP)
        .map_err(|e| format!("SIGHUP to dockerd pid {pid}: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let live = api::info(socket)
            .ok()
            .and_then(|info| api::live_value(&info, key));
        match live {
            None => return Ok(()),
            Some(v) if api::live_matches(key, &v, expected) => return Ok(()),
            Some(v) if Instant::now() >= deadline => {
                return Err(format!(
                    "dockerd (pid {pid}) still runs with {key} = {v} after SIGHUP; its log says why the reload was refused"
                ))
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}
