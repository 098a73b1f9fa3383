//! The seccomp allow-list: the system calls listed in `allowlist` (data, with a reason for
//! each) are allowed, every other one fails with EPERM.
//!
//! Why EPERM and not KILL_PROCESS: a call the list misses (a rare libc fallback, a new
//! auditctl) then fails like a refused permission, the control it served becomes an `error`
//! with that errno in the journal, and every other control stays enforced. A killed daemon
//! would enforce nothing until systemd restarts it, and then die again on the same call.
//! Attempts to leave the sandbox (mount, ptrace, unshare, setns, bpf, module loading, kexec,
//! reboot) are refused either way.
//!
//! The filter is loaded with TSYNC, so it covers every thread the process already has;
//! threads and programs started later inherit it.

use std::collections::BTreeSet;

use libseccomp::{ScmpAction, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};

use super::SandboxError;

/// The allow-list, one or more names per line, `#` starts a reason.
const ALLOWLIST: &str = include_str!("allowlist");

/// The netlink protocol auditctl speaks; no other netlink socket is opened (hardend resolves
/// no names and lists no interfaces, so glibc never asks NETLINK_ROUTE).
const NETLINK_AUDIT: u64 = libc::NETLINK_AUDIT as u64;

/// The signals hardend sends: SIGHUP to dockerd (reload), SIGKILL to a timed-out auditctl or
/// apparmor_parser, SIGABRT to itself when it aborts (glibc's `abort` raises it with tgkill).
const SIGNALS: [libc::c_int; 3] = [libc::SIGHUP, libc::SIGKILL, libc::SIGABRT];

/// The flags of `clone` that make new namespaces: refused, as `unshare` and `setns` are.
const CLONE_NAMESPACES: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET) as u64;

/// Which argument of `clone` holds the flags (s390x swaps the first two).
const CLONE_FLAGS_ARG: u32 = if cfg!(target_arch = "s390x") { 1 } else { 0 };

/// One allow-list entry: a name, and the number where this libseccomp does not know the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub name: String,
    pub number: Option<i32>,
}

/// Parses the allow-list; a malformed line is a programming error caught by the unit tests.
pub fn entries() -> Vec<Entry> {
    let mut out = BTreeSet::new();
    for line in ALLOWLIST.lines() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split_whitespace() {
            let entry = match word.split_once('=') {
                Some((name, number)) => Entry {
                    name: name.to_string(),
                    number: number.parse().ok(),
                },
                None => Entry {
                    name: word.to_string(),
                    number: None,
                },
            };
            out.insert(entry);
        }
    }
    out.into_iter().collect()
}

/// Resolves an entry for the native architecture; `None` when this architecture has no such
/// call (`open`, `stat` and friends exist on x86_64 only).
fn resolve(entry: &Entry) -> Option<ScmpSyscall> {
    match entry.number {
        Some(n) => Some(ScmpSyscall::from(n)),
        None => ScmpSyscall::from_name(&entry.name).ok(),
    }
}

/// The argument values a call is allowed with, for the calls the list narrows: alternatives,
/// each a set of comparisons that must all hold. `None` allows the call with any arguments.
fn conditions(name: &str) -> Option<Vec<Vec<ScmpArgCompare>>> {
    let eq = |arg: u32, value: u64| ScmpArgCompare::new(arg, ScmpCompareOp::Equal, value);
    let family = |f: libc::c_int| u64::try_from(f).expect("address families are positive");
    // The signal is the second argument of kill and tkill, the third of tgkill.
    let signals = |arg: u32| {
        SIGNALS
            .iter()
            .map(|s| vec![eq(arg, u64::try_from(*s).expect("signals are positive"))])
            .collect()
    };
    match name {
        // AF_UNIX: journald, sd_notify, the Docker API. AF_NETLINK: auditctl, audit only.
        // No internet sockets.
        "socket" => Some(vec![
            vec![eq(0, family(libc::AF_UNIX))],
            vec![eq(0, family(libc::AF_NETLINK)), eq(2, NETLINK_AUDIT)],
        ]),
        // Threads and children, never new namespaces.
        "clone" => Some(vec![vec![ScmpArgCompare::new(
            CLONE_FLAGS_ARG,
            ScmpCompareOp::MaskedEqual(CLONE_NAMESPACES),
            0,
        )]]),
        "kill" | "tkill" => Some(signals(1)),
        "tgkill" => Some(signals(2)),
        _ => None,
    }
}

/// Builds the filter and loads it for the whole process; returns how many calls it allows.
/// `no_new_privs` must already be set (the kernel requires it, or CAP_SYS_ADMIN).
pub fn install() -> Result<usize, SandboxError> {
    let fail = |what: &str, e: libseccomp::error::SeccompError| SandboxError::Filter {
        what: what.to_string(),
        reason: e.to_string(),
    };
    let mut filter =
        ScmpFilterContext::new(ScmpAction::Errno(libc::EPERM)).map_err(|e| fail("create", e))?;
    // Loaded for every thread at once; no_new_privs was set by the caller, which reports it.
    filter
        .set_ctl_tsync(true)
        .map_err(|e| fail("set TSYNC", e))?;
    // A binary tree by call number: each of the ~20 calls of a revert walks O(log n) rules,
    // not the whole list (kernels before 5.11 have no per-call cache of the verdict).
    filter
        .set_ctl_optimize(2)
        .map_err(|e| fail("set the binary-tree layout", e))?;
    let mut allowed = 0;
    for entry in entries() {
        let Some(call) = resolve(&entry) else {
            tracing::debug!("sandbox: no system call `{}` here", entry.name);
            continue;
        };
        match conditions(&entry.name) {
            Some(alternatives) => {
                for all_of in alternatives {
                    filter
                        .add_rule_conditional(ScmpAction::Allow, call, &all_of)
                        .map_err(|e| fail(&format!("allow {} with conditions", entry.name), e))?;
                }
            }
            None => {
                filter
                    .add_rule(ScmpAction::Allow, call)
                    .map_err(|e| fail(&format!("allow {}", entry.name), e))?;
            }
        }
        allowed += 1;
    }
    // clone3 passes its flags in memory, out of a filter's sight: ENOSYS makes libc (glibc
    // 2.34+, musl) fall back to clone, as under Docker's default profile.
    if let Ok(clone3) = ScmpSyscall::from_name("clone3") {
        filter
            .add_rule(ScmpAction::Errno(libc::ENOSYS), clone3)
            .map_err(|e| fail("answer clone3 with ENOSYS", e))?;
    }
    filter.load().map_err(|e| fail("load", e))?;
    Ok(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const PROFILE: &str = "profile hardend-filter-test {\n  file,\n  deny /etc/shadow r,\n}\n";

    /// The programs hardend runs, with harmless arguments: list the audit rules, compile an
    /// AppArmor profile without loading it. Each line: program, exit code, whether it printed.
    /// Both must be installed (`auditd` and `apparmor` are in TEST_PACKAGES): without them the
    /// comparison would hold trivially.
    fn run_programs(dir: &std::path::Path) -> Vec<String> {
        let profile = dir.join("profile");
        std::fs::write(&profile, PROFILE).expect("write the profile");
        let profile = profile.to_string_lossy().into_owned();
        let runs: [(&str, Vec<&str>); 2] = [
            ("/usr/sbin/auditctl", vec!["-l"]),
            (
                "/usr/sbin/apparmor_parser",
                vec!["-Q", "-K", "-S", &profile],
            ),
        ];
        runs.iter()
            .map(|(bin, args)| {
                assert!(
                    std::path::Path::new(bin).exists(),
                    "{bin} is missing (scripts/test installs auditd and apparmor)"
                );
                let out = Command::new(bin)
                    .args(args)
                    .output()
                    .expect("run the program");
                // Whether it printed, not how much: the live audit rules may change meanwhile.
                format!(
                    "program-result: {bin} exit={:?} printed={}",
                    out.status.code(),
                    !out.stdout.is_empty()
                )
            })
            .collect()
    }

    /// The child half of [`programs_behave_the_same_under_the_filter`]: a no-op unless the
    /// parent set the variable, so the test runner itself is never filtered.
    #[test]
    fn filtered_child() {
        let Some(dir) = std::env::var_os("HARDEND_TEST_FILTER_DIR") else {
            return;
        };
        nix::sys::prctl::set_no_new_privs().expect("no_new_privs");
        install().expect("install the filter");
        for line in run_programs(std::path::Path::new(&dir)) {
            println!("{line}");
        }
        // Threads still start (clone3 answers ENOSYS, libc falls back to clone) ...
        let joined = std::thread::spawn(|| 42).join().expect("join the thread");
        println!("thread-result: {joined}");
        // ... while a new namespace is refused.
        let unshare = Command::new("unshare").args(["-n", "true"]).output();
        println!(
            "unshare-result: {}",
            unshare.map_or("not run".to_string(), |o| o.status.success().to_string())
        );
        // Netlink for audit only.
        for (name, protocol) in [
            ("audit", libc::NETLINK_AUDIT),
            ("route", libc::NETLINK_ROUTE),
        ] {
            println!("netlink-{name}: {}", errno_name(open_netlink(protocol)));
        }
        // SIGHUP and SIGKILL to a child are allowed; signal 0 (a probe hardend never sends)
        // is not.
        let mut child = Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("spawn sleep");
        let pid = nix::unistd::Pid::from_raw(child.id().try_into().expect("a pid"));
        let probe = nix::sys::signal::kill(pid, None);
        println!("signal-0: {}", errno_name(probe));
        let hup = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP);
        println!("signal-hup: {}", errno_name(hup));
        // Not yet reaped, so the pid is still the child's.
        let kill = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        println!("signal-kill: {}", errno_name(kill));
        let _ = child.wait();
    }

    /// Opens and closes a netlink socket of `protocol`.
    fn open_netlink(protocol: libc::c_int) -> nix::Result<()> {
        // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
        let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_RAW, protocol) };
        if fd < 0 {
            return Err(nix::errno::Errno::last());
        }
        // SAFETY: `fd` was just opened here and is owned by nothing else.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        Ok(())
    }

    fn errno_name(r: nix::Result<()>) -> String {
        match r {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn programs_behave_the_same_under_the_filter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let unfiltered = run_programs(dir.path());
        let out = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "sandbox::filter::tests::filtered_child",
                "--nocapture",
            ])
            .args(["--test-threads=1"])
            .env("HARDEND_TEST_FILTER_DIR", dir.path())
            .output()
            .expect("run the child");
        assert!(out.status.success(), "{out:?}");
        let filtered: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            // libtest writes "test NAME ... " before the child's first line.
            .filter_map(|l| l.find("program-result: ").map(|at| l[at..].to_string()))
            .collect();
        assert_eq!(filtered, unfiltered);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("thread-result: 42"), "{stdout}");
        assert!(stdout.contains("unshare-result: false"), "{stdout}");
        for line in [
            "netlink-audit: ok",
            "netlink-route: EPERM",
            "signal-hup: ok",
            "signal-kill: ok",
            "signal-0: EPERM",
        ] {
            assert!(stdout.contains(line), "{line}: {stdout}");
        }
    }

    #[test]
    fn every_entry_is_a_known_system_call_here() {
        let entries = entries();
        assert!(entries.len() > 80, "{entries:?}");
        for e in &entries {
            assert!(
                e.name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "bad name {e:?}"
            );
            // x86_64 has every name on the list, including the legacy ones.
            #[cfg(target_arch = "x86_64")]
            assert!(resolve(e).is_some(), "libseccomp does not know {e:?}");
        }
    }

    #[test]
    fn leaving_the_sandbox_is_not_on_the_list() {
        let names: Vec<String> = entries().into_iter().map(|e| e.name).collect();
        for forbidden in [
            "mount",
            "umount2",
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "unshare",
            "setns",
            "clone3",
            "bpf",
            "init_module",
            "finit_module",
            "kexec_load",
            "reboot",
            "capset",
            "setuid",
            "bind",
            "listen",
        ] {
            assert!(
                !names.iter().any(|n| n == forbidden),
                "{forbidden} is allowed"
            );
        }
    }
}
