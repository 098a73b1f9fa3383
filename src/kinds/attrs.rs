//! Keys shared by the file kinds: paths, owners and modes.

use std::path::{Component, Path};

use crate::fs::{Accounts, Meta};
use crate::profile::reader::{Scalar, Spanned, TableReader};

/// Permission bits, setuid/setgid/sticky included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode(pub u32);

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// Reads a mode: an octal string ("0644", "644", "4755") or a TOML octal integer (0o644).
pub fn read_mode(r: &mut TableReader, key: &'static str) -> Option<Mode> {
    let v = r.str_or_int(key)?;
    let parsed = match &v.value {
        Scalar::Str(s) => parse_mode(s),
        Scalar::Int(i) => u32::try_from(*i).ok().filter(|m| *m <= 0o7777),
    };
    if parsed.is_none() {
        let shown = match &v.value {
            Scalar::Str(s) => format!("{s:?}"),
            Scalar::Int(i) => i.to_string(),
        };
        r.error(
            v.location,
            format!("invalid `{key}` {shown}: expected up to four octal digits, like \"0644\""),
        );
    }
    parsed.map(Mode)
}

pub fn parse_mode(s: &str) -> Option<u32> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return None;
    }
    u32::from_str_radix(digits, 8).ok()
}

/// Reads an owner or group: a name or a number.
pub fn read_account(r: &mut TableReader, key: &'static str) -> Option<String> {
    let v = r.str_or_int(key)?;
    match v.value {
        Scalar::Str(s) if !s.is_empty() && !s.contains([':', '\n', ' ']) => Some(s),
        Scalar::Int(i) if (0..i64::from(u32::MAX)).contains(&i) => Some(i.to_string()),
        _ => {
            r.error(
                v.location,
                format!("invalid `{key}`: expected a name or a number"),
            );
            None
        }
    }
}

/// Reads `path`: one path or a list of alternatives (the first that exists is used). Paths
/// are absolute, with no `.` or `..` parts; globs only where the kind allows them.
pub fn read_paths(r: &mut TableReader, key: &'static str, allow_glob: bool) -> Option<Vec<String>> {
    let list: Vec<Spanned<String>> = r.req_str_list(key)?;
    if list.is_empty() {
        let here = r.here();
        r.error(here, format!("`{key}` must name at least one path"));
        return None;
    }
    let mut ok = true;
    for p in &list {
        if let Err(why) = check_path(&p.value, allow_glob) {
            r.error(
                p.location.clone(),
                format!("invalid `{key}` {:?}: {why}", p.value),
            );
            ok = false;
        }
    }
    ok.then(|| list.into_iter().map(|p| p.value).collect())
}

fn check_path(path: &str, allow_glob: bool) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err("must be absolute".into());
    }
    if Path::new(path)
        .components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
        || path.split('/').any(|c| c == "." || c == "..")
    {
        return Err("must not contain `.` or `..`".into());
    }
    if is_glob(path) {
        if !allow_glob {
            return Err("globs are not allowed for this kind".into());
        }
        glob::Pattern::new(path).map_err(|e| format!("invalid glob: {}", e.msg))?;
    }
    Ok(())
}

pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The keys a config-file kind (docker-daemon, kubelet-config) shares: `key`, `value` (any TOML
/// value) and an optional single `path`.
pub struct KeyValue {
    pub key: Spanned<String>,
    pub value: Spanned<serde_json::Value>,
    pub path: Option<std::path::PathBuf>,
}

/// Reads `key`, `value` and `path`; every problem is reported before `None` is returned.
pub fn read_key_value(r: &mut TableReader, kind: &str) -> Option<KeyValue> {
    let key = r.req_str("key");
    let value = if r.has("value") {
        r.json("value")
    } else {
        let here = r.here();
        r.error(here, "missing required key `value` in [[control]]");
        None
    };
    let path = if r.has("path") {
        match read_paths(r, "path", false) {
            Some(p) if p.len() == 1 => Some(Some(std::path::PathBuf::from(&p[0]))),
            Some(_) => {
                let here = r.here();
                r.error(here, format!("{kind} takes one `path`"));
                None
            }
            None => None,
        }
    } else {
        Some(None)
    };
    Some(KeyValue {
        key: key?,
        value: value?,
        path: path?,
    })
}

/// Why an owner or group name did not resolve: not in the root's account file, or that file
/// could not be read safely (then that is the news, not the name).
pub fn unknown_account(accounts: &Accounts, what: &str, name: &str) -> String {
    let file = if what == "user" { "passwd" } else { "group" };
    let mut message = format!("{what} `{name}` is not in the root's /etc/{file}");
    if let Some(problem) = accounts.problems().first() {
        message.push_str(&format!(
            " (the account files could not be read: {problem})"
        ));
    }
    message
}

/// "root:docker 0660" for messages.
pub fn describe(meta: &Meta, accounts: &Accounts) -> String {
    format!(
        "{}:{} {}",
        accounts
            .user_name(meta.uid)
            .map_or_else(|| meta.uid.to_string(), str::to_string),
        accounts
            .group_name(meta.gid)
            .map_or_else(|| meta.gid.to_string(), str::to_string),
        Mode(meta.mode)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0644"), Some(0o644));
        assert_eq!(parse_mode("4755"), Some(0o4755));
        assert_eq!(parse_mode("644"), Some(0o644));
        assert_eq!(parse_mode("0999"), None);
        assert_eq!(parse_mode("07777"), None);
        assert_eq!(parse_mode("rw-r--r--"), None);
    }

    #[test]
    fn paths() {
        assert!(check_path("/etc/docker/daemon.json", false).is_ok());
        assert!(check_path("etc/docker", false).is_err());
        assert!(check_path("/etc/../shadow", false).is_err());
        assert!(check_path("/etc/docker/certs.d/*/*", false).is_err());
        assert!(check_path("/etc/docker/certs.d/*/*", true).is_ok());
        assert!(check_path("/etc/[abc", true).is_err());
    }
}
