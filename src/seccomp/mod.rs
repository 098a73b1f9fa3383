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
    filter::build(&profile, host)
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

    #[test]
    fn the_cache_answers_the_same() {
        let a = validate(GOOD.as_bytes());
        let b = validate(GOOD.as_bytes());
        assert!(Arc::ptr_eq(&a, &b));
    }
}
