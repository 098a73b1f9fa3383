//! `apparmor_parser`: compiling a candidate profile without loading it, naming the profiles it
//! defines and the modes its text forces, and loading a deployed file into the kernel.
//!
//! The candidate is fed on standard input, so nothing is written anywhere while it is judged
//! (`-Q` skips the kernel load, `-K` the cache, `-S` sends the compiled policy to a pipe that
//! is thrown away). Compiling needs no AppArmor in the running kernel. `#include`s resolve in
//! the host's `/etc/apparmor.d`, as they do when apparmor.service loads the file at boot.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{Compiled, ProfileMode, Rejection};

/// Where Debian and its derivatives install it.
const PARSERS: &[&str] = &["/usr/sbin/apparmor_parser", "/sbin/apparmor_parser"];

/// A parser that hangs (a include loop on a slow disk) must not stall the daemon.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Mode flags a profile's text can carry (`flags=(complain)`), as `-d` prints them.
const MODE_FLAGS: &[&str] = &["complain", "kill", "unconfined", "prompt", "default_allow"];

/// The installed apparmor_parser, if any.
pub fn parser() -> Option<PathBuf> {
    PARSERS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.metadata().is_ok_and(|m| m.is_file()))
}

/// The top-level profiles the text defines and the modes it forces, once it compiles; else
/// the parser's message.
pub fn compile(text: &[u8]) -> Result<Compiled, Rejection> {
    let bin = parser().ok_or_else(|| {
        Rejection::transient(
            "apparmor_parser is not installed (package apparmor): the profile cannot be checked",
        )
    })?;
    // The parser's own messages name it ("AppArmor parser error at line 2: ...").
    run(&bin, &["-Q", "-K", "-S"], Some(text))?;
    let names = run(&bin, &["-N"], Some(text)).map_err(|e| e.context("apparmor_parser -N"))?;
    let names: Vec<String> = names
        .stdout
        .lines()
        .map(str::trim)
        // Children (hats) are listed as `parent//child`; the parent's state stands for them.
        .filter(|n| !n.is_empty() && !n.contains("//"))
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return Err(Rejection::definite("defines no profile"));
    }
    let debug =
        run(&bin, &["-Q", "-K", "-d"], Some(text)).map_err(|e| e.context("apparmor_parser -d"))?;
    let forced = forced_modes(&debug, &names);
    Ok(Compiled { names, forced })
}

/// The mode flags of the top-level profiles in `-d` output. It prints each profile's
/// `Name:\t\tNAME` on stdout and its `Mode: complain` (empty when none; hats too, by their own
/// name, `Mode: complain, Hat`) on stderr, in the same order, so the n-th of each belong
/// together. Rule entries print `Mode:\t` on stdout and are not counted.
fn forced_modes(debug: &Ran, names: &[String]) -> Vec<(String, String)> {
    let profiles = debug
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("Name:"))
        .map(str::trim);
    let modes = debug
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Mode: ").or((l == "Mode:").then_some("")));
    profiles
        .zip(modes)
        .filter(|(name, _)| names.iter().any(|n| n == name))
        .filter_map(|(name, mode)| {
            mode.split(|c: char| c == ',' || c.is_whitespace())
                .find(|w| MODE_FLAGS.contains(w))
                .map(|flag| (name.to_string(), flag.to_string()))
        })
        .collect()
}

/// A run's output, its stderr without the cache notices.
#[derive(Debug)]
struct Ran {
    stdout: String,
    stderr: String,
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
        .map_err(|e| format!("apparmor_parser {}: {}", args.join(" "), e.message))
}

/// Runs the parser; its stdout on success, else its stderr without the cache notices it
/// prints on every run where the kernel has no AppArmor. The refusal is definite only when
/// the parser ran to its end and judged the text: not when it could not start, was killed or
/// timed out, nor when an include it needs is missing (it may be installed later).
fn run(bin: &Path, args: &[&str], input: Option<&[u8]>) -> Result<Ran, Rejection> {
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
        .map_err(|e| Rejection::transient(format!("cannot run {}: {e}", bin.display())))?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        let text = text.to_vec();
        // Written from a thread: the parser may answer before reading everything, and a
        // large profile must not block on a full pipe while we wait for it.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&text);
        });
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, TIMEOUT)?;
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&stderr);
    let stderr: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Cache read/write disabled"))
        .collect();
    if status.success() {
        return Ok(Ran {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: stderr.join("\n"),
        });
    }
    let message: Vec<&str> = stderr.iter().map(|l| l.trim()).collect();
    let message = if message.is_empty() {
        format!("failed ({status})")
    } else {
        message.join("; ")
    };
    // A signal has no exit code; a missing include is "Could not open 'abstractions/x'".
    let definite = status.code().is_some() && !message.contains("Could not open");
    Err(Rejection { message, definite })
}

/// Reads a pipe to its end on a thread, so that neither pipe fills while we wait.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// Waits for the child up to `timeout`, then kills it. The `Child` is not reaped until then,
/// so the kill cannot reach another process that reused its pid.
fn wait(child: &mut Child, timeout: Duration) -> Result<ExitStatus, Rejection> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Rejection::transient(format!(
                    "no answer within {}s",
                    timeout.as_secs()
                )));
            }
            Ok(None) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(Rejection::transient(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_modes_come_from_top_level_profiles_only() {
        let debug = Ran {
            stdout: "----- Debugging built structures -----\nName:\t\t/usr/bin/y\n--- Entries ---\nMode:\tr:r\tName:\t(/z)\n\nName:\t\tx\n--- Entries ---\n\nName:\t\that\n".into(),
            stderr: "Mode: \nMode: complain\nMode: kill, Hat".into(),
        };
        let names = ["/usr/bin/y".to_string(), "x".to_string()];
        assert_eq!(
            forced_modes(&debug, &names),
            [("x".to_string(), "complain".to_string())]
        );
    }

    #[test]
    fn a_killed_or_unstartable_parser_is_no_definite_answer() {
        // `sh -c 'kill -9 $$'` stands in for a parser killed mid-compile.
        let e = run(Path::new("/bin/sh"), &["-c", "kill -9 $$"], None).unwrap_err();
        assert!(!e.definite, "{e:?}");
        let e = run(
            Path::new("/bin/sh"),
            &["-c", "echo 'bad text' >&2; exit 1"],
            None,
        )
        .unwrap_err();
        assert!(e.definite && e.message == "bad text", "{e:?}");
        let e = run(Path::new("/nonexistent/apparmor_parser"), &[], None).unwrap_err();
        assert!(!e.definite && e.message.contains("cannot run"), "{e:?}");
    }

    #[test]
    fn a_hung_parser_is_killed_and_reaped() {
        let mut child = Command::new("/bin/sleep").arg("60").spawn().unwrap();
        let started = Instant::now();
        let e = wait(&mut child, Duration::from_millis(200)).unwrap_err();
        assert!(!e.definite && e.message.starts_with("no answer"), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // Killed and reaped: its status is known, no zombie left behind.
        let status = child.try_wait().unwrap().expect("reaped");
        assert!(status.code().is_none(), "{status:?}");
    }
}
