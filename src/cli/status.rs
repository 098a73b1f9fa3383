//! `status`: what the running daemon sees, from the status file it keeps current.

use std::path::Path;

use super::context::Setup;
use super::{ChangeFormat, Cli, EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE};
use crate::daemon::DaemonStatus;
use crate::sandbox::SandboxStatus;

pub fn run(cli: &Cli, format: ChangeFormat) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let status = match DaemonStatus::load(&setup.state_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hardend: no daemon status yet ({e}); is `hardend run` started?");
            return Ok(EXIT_UNUSABLE);
        }
    };
    let running = Path::new(&format!("/proc/{}", status.pid)).exists()
        && std::fs::read_to_string(format!("/proc/{}/comm", status.pid))
            .is_ok_and(|c| c.trim_end() == "hardend");
    match format {
        ChangeFormat::Json => {
            let mut v = serde_json::to_value(&status)?;
            v["running"] = serde_json::Value::Bool(running);
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        ChangeFormat::Text => {
            println!(
                "hardend {} (pid {}, started {}), {} mode",
                if running {
                    "running"
                } else {
                    "not running; last saved state"
                },
                status.pid,
                status.started_at,
                if status.enforce {
                    "enforce"
                } else {
                    "report-only"
                }
            );
            println!(
                "root {}, {} profile file(s), {} watched directories, {} polled control(s)",
                status.root.display(),
                status.profile_files.len(),
                status.watched_directories,
                status.polled_controls
            );
            if let Some(at) = &status.last_good_since {
                println!(
                    "profiles: the last-known-good copy accepted at {at} (the files on disk were rejected; see `hardend validate`)"
                );
            }
            print_sandbox(&status.sandbox);
            for c in status.controls.iter().filter(|c| c.status != "pass") {
                println!("{:<14} {}  {}: {}", c.status, c.id, c.target, c.message);
            }
            println!("{} (updated {})", status.one_line(), status.updated_at);
        }
    }
    let failing = ["drift", "conflict", "error"]
        .iter()
        .any(|s| status.summary.get(*s).copied().unwrap_or(0) > 0);
    Ok(if failing { EXIT_FINDINGS } else { EXIT_OK })
}

/// "sandbox on: capabilities CAP_CHOWN, CAP_FOWNER; no_new_privs; seccomp filter (97 calls)".
fn print_sandbox(s: &SandboxStatus) {
    let on_off = |b: bool| if b { "on" } else { "off" };
    let caps = if s.capabilities.is_empty() {
        "none".to_string()
    } else {
        s.capabilities.join(", ")
    };
    println!(
        "sandbox {}: capabilities {caps}; no_new_privs {}; seccomp filter {}",
        if s.enabled {
            "on"
        } else {
            "off (sandbox = false)"
        },
        on_off(s.no_new_privs),
        if s.seccomp_filter {
            format!("on ({} system calls allowed)", s.allowed_syscalls)
        } else {
            "off".to_string()
        },
    );
    for (cap, controls) in &s.missing_capabilities {
        println!(
            "restart needed: {cap} is not held and is needed by {}",
            controls.join(", ")
        );
    }
}
