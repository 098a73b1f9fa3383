//! What hardend knows about dockerd: daemon.json keys, its command line, its live settings.

pub mod api;
pub mod keys;
pub mod process;

pub use process::Dockerd;

use std::path::PathBuf;

use crate::fs::{FileType, Root};

/// Where dockerd reads its settings unless `--config-file` says otherwise.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// The daemon.json the running dockerd reads (its `--config-file`), else the default.
pub fn daemon_json_path(dockerd: Option<&Dockerd>) -> PathBuf {
    dockerd
        .filter(|d| d.pid.is_some())
        .and_then(Dockerd::config_file)
        .unwrap_or_else(|| PathBuf::from(DAEMON_JSON))
}

/// A string-valued dockerd option (a TLS file path): the flag dockerd is started with, else
/// the daemon.json key; `None` when neither sets it or daemon.json cannot be read.
pub fn setting(root: &Root, key: &str) -> Option<String> {
    let dockerd = Dockerd::detect(root);
    if let Some(d) = &dockerd {
        if let Some(v) = keys::flags_for(key).into_iter().find_map(|f| d.value(f)) {
            return Some(v.to_string());
        }
    }
    let lookup = root.lookup(&daemon_json_path(dockerd.as_ref())).ok()?;
    if lookup.entry?.file_type != FileType::Regular {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_slice(&lookup.read().ok()?).ok()?;
    doc.get(key)?.as_str().map(str::to_string)
}

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
        let live = match api::info(socket) {
            Ok(info) => api::live_value(&info, key),
            // The API not answering is not a confirmation: try again until the deadline.
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "SIGHUP sent to dockerd (pid {pid}), but its live state could not be read: {e}"
                ))
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
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
