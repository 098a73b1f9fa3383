//! Seccomp profiles in the OCI/Docker JSON format: validated the way a container runtime loads
//! them, before hardend deploys one.
//!
//! [`validate`] parses the JSON into typed structs ([`profile`]), checks what runc and Docker
//! refuse ([`check`]), picks the rules and architectures that apply on this host ([`host`]),
//! and builds the whole filter with libseccomp, exported as BPF ([`filter`]). A syscall name
//! this libseccomp does not know is a warning, not an error: runc skips such rules, and Docker's
//! own default names syscalls that older releases lack. Results depend only on the bytes and
//! the host, so they are cached by content hash: the daemon re-observes on every event.
//!
//! Limits: the filter is built for this host's architecture and kernel, and for a container
//! with the container runtimes' default capability set (see [`host`]); rules that only other
//! capability sets or architectures reach are checked field by field but not compiled.

mod check;
mod filter;
mod host;
mod oci;
pub mod profile;

use std::sync::Arc;

use crate::content_cache::ContentCache;

pub use host::Host;

/// Why a profile cannot be deployed. `place` is a JSON path such as `syscalls[3].action`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    #[error("{}line {line}, column {column}: {message}", path.as_ref().map(|p| format!("{p} at ")).unwrap_or_default())]
    Json {
        path: Option<String>,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{place}: {reason}")]
    Invalid { place: String, reason: String },
    #[error("{place}: libseccomp refused it: {reason}")]
    Libseccomp { place: String, reason: String },
    #[error("exporting the BPF filter: {0}")]
    Export(String),
}

impl SeccompError {
    fn invalid(place: impl Into<String>, reason: impl Into<String>) -> SeccompError {
        SeccompError::Invalid {
            place: place.into(),
            reason: reason.into(),
        }
    }
}

/// A profile that builds into a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    /// BPF instructions (8 bytes each) of the filter for this host.
    pub instructions: usize,
    /// The architectures the filter covers, as the profile names them.
    pub architectures: Vec<&'static str>,
    /// Syscall names this libseccomp cannot resolve: their rules are skipped, so those calls
    /// get `defaultAction`.
    pub unknown_syscalls: Vec<String>,
    /// Docker-only keys by JSON path, with what the rule does without them ([`oci`]).
    pub docker_only: Vec<String>,
}

impl Validated {
    /// One line for reports: size and architectures.
    pub fn summary(&self) -> String {
        format!(
            "the filter builds to {} BPF instructions for {}",
            self.instructions,
            self.architectures.join(", ")
        )
    }

    /// The warning for unknown syscall names, if any.
    pub fn warning(&self) -> Option<String> {
        (!self.unknown_syscalls.is_empty()).then(|| {
            let library = libseccomp::ScmpVersion::current()
                .map(|v| format!("libseccomp {v}"))
                .unwrap_or_else(|_| "this libseccomp".to_string());
            format!(
                "syscall name(s) {library} does not know, skipped as a runtime skips them (those calls get defaultAction): {}",
                self.unknown_syscalls.join(", ")
            )
        })
    }

    /// The warning for a profile the kubelet hands to its runtime, if it uses keys containerd
    /// drops.
    pub fn kubelet_warning(&self) -> Option<String> {
        (!self.docker_only.is_empty()).then(|| {
            format!(
                "Docker-only keys ignored by containerd, which loads kubelet localhost profiles as plain OCI JSON: {}",
                self.docker_only.join("; ")
            )
        })
    }
}

pub type Verdict = Arc<Result<Validated, SeccompError>>;

/// Validates a profile for this host, from the cache when these bytes were seen before.
pub fn validate(bytes: &[u8]) -> Verdict {
    static CACHE: ContentCache<Result<Validated, SeccompError>> = ContentCache::new();
    CACHE.get(
        bytes,
        || validate_uncached(bytes, &Host::current()),
        |_| true,
    )
}

/// Validates a profile for `host`, without the cache.
pub fn validate_uncached(bytes: &[u8], host: &Host) -> Result<Validated, SeccompError> {
    let profile = profile::parse(bytes)?;
    check::check(&profile)?;
    let mut validated = filter::build(&profile, host)?;
    validated.docker_only = oci::docker_only(&profile);
    Ok(validated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> Host {
        Host::current()
    }

    fn run(json: &str) -> Result<Validated, SeccompError> {
        validate_uncached(json.as_bytes(), &host())
    }

    const GOOD: &str = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}
        ]
    }"#;

    #[test]
    fn a_good_profile_builds_into_bpf() {
        let v = run(GOOD).expect("valid");
        assert!(v.instructions > 5, "{v:?}");
        assert!(v.unknown_syscalls.is_empty());
        assert!(v.summary().contains("BPF instructions"), "{}", v.summary());
    }

    #[test]
    fn more_rules_make_a_bigger_filter() {
        let small = run(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#).unwrap();
        let big = run(GOOD).unwrap();
        assert!(big.instructions > small.instructions);
    }

    #[test]
    fn errors_name_their_place() {
        let cases = [
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_FOO"}]}"#,
                "syscalls[0].action",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_VAX"]}"#,
                "architectures[0]",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_LIKE"}]}]}"#,
                "syscalls[0].args[0].op",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":"read","action":"SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].names",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].index",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","errnoRet":1}]}"#,
                "syscalls[0].errnoRet",
            ),
            (
                r#"{"syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
                "defaultAction",
            ),
        ];
        for (json, place) in cases {
            let e = run(json).expect_err(json).to_string();
            assert!(e.contains(place), "{json}: {e}");
        }
    }

    #[test]
    fn malformed_json_names_line_and_column() {
        let e = run("{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n}").unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
    }

    #[test]
    fn unknown_syscall_names_only_warn() {
        let v = run(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","no_such_call_xyz"],"action":"SCMP_ACT_ALLOW"}]}"#).unwrap();
        assert_eq!(v.unknown_syscalls, vec!["no_such_call_xyz".to_string()]);
        assert!(v.warning().unwrap().contains("no_such_call_xyz"));
    }

    #[test]
    fn what_runc_accepts_builds() {
        // Two conditions on one argument: libseccomp refuses them in one rule, runc makes a
        // rule of each.
        run(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"},{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]}]}"#)
            .expect("split into two rules");
        // A rule with the default action: libseccomp refuses it, runc skips it.
        run(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"},{"names":["ptrace"],"action":"SCMP_ACT_ERRNO"}]}"#)
            .expect("skipped");
        // Docker's legacy single `name`.
        run(r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","action":"SCMP_ACT_ALLOW"}]}"#)
            .expect("legacy name");
    }

    #[test]
    fn what_runc_and_docker_refuse_is_an_error() {
        let cases = [
            (r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#, "defaultAction"),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
                "archMap",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"read","names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].name",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":[],"action":"SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0].names",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["write"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "syscalls[0].action",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":70000}"#,
                "defaultErrnoRet",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_FAST"]}"#,
                "flags[0]",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":-1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "syscalls[0].args[0].value",
            ),
        ];
        for (json, place) in cases {
            let e = run(json).expect_err(json).to_string();
            assert!(e.starts_with(place), "{json}: {e}");
        }
    }

    /// Calls the built-in profile must refuse, each with arguments that make the kernel fail
    /// it early with an errno other than EPERM when no filter is in the way (as root), so that
    /// EPERM can only come from the filter: `(name, number, args)`.
    const REFUSED: &[(&str, libc::c_long, [libc::c_long; 5])] = &[
        // An undefined flag bit: EINVAL before any namespace is made.
        (
            "unshare",
            libc::SYS_unshare,
            [(libc::CLONE_NEWUSER | 0x1) as libc::c_long, 0, 0, 0, 0],
        ),
        (
            "setns",
            libc::SYS_setns,
            [-1, libc::CLONE_NEWUSER as libc::c_long, 0, 0, 0],
        ),
        // A target path at address 1: EFAULT.
        ("mount", libc::SYS_mount, [0, 1, 0, 0, 0]),
        // An unknown command: EINVAL.
        ("bpf", libc::SYS_bpf, [9999, 0, 0, 0, 0]),
        // CLONE_NEWUSER with CLONE_FS is refused before any process is made: EINVAL.
        (
            "clone(CLONE_NEWUSER)",
            libc::SYS_clone,
            [
                (libc::CLONE_NEWUSER | libc::CLONE_FS) as libc::c_long,
                0,
                0,
                0,
                0,
            ],
        ),
    ];

    /// Runs the `REFUSED` calls in a forked child, under `bpf` when given; for each, whether it
    /// failed with EPERM.
    fn probe(bpf: Option<&[u8]>) -> Vec<bool> {
        // SAFETY: the child only makes raw system calls and exits, all async-signal-safe.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => unsafe {
                if let Some(bpf) = bpf {
                    let prog = libc::sock_fprog {
                        len: (bpf.len() / 8) as u16,
                        filter: bpf.as_ptr() as *mut libc::sock_filter,
                    };
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                        || libc::syscall(libc::SYS_seccomp, 1 /* SET_MODE_FILTER */, 0, &prog) != 0
                    {
                        libc::_exit(255);
                    }
                }
                let mut eperm = 0;
                for (i, (_, nr, a)) in REFUSED.iter().enumerate() {
                    let r = libc::syscall(*nr, a[0], a[1], a[2], a[3], a[4]);
                    if r == -1 && *libc::__errno_location() == libc::EPERM {
                        eperm |= 1 << i;
                    }
                }
                // An allowed call still works under the filter.
                if libc::syscall(libc::SYS_getppid) <= 0 {
                    libc::_exit(254);
                }
                libc::_exit(eperm);
            },
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).expect("waitpid");
                let nix::sys::wait::WaitStatus::Exited(_, code) = status else {
                    panic!("probe child: {status:?}");
                };
                assert!(code < 254, "probe child failed to set up: exit {code}");
                (0..REFUSED.len()).map(|i| code & (1 << i) != 0).collect()
            }
        }
    }

    #[test]
    fn the_builtin_profile_refuses_namespaces_mounts_and_bpf_as_containerd_loads_it() {
        let json = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/profiles/seccomp/default.json"
        ))
        .unwrap();
        let parsed = profile::parse(&json).unwrap();
        check::check(&parsed).unwrap();
        assert_eq!(
            oci::docker_only(&parsed),
            Vec::<String>::new(),
            "the kubelet copy must be plain OCI JSON"
        );

        // Without a filter each probe fails for another reason than EPERM (tests run as root),
        // so EPERM below comes from the filter.
        let open = probe(None);
        for ((name, ..), eperm) in REFUSED.iter().zip(&open) {
            assert!(
                !eperm,
                "{name} fails with EPERM without a filter: run as root"
            );
        }
        // As containerd hands it to runc: Docker's keys dropped, every rule unconditional.
        let program = filter::program(&oci::plain(&parsed), &host()).unwrap();
        let filtered = probe(Some(&program.bpf));
        for ((name, ..), eperm) in REFUSED.iter().zip(&filtered) {
            assert!(eperm, "{name} is not refused by the built-in profile");
        }
    }

    #[test]
    fn the_cache_answers_the_same() {
        let a = validate(GOOD.as_bytes());
        let b = validate(GOOD.as_bytes());
        assert!(Arc::ptr_eq(&a, &b));
    }
}
