//! Owner and group names as the managed root knows them.
//!
//! A profile's `owner = "docker"` means the `docker` group of the tree being hardened, which under
//! `--root` is not the host's: names are resolved in the root's own `/etc/passwd` and
//! `/etc/group`, read through [`Root::lookup`] (symlink-safe, inside the root), never through
//! the host's NSS.
//!
//! # Rules
//! - A string of ASCII digits is a numeric id and needs no table (`"0"`, `"1000"`); useradd
//!   refuses all-digit names, so there is no ambiguity in practice.
//! - The first entry for a name or an id wins, as `getpwnam`/`getpwuid` scanning files do.
//! - A missing file is an empty table. Other read problems also leave the table empty and are
//!   kept in [`Accounts::problems`] for the caller to report.
//!
//! # Known limits
//! - Only the files are read: users from LDAP, sssd or systemd-homed (NSS modules) are unknown;
//!   name them by number.
//! - NIS compat lines (`+`, `-`) are skipped.

use std::collections::HashMap;
use std::path::Path;

use crate::fs::error::FsError;
use crate::fs::Root;

/// One direction-indexed id table (passwd or group).
#[derive(Debug, Default)]
struct Table {
    by_name: HashMap<String, u32>,
    by_id: HashMap<u32, String>,
}

impl Table {
    /// Parses `name:password:id:...` lines.
    fn parse(text: &str) -> Table {
        let mut t = Table::default();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.is_empty()
                || line.starts_with('#')
                || line.starts_with('+')
                || line.starts_with('-')
            {
                continue;
            }
            let mut fields = line.split(':');
            let (Some(name), Some(_pw), Some(id)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(id) = id.parse::<u32>() else { continue };
            if name.is_empty() {
                continue;
            }
            t.by_name.entry(name.to_string()).or_insert(id);
            t.by_id.entry(id).or_insert_with(|| name.to_string());
        }
        t
    }

    fn id(&self, name_or_number: &str) -> Option<u32> {
        match numeric(name_or_number) {
            Some(n) => Some(n),
            None => self.by_name.get(name_or_number).copied(),
        }
    }
}

/// `Some(n)` when the string is all ASCII digits and fits in a u32.
fn numeric(s: &str) -> Option<u32> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// User and group tables of a root.
#[derive(Debug, Default)]
pub struct Accounts {
    users: Table,
    groups: Table,
    problems: Vec<FsError>,
}

impl Accounts {
    /// Reads the root's `/etc/passwd` and `/etc/group`; missing files give empty tables (only
    /// numeric ids resolve then).
    pub fn load(root: &Root) -> Accounts {
        let mut problems = Vec::new();
        let mut read = |p: &str| -> String {
            match root.lookup(Path::new(p)).and_then(|l| {
                if l.exists() {
                    l.read().map(Some)
                } else {
                    Ok(None)
                }
            }) {
                Ok(Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
                Ok(None) => String::new(),
                Err(e) => {
                    problems.push(e);
                    String::new()
                }
            }
        };
        let users = Table::parse(&read("/etc/passwd"));
        let groups = Table::parse(&read("/etc/group"));
        Accounts {
            users,
            groups,
            problems,
        }
    }

    /// Builds tables from passwd and group text (for tests and callers that have the text).
    pub fn from_text(passwd: &str, group: &str) -> Accounts {
        Accounts {
            users: Table::parse(passwd),
            groups: Table::parse(group),
            problems: Vec::new(),
        }
    }

    /// The uid of a user name, or of a number (`"root"`, `"0"`).
    pub fn uid(&self, name_or_number: &str) -> Option<u32> {
        self.users.id(name_or_number)
    }

    /// The gid of a group name, or of a number.
    pub fn gid(&self, name_or_number: &str) -> Option<u32> {
        self.groups.id(name_or_number)
    }

    /// The name of a uid, when the root's passwd has one.
    pub fn user_name(&self, uid: u32) -> Option<&str> {
        self.users.by_id.get(&uid).map(String::as_str)
    }

    /// The name of a gid, when the root's group file has one.
    pub fn group_name(&self, gid: u32) -> Option<&str> {
        self.groups.by_id.get(&gid).map(String::as_str)
    }

    /// Errors met reading the files other than "missing" (an untrusted symlink, a directory
    /// where the file should be): the tables they concern are empty.
    pub fn problems(&self) -> &[FsError] {
        &self.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        # comment\n\
        hardend-test-user:x:4711:4711::/home/t:/bin/sh\n\
        +nisuser::::::\n\
        broken line\n\
        dup:x:5000:5000::/:/bin/sh\n\
        dup:x:5001:5001::/:/bin/sh\n";
    const GROUP: &str = "root:x:0:\ndocker:x:998:alice,bob\nhardend-test-group:x:4712:\n";

    fn root_with_files() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/passwd"), PASSWD).expect("passwd");
        std::fs::write(dir.path().join("etc/group"), GROUP).expect("group");
        let root = Root::open(dir.path(), 0).expect("root");
        (dir, root)
    }

    #[test]
    fn names_resolve_in_the_roots_own_files() {
        let (_d, root) = root_with_files();
        let acc = Accounts::load(&root);
        assert!(acc.problems().is_empty());
        assert_eq!(acc.uid("hardend-test-user"), Some(4711));
        assert_eq!(acc.uid("root"), Some(0));
        assert_eq!(acc.uid("0"), Some(0));
        assert_eq!(acc.uid("12345"), Some(12345));
        assert_eq!(acc.user_name(4711), Some("hardend-test-user"));
        assert_eq!(acc.gid("docker"), Some(998));
        assert_eq!(acc.gid("hardend-test-group"), Some(4712));
        assert_eq!(acc.group_name(998), Some("docker"));
        // First entry wins; NIS and broken lines are skipped.
        assert_eq!(acc.uid("dup"), Some(5000));
        assert_eq!(acc.uid("+nisuser"), None);
        assert_eq!(acc.uid("broken line"), None);
    }

    #[test]
    fn host_only_names_do_not_resolve() {
        let (_d, root) = root_with_files();
        let acc = Accounts::load(&root);
        // "daemon" and "bin" are in the host's /etc/passwd on Debian, not in this root's.
        assert_eq!(acc.uid("daemon"), None);
        assert_eq!(acc.gid("bin"), None);
        assert_eq!(acc.user_name(1), None);
    }

    #[test]
    fn missing_files_mean_numeric_ids_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Root::open(dir.path(), 0).expect("root");
        let acc = Accounts::load(&root);
        assert!(acc.problems().is_empty());
        assert_eq!(acc.uid("root"), None);
        assert_eq!(acc.uid("0"), Some(0));
        assert_eq!(acc.gid("42"), Some(42));
        assert_eq!(acc.uid(""), None);
        assert_eq!(acc.uid("99999999999"), None);
    }

    #[test]
    fn a_directory_at_etc_passwd_is_a_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("etc/passwd")).expect("mkdir");
        let root = Root::open(dir.path(), 0).expect("root");
        let acc = Accounts::load(&root);
        assert_eq!(acc.problems().len(), 1);
        assert!(matches!(acc.problems()[0], FsError::NotAFile { .. }));
    }
}
