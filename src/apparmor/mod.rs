//! AppArmor profiles: compiled with `apparmor_parser` before hardend deploys one ([`parser`]),
//! and found loaded, in the wanted mode, in the running kernel ([`kernel`]).
//!
//! Compiling depends only on the text (and the host's include files), so verdicts are cached
//! by content hash: the daemon re-observes on every event and must not fork a compiler each
//! time.

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

/// The profile names the text defines, or the parser's reason to reject it.
pub type Verdict = Arc<Result<Vec<String>, String>>;

/// Compiles a candidate profile, from the cache when these bytes were compiled before.
pub fn compile(text: &[u8]) -> Verdict {
    static CACHE: ContentCache<Result<Vec<String>, String>> = ContentCache::new();
    // A missing parser is not the text's fault: ask again next time, it may be installed.
    CACHE.get(
        text,
        || parser::compile(text),
        |_| parser::parser().is_some(),
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
        assert_eq!(*compile(good), Ok(vec!["hardend-unit-good".to_string()]));
        let bad = b"profile hardend-unit-bad {\n  /etc/passwd rwq,\n}\n";
        let e = compile(bad).as_ref().clone().unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("Cache read/write"), "{e}");
    }

    #[test]
    fn every_top_level_profile_is_named_and_an_empty_file_is_refused() {
        let text = b"profile hardend-unit-a {\n  ^hat { /x r, }\n  profile child { /y r, }\n}\n/usr/bin/hardend-unit-b {\n  /z r,\n}\n";
        let mut names = compile(text).as_ref().clone().expect("compiles");
        names.sort();
        assert_eq!(names, ["/usr/bin/hardend-unit-b", "hardend-unit-a"]);
        let e = compile(b"# nothing but a comment\n")
            .as_ref()
            .clone()
            .unwrap_err();
        assert_eq!(e, "defines no profile");
    }
}
