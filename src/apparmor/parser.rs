//! `apparmor_parser`: compiling a candidate profile without loading it, naming the profiles it
//! defines, and loading a deployed file into the kernel.
//!
//! The candidate is fed on standard input, so nothing is written anywhere while it is judged
//! (`-Q` skips the kernel load, `-K` the cache, `-S` sends the compiled policy to a pipe that
//! is thrown away). Compiling needs no AppArmor in the running kernel. `#include`s resolve in
//! the host's `/etc/apparmor.d`, as they do when apparmor.service loads the file at boot.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ProfileMode;

/// Where Debian and its derivatives install it.
const PARSERS: &[&str] = &["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"];

/// A parser that hangs (a include loop on a slow disk) must not stall the daemon.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The installed apparmor_parser, if any.
pub fn parser() -> Option<PathBuf> {
    PARSERS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// The names of the top-level profiles the text defines, once it compiles; else the parser's
/// message.
pub fn compile(text: &[u8]) -> Result<Vec<String>, String> {
    let bin = parser().ok_or(
        "apparmor_parser is not installed (package apparmor): the profile cannot be checked",
    )?;
    // The parser's own messages name it ("AppArmor parser error at line 2: ...").
    run(&bin, &["-Q", "-K", "-S"], Some(text))?;
    let names = run(&bin, &["-N"], Some(text)).map_err(|e| format!("apparmor_parser -N: {e}"))?;
    let names: Vec<String> = names
        .lines()
        .map(str::trim)
        // Children (hats) are listed as `parent//child`; the parent's state stands for them.
        .filter(|n| !n.is_empty() && !n.contains("//"))
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err("defines no profile".into());
    }
    Ok(names)
}

/// Loads (or replaces) the profiles of a deployed file in the kernel, in `mode`.
pub fn load(path: &Path, mode: ProfileMode) -> Result<(), String> {
    let bin = parser().ok_or("apparmor_parser is not installed (package apparmor)")?;
    let path = path.to_str().ok_or("the path is not UTF-8")?;
    let mut args = vec!["-r", "-K"];
    if mode == ProfileMode::Complain {
        args.push("-C");
    }
    args.push(path);
    run(&bin, &args, None)
        .map(|_| ())
        .map_err(|e| format!("apparmor_parser {}: {e}", args.join(" ")))
}

/// Runs the parser; its stdout on success, else its stderr without the cache notices it
/// prints on every run where the kernel has no AppArmor.
fn run(bin: &Path, args: &[&str], input: Option<&[u8]>) -> Result<String, String> {
    let mut child = Command::new(bin)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_vec();
        // Written from a thread: the parser may answer before reading everything, and a
        // large profile must not block on a full pipe while we wait for it.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&text);
        });
    }
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(TIMEOUT) {
        Ok(Ok(out)) => out,
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            return Err(format!("no answer within {}s", TIMEOUT.as_secs()));
        }
    };
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Cache read/write disabled"))
        .collect();
    Err(if message.is_empty() {
        format!("failed ({})", out.status)
    } else {
        message.join("; ")
    })
}
