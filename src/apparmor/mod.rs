//! AppArmor profiles: compiled with `apparmor_parser` before hardend deploys one ([`parser`]),
//! and found loaded, in the wanted mode, in the running kernel ([`kernel`]).
//!
//! Compiling depends only on the text (and the host's include files), so verdicts are cached
//! by content hash: the daemon re-observes on every event and must not fork a compiler each
//! time. Only definite verdicts are kept: a parser that could not start, was killed or timed
//! out, or missed an include that may be installed later is asked again next time.

pub mod kernel;
mod parser;

use std::sync::Arc;

use crate::content_cache::ContentCache;

pub use kernel::KernelState;
pub use parser::load;

/// The mode a profile is to run in, as the kernel's profile list names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileMode {
    Enforce,
    Complain,
}

impl ProfileMode {
    pub fn parse(s: &str) -> Option<ProfileMode> {
        match s {
            "enforce" => Some(ProfileMode::Enforce),
            "complain" => Some(ProfileMode::Complain),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProfileMode::Enforce => "enforce",
            ProfileMode::Complain => "complain",
        }
    }
}

/// What a profile text compiles to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// The top-level profiles it defines.
    pub names: Vec<String>,
    /// `(profile, mode)` for each top-level profile whose text forces a mode
    /// (`flags=(complain)`): `apparmor_parser -r` loads it so whatever hardend asks.
    pub forced: Vec<(String, String)>,
}

/// Why the parser gave no profile names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub message: String,
    /// The parser judged the text itself; else (not installed, killed, timed out, an include
    /// missing) asking again may answer otherwise.
    pub definite: bool,
}

impl Rejection {
    fn definite(message: impl Into<String>) -> Rejection {
        Rejection {
            message: message.into(),
            definite: true,
        }
    }

    fn transient(message: impl Into<String>) -> Rejection {
        Rejection {
            message: message.into(),
            definite: false,
        }
    }

    fn context(self, what: &str) -> Rejection {
        Rejection {
            message: format!("{what}: {}", self.message),
            ..self
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Verdict = Arc<Result<Compiled, Rejection>>;

/// Compiles a candidate profile, from the cache when these bytes were compiled before.
pub fn compile(text: &[u8]) -> Verdict {
    static CACHE: ContentCache<Result<Compiled, Rejection>> = ContentCache::new();
    CACHE.get(
        text,
        || parser::compile(text),
        |v| v.as_ref().err().is_none_or(|r| r.definite),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_parser_compiles_a_good_profile_and_names_it() {
        if parser::parser().is_none() {
            panic!("apparmor_parser is missing: install the apparmor package (scripts/lib.sh)");
        }
        let good =
            b"profile hardend-unit-good {\n  /etc/hostname r,\n  deny /proc/sysrq-trigger w,\n}\n";
        let compiled = compile(good).as_ref().clone().expect("compiles");
        assert_eq!(compiled.names, ["hardend-unit-good"]);
        assert!(compiled.forced.is_empty());
        let bad = b"profile hardend-unit-bad {\n  /etc/passwd rwq,\n}\n";
        let e = compile(bad).as_ref().clone().unwrap_err();
        assert!(e.definite);
        assert!(e.message.contains("line 2"), "{e}");
        assert!(!e.message.contains("Cache read/write"), "{e}");
    }

    #[test]
    fn every_top_level_profile_is_named_and_an_empty_file_is_refused() {
        let text = b"profile hardend-unit-a {\n  ^hat { /x r, }\n  profile child { /y r, }\n}\n/usr/bin/hardend-unit-b {\n  /z r,\n}\n";
        let mut names = compile(text).as_ref().clone().expect("compiles").names;
        names.sort();
        assert_eq!(names, ["/usr/bin/hardend-unit-b", "hardend-unit-a"]);
        let e = compile(b"# nothing but a comment\n")
            .as_ref()
            .clone()
            .unwrap_err();
        assert_eq!(e.message, "defines no profile");
    }

    #[test]
    fn a_mode_the_text_forces_is_reported() {
        let text = b"profile hardend-unit-forced flags=(attach_disconnected,complain) {\n  /x r,\n  ^hat flags=(kill) { /y r, }\n}\n";
        let compiled = compile(text).as_ref().clone().expect("compiles");
        assert_eq!(
            compiled.forced,
            [("hardend-unit-forced".to_string(), "complain".to_string())]
        );
    }

    #[test]
    fn a_missing_include_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let include = dir.path().join("later");
        let text = format!(
            "profile hardend-unit-include {{\n  include \"{}\"\n}}\n",
            include.display()
        );
        let first = compile(text.as_bytes());
        let e = first.as_ref().clone().unwrap_err();
        assert!(!e.definite && e.message.contains("Could not open"), "{e}");
        // The include installed later: the same text now compiles.
        std::fs::write(&include, "/etc/hostname r,\n").unwrap();
        let names = compile(text.as_bytes())
            .as_ref()
            .clone()
            .expect("compiles")
            .names;
        assert_eq!(names, ["hardend-unit-include"]);
    }
}
