//! One audit rule as auditctl takes it (on its command line, or as a line of a rules file), and
//! its canonical form: what the rule means to the kernel, so that a profile's rule, a line of
//! hardend's rules file and a line of `auditctl -l` compare by meaning, not by spelling.
//!
//! What the canonical form makes equal (each observed with auditctl 3.0.9 on Linux 6.x):
//!
//! - `-a exit,always` and `-a always,exit` (list and action in either order); `-A` (prepend)
//!   and `-a` (append) differ only in where the kernel puts the rule.
//! - `-k x` and `-F key=x`; several keys as a set (`-k a -k b`).
//! - `-S a -S b`, `-S a,b` and `-S b,a` (a set; `auditctl -l` prints kernel order); no `-S` on
//!   the exit list and `-S all` (the kernel gets every syscall either way).
//! - `-p` on a syscall rule and `-F perm=`; permissions as a set (`-p war` lists as `-p rwa`).
//! - A watch without `-p` and `-p rwxa`.
//! - `-a always,exit [-S all] -F path=X -F perm=P` and `-w X -p P` (auditctl lists the first as
//!   the second); `-F dir=` likewise. A watch path's trailing `/` (listed without it).
//! - uid fields (`uid`, `euid`, `suid`, `fsuid`, `auid`, `obj_uid`, and `sessionid`) as 32-bit
//!   values: `4294967295`, `-1` and `unset` are one value; user and group names resolve to ids
//!   through the root's passwd and group files. `loginuid` is `auid`.
//! - Numbers in any base strtol reads (`0x10`, `020`, `16`); `a0`–`a3` as 32-bit values
//!   (`a3=-1` lists as `0xFFFFFFFF`); `exit=-EACCES` and `exit=-13`.
//! - `arch=x86_64` (or `aarch64`, …) and `arch=b64`, `arch=i386` and `arch=b32`.
//! - `filetype=file` and `filetype=32768` (the listing prints the mode bits).
//! - `-C euid!=uid` and `-C uid!=euid`.
//! - The order of `-F` conditions (they are all required at once).
//!
//! Not made equal: syscall numbers and names (`-S 165` lists as `mount`; the number depends on
//! the architecture, so a profile names syscalls), message type numbers and names.

use std::collections::BTreeSet;
use std::fmt;

use super::errno;
use crate::fs::Accounts;

/// The longest key string the kernel takes (all keys of a rule, joined by \x01).
const MAX_KEY_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum List {
    Task,
    Exit,
    User,
    Exclude,
    Filesystem,
    IoUring,
}

impl List {
    fn parse(s: &str) -> Option<List> {
        Some(match s {
            "task" => List::Task,
            "exit" => List::Exit,
            "user" => List::User,
            "exclude" => List::Exclude,
            "filesystem" => List::Filesystem,
            "io_uring" => List::IoUring,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            List::Task => "task",
            List::Exit => "exit",
            List::User => "user",
            List::Exclude => "exclude",
            List::Filesystem => "filesystem",
            List::IoUring => "io_uring",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Never,
    Always,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "always" => Some(Action::Always),
            "never" => Some(Action::Never),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Always => "always",
            Action::Never => "never",
        }
    }
}

/// Watch permissions, a set of r, w, x, a.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Perms(u8);

impl Perms {
    pub const ALL: Perms = Perms(0b1111);
    const LETTERS: [char; 4] = ['r', 'w', 'x', 'a'];

    pub fn parse(s: &str) -> Result<Perms, String> {
        let mut bits = 0u8;
        for c in s.chars() {
            match Self::LETTERS
                .iter()
                .position(|l| *l == c.to_ascii_lowercase())
            {
                Some(i) => bits |= 1 << i,
                None => {
                    return Err(format!(
                        "permission `{c}` in `{s}` is not one of r, w, x, a"
                    ))
                }
            }
        }
        if bits == 0 {
            return Err("empty permissions (give some of r, w, x, a)".into());
        }
        Ok(Perms(bits))
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, l) in Self::LETTERS.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                write!(f, "{l}")?;
            }
        }
        Ok(())
    }
}

/// A comparison operator of `-F` and `-C`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    /// `&`: some of the bits are set.
    Mask,
    /// `&=`: all of the bits are set.
    Test,
}

impl Op {
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
            Op::Mask => "&",
            Op::Test => "&=",
        }
    }

    /// Splits `name OP value` where auditctl does: the two-character operators are looked
    /// for first (`key=a=b` is the key `a=b`).
    fn split(pair: &str) -> Option<(&str, Op, &str)> {
        for (text, op) in [
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("&=", Op::Test),
        ] {
            if let Some(i) = pair.find(text) {
                return Some((&pair[..i], op, &pair[i + 2..]));
            }
        }
        for (c, op) in [('=', Op::Eq), ('>', Op::Gt), ('<', Op::Lt), ('&', Op::Mask)] {
            if let Some(i) = pair.find(c) {
                return Some((&pair[..i], op, &pair[i + 1..]));
            }
        }
        None
    }
}

/// One condition of a syscall or filter rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cond {
    /// `-F name OP value`, the value in canonical form.
    Field { name: String, op: Op, value: String },
    /// `-C left OP right` (two fields of the event compared).
    Compare { left: String, op: Op, right: String },
}

/// What a rule means to the kernel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Canonical {
    /// A file or directory watch (`-w`, or a path/dir + perm rule that auditctl lists as one).
    Watch {
        path: String,
        perms: Perms,
        keys: BTreeSet<String>,
    },
    /// A rule on a filter list.
    Syscall {
        list: List,
        action: Action,
        /// Syscall names; `all` alone for every syscall; empty on lists without syscalls.
        syscalls: BTreeSet<String>,
        conds: BTreeSet<Cond>,
        keys: BTreeSet<String>,
    },
}

impl Canonical {
    /// User and group names resolved to ids through the root's accounts (as auditctl resolves
    /// them when it loads the rule); names that do not resolve stay names.
    pub fn resolved(&self, accounts: &Accounts) -> Canonical {
        let Canonical::Syscall {
            list,
            action,
            syscalls,
            conds,
            keys,
        } = self
        else {
            return self.clone();
        };
        let conds = conds
            .iter()
            .map(|c| match c {
                Cond::Field { name, op, value } if !is_number(value) => {
                    let id = match field_kind(name) {
                        Some(FieldKind::Uid) => accounts.uid(value),
                        Some(FieldKind::Gid) => accounts.gid(value),
                        _ => None,
                    };
                    Cond::Field {
                        name: name.clone(),
                        op: *op,
                        value: id.map_or_else(|| value.clone(), |id| id.to_string()),
                    }
                }
                other => other.clone(),
            })
            .collect();
        Canonical::Syscall {
            list: *list,
            action: *action,
            syscalls: syscalls.clone(),
            conds,
            keys: keys.clone(),
        }
    }
}

/// Shown as `auditctl -l` would list it (arch first, keys last).
impl fmt::Display for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Canonical::Watch { path, perms, keys } => {
                write!(f, "-w {path} -p {perms}")?;
                for k in keys {
                    write!(f, " -k {k}")?;
                }
                Ok(())
            }
            Canonical::Syscall {
                list,
                action,
                syscalls,
                conds,
                keys,
            } => {
                write!(f, "-a {},{}", action.name(), list.name())?;
                let is_arch = |c: &&Cond| matches!(c, Cond::Field { name, .. } if name == "arch");
                for c in conds.iter().filter(is_arch) {
                    write!(f, " {c}")?;
                }
                if !syscalls.is_empty() {
                    let names: Vec<&str> = syscalls.iter().map(String::as_str).collect();
                    write!(f, " -S {}", names.join(","))?;
                }
                for c in conds.iter().filter(|c| !is_arch(c)) {
                    write!(f, " {c}")?;
                }
                for k in keys {
                    write!(f, " -F key={k}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cond::Field { name, op, value } => write!(f, "-F {name}{}{value}", op.text()),
            Cond::Compare { left, op, right } => write!(f, "-C {left}{}{right}", op.text()),
        }
    }
}

/// A parsed rule: the tokens as written (what auditctl is given and the rules file holds) and
/// what they mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    tokens: Vec<String>,
    canonical: Canonical,
}

impl Rule {
    /// Parses a rule as a profile or a rules file gives it; errors say what auditctl (or the
    /// kernel) would refuse.
    pub fn parse(text: &str) -> Result<Rule, String> {
        parse_with(text, false)
    }

    /// Parses a line of `auditctl -l`, which prints a few things it does not take back
    /// (`filetype=32768`) and garbles a watch whose perm field came first (`-p rwa-w /x`).
    pub fn parse_listed(line: &str) -> Result<Rule, String> {
        parse_with(&unscramble(line), true)
    }

    /// The rule as one line: its tokens joined by single spaces.
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }

    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    pub fn canonical(&self) -> &Canonical {
        &self.canonical
    }

    /// Whether two rules mean the same to the kernel (names resolved through `accounts`).
    pub fn same_as(&self, other: &Rule, accounts: &Accounts) -> bool {
        self.canonical == other.canonical
            || self.canonical.resolved(accounts) == other.canonical.resolved(accounts)
    }

    /// A `never` rule: it must come before the `always` rules it makes exceptions to.
    pub fn is_never(&self) -> bool {
        matches!(
            self.canonical,
            Canonical::Syscall {
                action: Action::Never,
                ..
            }
        )
    }

    /// The keys of the rule.
    pub fn keys(&self) -> &BTreeSet<String> {
        match &self.canonical {
            Canonical::Watch { keys, .. } | Canonical::Syscall { keys, .. } => keys,
        }
    }

    /// The paths the kernel must find a parent directory for: a watch's path, `path=` and
    /// `dir=` values.
    pub fn watched_paths(&self) -> Vec<&str> {
        match &self.canonical {
            Canonical::Watch { path, .. } => vec![path.as_str()],
            Canonical::Syscall { conds, .. } => conds
                .iter()
                .filter_map(|c| match c {
                    Cond::Field {
                        name,
                        op: Op::Eq,
                        value,
                    } if name == "path" || name == "dir" => Some(value.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }

    /// Syscalls given by number: `auditctl -l` lists them by name, so they never compare equal.
    pub fn numeric_syscalls(&self) -> Vec<&str> {
        match &self.canonical {
            Canonical::Syscall { syscalls, .. } => syscalls
                .iter()
                .filter(|s| is_number(s))
                .map(String::as_str)
                .collect(),
            Canonical::Watch { .. } => Vec::new(),
        }
    }

    /// The auditctl arguments that delete this rule (`-W` for `-w`, `-d` for `-a`/`-A`): the
    /// kernel deletes the rule whose fields are these, in this order.
    pub fn delete_args(&self) -> Vec<String> {
        let mut out = self.tokens.clone();
        if let Some(first) = out
            .iter_mut()
            .find(|t| matches!(t.as_str(), "-w" | "-a" | "-A"))
        {
            *first = if first == "-w" { "-W" } else { "-d" }.to_string();
        }
        out
    }
}

/// `auditctl -l` prints a watch whose perm field precedes its path field as
/// ` -p rwa-w /path -k key`: put it back as `-w /path -p rwa -k key`.
fn unscramble(line: &str) -> String {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    if tokens.len() >= 3 && tokens[0] == "-p" {
        if let Some(perms) = tokens[1].strip_suffix("-w") {
            let mut out = vec!["-w", tokens[2], "-p", perms];
            out.extend_from_slice(&tokens[3..]);
            return out.join(" ");
        }
    }
    line.to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Uid,
    Gid,
    /// A signed number in any strtol base.
    Number,
    /// A 32-bit value: syscall arguments, the session id (`-1` is 4294967295).
    U32,
    /// A return value: a number or an errno name (`-EACCES`).
    Exit,
    Arch,
    Perm,
    FileType,
    Path,
    MsgType,
    Key,
    Text,
}

fn field_kind(name: &str) -> Option<FieldKind> {
    use FieldKind::*;
    Some(match name {
        "uid" | "euid" | "suid" | "fsuid" | "auid" | "obj_uid" => Uid,
        "gid" | "egid" | "sgid" | "fsgid" | "obj_gid" => Gid,
        "pid" | "ppid" | "pers" | "success" | "devmajor" | "devminor" | "inode"
        | "loginuid_set" | "saddr_fam" => Number,
        "a0" | "a1" | "a2" | "a3" | "sessionid" => U32,
        "exit" => Exit,
        "arch" => Arch,
        "perm" => Perm,
        "filetype" => FileType,
        "path" | "dir" | "exe" => Path,
        "msgtype" => MsgType,
        "key" => Key,
        "obj_user" | "obj_role" | "obj_type" | "obj_lev_low" | "obj_lev_high" | "subj_user"
        | "subj_role" | "subj_type" | "subj_sen" | "subj_clr" | "fstype" | "uringop" => Text,
        _ => return None,
    })
}

/// `loginuid` is auditctl's older name of `auid`.
fn field_alias(name: &str) -> &str {
    if name == "loginuid" {
        "auid"
    } else {
        name
    }
}

const COMPARABLE: &[&str] = &[
    "auid", "uid", "euid", "suid", "fsuid", "obj_uid", "gid", "egid", "sgid", "fsgid", "obj_gid",
];

const ARCHES_64: &[&str] = &[
    "b64", "x86_64", "amd64", "aarch64", "arm64", "ppc64", "ppc64le", "s390x", "riscv64",
];
const ARCHES_32: &[&str] = &[
    "b32",
    "i386",
    "i486",
    "i586",
    "i686",
    "arm",
    "armeb",
    "armv5tejl",
    "armv5tel",
    "armv6l",
    "armv7l",
    "ppc",
    "s390",
];

const FILE_TYPES: &[(&str, i64)] = &[
    ("file", 0o100000),
    ("dir", 0o040000),
    ("socket", 0o140000),
    ("link", 0o120000),
    ("character", 0o020000),
    ("block", 0o060000),
    ("fifo", 0o010000),
];

/// A number as strtol with base 0 reads it: `0x` hex, a leading `0` octal, else decimal.
fn strtol(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let value = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<i64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -value } else { value })
}

fn is_number(s: &str) -> bool {
    strtol(s).is_some()
}

/// The 32-bit value the kernel stores (`-1` is 4294967295).
fn as_u32(n: i64) -> u32 {
    (n & 0xffff_ffff) as u32
}

fn trim_slashes(path: &str) -> String {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        "/".to_string()
    } else {
        t.to_string()
    }
}

/// A value's canonical text (names of users and groups stay names here; see
/// [`Canonical::resolved`]).
fn canonical_value(kind: FieldKind, value: &str) -> String {
    match kind {
        FieldKind::Uid | FieldKind::Gid => {
            if value == "unset" {
                u32::MAX.to_string()
            } else {
                strtol(value).map_or_else(|| value.to_string(), |n| as_u32(n).to_string())
            }
        }
        FieldKind::U32 => {
            strtol(value).map_or_else(|| value.to_string(), |n| as_u32(n).to_string())
        }
        FieldKind::Number => strtol(value).map_or_else(|| value.to_string(), |n| n.to_string()),
        FieldKind::Exit => exit_value(value).map_or_else(|| value.to_string(), |n| n.to_string()),
        FieldKind::Arch => {
            if ARCHES_64.contains(&value) {
                "b64".into()
            } else if ARCHES_32.contains(&value) {
                "b32".into()
            } else {
                value.to_string()
            }
        }
        FieldKind::Perm => {
            Perms::parse(value).map_or_else(|_| value.to_string(), |p| p.to_string())
        }
        FieldKind::FileType => FILE_TYPES
            .iter()
            .find(|(n, _)| *n == value)
            .map(|(_, m)| *m)
            .or_else(|| strtol(value))
            .map_or_else(|| value.to_string(), |m| m.to_string()),
        FieldKind::Path => trim_slashes(value),
        FieldKind::MsgType | FieldKind::Key | FieldKind::Text => value.to_string(),
    }
}

fn exit_value(value: &str) -> Option<i64> {
    if let Some(n) = strtol(value) {
        return Some(n);
    }
    match value.strip_prefix('-') {
        Some(name) => errno::number(name).map(|n| -n),
        None => errno::number(value),
    }
}

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '$'))
}

/// What has been read so far of one rule.
#[derive(Default)]
struct Builder {
    listed: bool,
    watch: Option<String>,
    list: Option<(List, Action)>,
    perms: Option<Perms>,
    syscalls: Vec<String>,
    fields: Vec<(String, Op, String)>,
    compares: Vec<Cond>,
    keys: Vec<String>,
    syscall_added: bool,
    perm_added: bool,
    exe_added: bool,
}

const RULE_OPTIONS: &str = "-w, -p, -k, -a/-A, -S, -F and -C";

fn parse_with(text: &str, listed: bool) -> Result<Rule, String> {
    if text.contains(['"', '\'']) {
        return Err(
            "quotes are not allowed: write the rule as a rules file line, without shell quoting"
                .into(),
        );
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != ' ' && c != '\t')
    {
        return Err("a rule is one line of text without control characters".into());
    }
    let mut tokens: Vec<String> = Vec::new();
    for t in text.split_whitespace() {
        // getopt lets an option's argument stand right after it: `-kdocker`.
        let attached = t.len() > 2
            && t.starts_with('-')
            && !t.starts_with("--")
            && t[1..2].chars().all(|c| "wpkaASFC".contains(c));
        if attached && !tokens.last().is_some_and(|o| takes_argument(o)) {
            tokens.push(t[..2].to_string());
            tokens.push(t[2..].to_string());
        } else {
            tokens.push(t.to_string());
        }
    }
    if tokens.is_empty() {
        return Err("empty rule".into());
    }
    let mut b = Builder {
        listed,
        ..Builder::default()
    };
    let mut i = 0;
    while i < tokens.len() {
        let opt = tokens[i].as_str();
        if takes_argument(opt) {
            let Some(arg) = tokens.get(i + 1) else {
                return Err(format!("`{opt}` needs an argument"));
            };
            b.option(opt, arg)?;
            i += 2;
            continue;
        }
        return Err(match opt {
            "-W" | "-d" | "-D" => format!(
                "`{opt}` deletes rules; a control gives the rule to add (hardend never deletes rules it does not manage)"
            ),
            o if o.starts_with('-') => format!(
                "`{o}` is not a rule option: a rule is made of {RULE_OPTIONS} (audit settings such as -e, -b, -f, -r are not rules)"
            ),
            o => format!("`{o}` is not an option (auditctl: parameter passed without an option given)"),
        });
    }
    let canonical = b.finish()?;
    Ok(Rule { tokens, canonical })
}

fn takes_argument(opt: &str) -> bool {
    matches!(opt, "-w" | "-p" | "-k" | "-a" | "-A" | "-S" | "-F" | "-C")
}

impl Builder {
    fn option(&mut self, opt: &str, arg: &str) -> Result<(), String> {
        match opt {
            "-w" => {
                self.no_rule_yet(opt)?;
                if !arg.starts_with('/') {
                    return Err(format!("`-w {arg}`: the path must start with '/'"));
                }
                self.watch = Some(arg.to_string());
            }
            "-a" | "-A" => {
                self.no_rule_yet(opt)?;
                self.list = Some(parse_list_action(opt, arg)?);
            }
            "-p" => {
                if self.perms.is_some() {
                    return Err("`-p` is given twice".into());
                }
                match self.list {
                    Some((List::Exit, _)) => {}
                    Some(_) => {
                        return Err("`-p` applies to watches and exit-list rules only".into())
                    }
                    None if self.watch.is_none() => {
                        return Err(
                            "`-p` needs a watch (-w PATH) or a syscall rule before it".into()
                        )
                    }
                    None => {}
                }
                self.perms = Some(Perms::parse(arg).map_err(|e| format!("`-p {arg}`: {e}"))?);
                self.perm_added = true;
            }
            "-k" => self.key(arg, "-k")?,
            "-S" => {
                if self.watch.is_some() {
                    return Err(
                        "a watch (-w) takes no -S; for syscalls on a path write -a always,exit -F path=… -S …"
                            .into(),
                    );
                }
                if !matches!(self.list, Some((List::Exit, _))) {
                    return Err("`-S` needs an exit-list rule (-a always,exit) before it".into());
                }
                for name in arg.split(',') {
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    {
                        return Err(format!("`-S {arg}`: `{name}` is not a syscall name"));
                    }
                    self.syscalls.push(name.to_string());
                }
                self.syscall_added = true;
            }
            "-F" => self.field(arg)?,
            "-C" => self.compare(arg)?,
            _ => unreachable!("takes_argument lists the options"),
        }
        Ok(())
    }

    fn no_rule_yet(&self, opt: &str) -> Result<(), String> {
        if self.watch.is_some() || self.list.is_some() {
            return Err(format!(
                "`{opt}` starts a second rule: a control holds exactly one rule"
            ));
        }
        Ok(())
    }

    fn key(&mut self, key: &str, how: &str) -> Result<(), String> {
        if key.is_empty() {
            return Err("empty key".into());
        }
        if self.watch.is_none() && !self.listed {
            let Some((list, _)) = self.list else {
                return Err(format!("`{how}` needs a watch or a syscall rule before it"));
            };
            if !(self.syscall_added
                || self.perm_added
                || self.exe_added
                || list == List::Filesystem)
            {
                return Err(format!(
                    "`{how} {key}` needs a syscall (-S), a permission (-p or -F perm) or -F exe before it (auditctl refuses it)"
                ));
            }
        }
        self.keys.push(key.to_string());
        let total: usize = self.keys.iter().map(|k| k.len() + 1).sum::<usize>() - 1;
        if total > MAX_KEY_LEN {
            return Err(format!(
                "the keys are {total} bytes; the kernel takes at most {MAX_KEY_LEN}"
            ));
        }
        Ok(())
    }

    fn field(&mut self, pair: &str) -> Result<(), String> {
        let Some((name, op, value)) = Op::split(pair) else {
            return Err(format!(
                "`-F {pair}`: expected FIELD=VALUE (or !=, <, >, <=, >=, &, &=)"
            ));
        };
        let name = field_alias(name);
        let Some(kind) = field_kind(name) else {
            return Err(format!("`-F {pair}`: unknown field `{name}`"));
        };
        if value.is_empty() {
            return Err(format!("`-F {pair}`: empty value"));
        }
        if kind == FieldKind::Key {
            if op != Op::Eq {
                return Err(format!("`-F {pair}`: a key is given with `=`"));
            }
            return self.key(value, "-F key=");
        }
        if self.watch.is_some() {
            return Err(format!(
                "`-F {pair}`: a watch (-w) takes only -p and -k; for more conditions write -a always,exit -F path=… -F perm=…"
            ));
        }
        let Some((list, _)) = self.list else {
            return Err(format!("`-F {pair}` needs -a LIST,ACTION before it"));
        };
        let equality = matches!(op, Op::Eq | Op::Ne);
        let only_equality = |what: &str| -> Result<(), String> {
            if equality {
                Ok(())
            } else {
                Err(format!("`-F {pair}`: {what} takes only = or !="))
            }
        };
        match kind {
            FieldKind::Uid | FieldKind::Gid => {
                let ok = strtol(value).is_some()
                    || (kind == FieldKind::Uid && value == "unset")
                    || valid_name(value);
                if !ok {
                    return Err(format!(
                        "`-F {pair}`: expected a {} name or number",
                        if kind == FieldKind::Uid {
                            "user"
                        } else {
                            "group"
                        }
                    ));
                }
            }
            FieldKind::Number | FieldKind::U32 => {
                if strtol(value).is_none() {
                    return Err(format!("`-F {pair}`: `{name}` takes a number"));
                }
            }
            FieldKind::Exit => {
                if exit_value(value).is_none() {
                    return Err(format!(
                        "`-F {pair}`: expected a number or an errno name such as -EACCES"
                    ));
                }
            }
            FieldKind::Arch => {
                only_equality("arch")?;
                if self.syscall_added && !self.listed {
                    return Err(format!(
                        "`-F {pair}` must come before -S (the syscall names depend on it; auditctl refuses it after)"
                    ));
                }
                if !ARCHES_64.contains(&value) && !ARCHES_32.contains(&value) {
                    return Err(format!(
                        "`-F {pair}`: unknown architecture (b64, b32, or a machine name such as x86_64)"
                    ));
                }
            }
            FieldKind::Perm => {
                if op != Op::Eq {
                    return Err(format!("`-F {pair}`: perm takes only ="));
                }
                if list != List::Exit {
                    return Err(format!("`-F {pair}`: perm applies to the exit list only"));
                }
                Perms::parse(value).map_err(|e| format!("`-F {pair}`: {e}"))?;
                self.perm_added = true;
            }
            FieldKind::FileType => {
                only_equality("filetype")?;
                let named = FILE_TYPES.iter().any(|(n, _)| *n == value);
                let listed_number = self.listed && strtol(value).is_some();
                if !(named || listed_number) {
                    return Err(format!(
                        "`-F {pair}`: file types are file, dir, socket, link, character, block, fifo"
                    ));
                }
            }
            FieldKind::Path => {
                only_equality(name)?;
                if !value.starts_with('/') {
                    return Err(format!("`-F {pair}`: the path must start with '/'"));
                }
                if name == "exe" {
                    self.exe_added = true;
                }
            }
            FieldKind::MsgType => {
                if !matches!(list, List::Exclude | List::User) {
                    return Err(format!(
                        "`-F {pair}`: msgtype applies to the exclude and user lists only"
                    ));
                }
            }
            FieldKind::Text => only_equality(name)?,
            FieldKind::Key => unreachable!("handled above"),
        }
        self.fields
            .push((name.to_string(), op, canonical_value(kind, value)));
        Ok(())
    }

    fn compare(&mut self, pair: &str) -> Result<(), String> {
        if self.list.is_none() {
            return Err(format!("`-C {pair}` needs -a LIST,ACTION before it"));
        }
        let Some((left, op, right)) = Op::split(pair) else {
            return Err(format!("`-C {pair}`: expected FIELD=FIELD or FIELD!=FIELD"));
        };
        if !matches!(op, Op::Eq | Op::Ne) {
            return Err(format!("`-C {pair}`: fields compare with = or != only"));
        }
        let (left, right) = (field_alias(left), field_alias(right));
        for f in [left, right] {
            if !COMPARABLE.contains(&f) {
                return Err(format!(
                    "`-C {pair}`: `{f}` cannot be compared (uid and gid fields only)"
                ));
            }
        }
        // Equality is symmetric: the kernel stores one comparison for either order.
        let (left, right) = if left <= right {
            (left, right)
        } else {
            (right, left)
        };
        self.compares.push(Cond::Compare {
            left: left.to_string(),
            op,
            right: right.to_string(),
        });
        Ok(())
    }

    fn finish(self) -> Result<Canonical, String> {
        let keys: BTreeSet<String> = self.keys.into_iter().collect();
        if let Some(path) = self.watch {
            return Ok(Canonical::Watch {
                path: trim_slashes(&path),
                perms: self.perms.unwrap_or(Perms::ALL),
                keys,
            });
        }
        let Some((list, action)) = self.list else {
            return Err(format!(
                "a rule starts with -w PATH (a watch) or -a LIST,ACTION (a syscall or filter rule); this one has only {RULE_OPTIONS}"
            ));
        };
        let mut conds: BTreeSet<Cond> = self
            .fields
            .into_iter()
            .map(|(name, op, value)| Cond::Field { name, op, value })
            .collect();
        conds.extend(self.compares);
        if let Some(p) = self.perms {
            conds.insert(Cond::Field {
                name: "perm".into(),
                op: Op::Eq,
                value: p.to_string(),
            });
        }
        let syscalls: BTreeSet<String> = if list != List::Exit {
            BTreeSet::new()
        } else if self.syscalls.is_empty() || self.syscalls.iter().any(|s| s == "all") {
            // Without -S the exit list gets every syscall (auditctl lists `-S all`).
            BTreeSet::from(["all".to_string()])
        } else {
            self.syscalls.into_iter().collect()
        };
        if let Some(watch) = as_watch(list, action, &syscalls, &conds, &keys) {
            return Ok(watch);
        }
        Ok(Canonical::Syscall {
            list,
            action,
            syscalls,
            conds,
            keys,
        })
    }
}

fn parse_list_action(opt: &str, arg: &str) -> Result<(List, Action), String> {
    let bad = || {
        format!(
            "`{opt} {arg}`: expected LIST,ACTION such as always,exit (lists: task, exit, user, exclude, filesystem, io_uring; actions: always, never)"
        )
    };
    let (a, b) = arg.split_once(',').ok_or_else(bad)?;
    if a == "entry" || b == "entry" {
        return Err(format!(
            "`{opt} {arg}`: the entry list is gone from the kernel; use exit"
        ));
    }
    match (
        List::parse(a),
        Action::parse(b),
        Action::parse(a),
        List::parse(b),
    ) {
        (Some(l), Some(act), _, _) | (_, _, Some(act), Some(l)) => Ok((l, act)),
        _ => Err(bad()),
    }
}

/// An always,exit rule on every syscall whose only conditions are one path (or dir) and the
/// permissions is what `-w` makes, and auditctl lists it as a watch.
fn as_watch(
    list: List,
    action: Action,
    syscalls: &BTreeSet<String>,
    conds: &BTreeSet<Cond>,
    keys: &BTreeSet<String>,
) -> Option<Canonical> {
    if list != List::Exit || action != Action::Always || !syscalls.contains("all") {
        return None;
    }
    if conds.len() != 2 {
        return None;
    }
    let mut path = None;
    let mut perms = None;
    for c in conds {
        match c {
            Cond::Field {
                name,
                op: Op::Eq,
                value,
            } if name == "path" || name == "dir" => path = Some(value.clone()),
            Cond::Field {
                name,
                op: Op::Eq,
                value,
            } if name == "perm" => perms = Perms::parse(value).ok(),
            _ => return None,
        }
    }
    Some(Canonical::Watch {
        path: path?,
        perms: perms?,
        keys: keys.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(text: &str) -> Canonical {
        Rule::parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .canonical
    }

    fn listed(text: &str) -> Canonical {
        Rule::parse_listed(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .canonical
    }

    fn err(text: &str) -> String {
        match Rule::parse(text) {
            Ok(r) => panic!("{text} parsed: {:?}", r.canonical),
            Err(e) => e,
        }
    }

    #[track_caller]
    fn same(a: &str, b: &str) {
        assert_eq!(canon(a), canon(b), "{a}  vs  {b}");
    }

    #[track_caller]
    fn same_listed(rule: &str, listing: &str) {
        assert_eq!(canon(rule), listed(listing), "{rule}  vs listed  {listing}");
    }

    #[track_caller]
    fn differ(a: &str, b: &str) {
        assert_ne!(canon(a), canon(b), "{a}  vs  {b}");
    }

    #[test]
    fn key_option_and_key_field_are_one() {
        same(
            "-a always,exit -F arch=b64 -S mount -k x",
            "-a always,exit -F arch=b64 -S mount -F key=x",
        );
        same("-w /etc/docker -k docker", "-w /etc/docker -F key=docker");
        same_listed(
            "-a always,exit -F arch=b64 -S mount -k mounts",
            "-a always,exit -F arch=b64 -S mount -F key=mounts",
        );
        differ(
            "-a always,exit -F arch=b64 -S mount -k x",
            "-a always,exit -F arch=b64 -S mount -k y",
        );
        // Several keys are a set.
        same_listed(
            "-a always,exit -F arch=b64 -S fchmod -F success=0 -k b -k a",
            "-a always,exit -F arch=b64 -S fchmod -F success=0 -F key=a -F key=b",
        );
        same_listed("-w /x -p x -k a -k b", "-w /x -p x -k a -k b");
    }

    #[test]
    fn unset_auid_has_three_spellings() {
        let listed_form =
            "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=-1 -F key=mounts";
        for spelling in ["4294967295", "-1", "unset"] {
            same_listed(
                &format!(
                    "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!={spelling} -k mounts"
                ),
                listed_form,
            );
        }
        same(
            "-a always,exit -F arch=b64 -S read -F loginuid=5 -k x",
            "-a always,exit -F arch=b64 -S read -F auid=5 -k x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S read -F sessionid!=4294967295 -k x",
            "-a always,exit -F arch=b64 -S read -F sessionid!=-1 -F key=x",
        );
        differ(
            "-a always,exit -F arch=b64 -S read -F auid!=-1 -k x",
            "-a always,exit -F arch=b64 -S read -F auid!=-2 -k x",
        );
    }

    #[test]
    fn syscall_lists_merge_and_reorder() {
        same(
            "-a always,exit -F arch=b64 -S init_module -S delete_module -k modules",
            "-a always,exit -F arch=b64 -S init_module,delete_module -k modules",
        );
        same(
            "-a always,exit -F arch=b64 -S delete_module,init_module -k modules",
            "-a always,exit -F arch=b64 -S init_module -S delete_module -k modules",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S openat,open -S creat -k x",
            "-a always,exit -F arch=b64 -S open,creat,openat -F key=x",
        );
        differ(
            "-a always,exit -F arch=b64 -S open -k x",
            "-a always,exit -F arch=b64 -S open,openat -k x",
        );
        // No -S on the exit list means every syscall, which the listing prints.
        same_listed(
            "-a always,exit -F pid=1 -F exe=/usr/bin/x -k x",
            "-a always,exit -S all -F pid=1 -F exe=/usr/bin/x -F key=x",
        );
    }

    #[test]
    fn list_and_action_in_either_order() {
        same(
            "-a exit,always -F arch=b64 -S mount -k x",
            "-a always,exit -F arch=b64 -S mount -k x",
        );
        same(
            "-A always,exit -F arch=b64 -S mount -k x",
            "-a always,exit -F arch=b64 -S mount -k x",
        );
        same_listed("-a task,never -F uid=0", "-a never,task -F uid=0");
        differ(
            "-a never,exit -F arch=b64 -S mount -k x",
            "-a always,exit -F arch=b64 -S mount -k x",
        );
    }

    #[test]
    fn path_and_perm_rules_list_as_watches() {
        same_listed(
            "-a exit,always -F path=/run/containerd -F perm=war -k docker",
            "-w /run/containerd -p rwa -k docker",
        );
        same_listed(
            "-a always,exit -F dir=/etc/docker -F perm=wa -F key=docker",
            "-w /etc/docker -p wa -k docker",
        );
        same_listed(
            "-a always,exit -S all -F path=/x -F perm=wa -k k",
            "-w /x -p wa -k k",
        );
        // auditctl garbles a watch whose perm field came first.
        same_listed(
            "-a always,exit -F perm=war -F path=/tmp/f3 -k hdx",
            " -p rwa-w /tmp/f3 -k hdx",
        );
        // With any other condition it stays a syscall rule, listed as one.
        same_listed(
            "-a always,exit -F arch=b64 -F path=/x -F perm=wa -k k",
            "-a always,exit -F arch=b64 -S all -F path=/x -F perm=wa -F key=k",
        );
        same_listed(
            "-a always,exit -F path=/x -S all -k k",
            "-a always,exit -S all -F path=/x -F key=k",
        );
        differ("-a always,exit -F path=/x -S all -k k", "-w /x -k k");
        same_listed(
            "-a always,exit -F arch=b64 -S openat -p r -k k",
            "-a always,exit -F arch=b64 -S openat -F perm=r -F key=k",
        );
    }

    #[test]
    fn watch_perms_default_and_compare_as_sets() {
        same_listed(
            "-w /usr/bin/dockerd -k docker",
            "-w /usr/bin/dockerd -p rwxa -k docker",
        );
        same("-w /x -p war -k k", "-w /x -p rwa -k k");
        same("-w /x -p ax -k k", "-w /x -p xa -k k");
        same("-w /x -k k", "-w /x -p awrx -k k");
        differ("-w /x -p wa -k k", "-w /x -p rwa -k k");
        // The listing drops a trailing slash.
        same_listed("-w /etc/docker/ -p wa -k k", "-w /etc/docker -p wa -k k");
        differ("-w /x -k k", "-w /y -k k");
    }

    #[test]
    fn values_as_the_kernel_stores_them() {
        same_listed(
            "-a always,exit -F arch=b64 -S fchownat -F a1=5 -F a2=0x10 -F a3=-1 -k x",
            "-a always,exit -F arch=b64 -S fchownat -F a1=0x5 -F a2=0x10 -F a3=0xFFFFFFFF -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S openat -F a2&0100 -k x",
            "-a always,exit -F arch=b64 -S openat -F a2&0x40 -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S read -F pid>0x10 -F ppid<=010 -k x",
            "-a always,exit -F arch=b64 -S read -F pid>16 -F ppid<=8 -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S fchownat -F exit=-13 -k x",
            "-a always,exit -F arch=b64 -S fchownat -F exit=-EACCES -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S read -F exit=EACCES -k x",
            "-a always,exit -F arch=b64 -S read -F exit=13 -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=x86_64 -S open -k x",
            "-a always,exit -F arch=b64 -S open -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=i386 -S read -k x",
            "-a always,exit -F arch=b32 -S read -F key=x",
        );
        differ(
            "-a always,exit -F arch=b32 -S read -k x",
            "-a always,exit -F arch=b64 -S read -k x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S openat -F exe=/usr/bin/cat -F filetype=file -k x",
            "-a always,exit -F arch=b64 -S openat -F exe=/usr/bin/cat -F filetype=32768 -F key=x",
        );
        same_listed(
            "-a always,exit -F arch=b64 -S read -C euid!=uid -k x",
            "-a always,exit -F arch=b64 -S read -C uid!=euid -F key=x",
        );
        // The order of conditions does not matter.
        same(
            "-a always,exit -F arch=b64 -S read -F gid=0 -F auid!=4294967295 -F uid=0 -F auid>=1000 -k x",
            "-a always,exit -F arch=b64 -S read -F auid>=1000 -F auid!=unset -F uid=0 -F gid=0 -k x",
        );
        same(
            "-a always,exit -F arch=b64 -S read -F key=hd=x6",
            "-a always,exit -F arch=b64 -S read -k hd=x6",
        );
    }

    #[test]
    fn names_resolve_through_the_accounts() {
        let accounts = Accounts::from_text(
            "root:x:0:0::/root:/bin/sh\nsvc:x:4242:4343::/:/bin/sh\n",
            "root:x:0:\nsvcgrp:x:4343:\n",
        );
        let a = Rule::parse("-a always,exit -F arch=b64 -S chown -F uid=svc -F gid=svcgrp -k x")
            .unwrap();
        let b = Rule::parse_listed(
            "-a always,exit -F arch=b64 -S chown -F uid=4242 -F gid=4343 -F key=x",
        )
        .unwrap();
        assert_ne!(a.canonical(), b.canonical());
        assert!(a.same_as(&b, &accounts));
        let c =
            Rule::parse_listed("-a always,exit -F arch=b64 -S chown -F uid=0 -F gid=4343 -F key=x")
                .unwrap();
        assert!(!a.same_as(&c, &accounts));
    }

    #[test]
    fn attached_arguments_as_getopt_reads_them() {
        same("-w /x -p wa -kdocker", "-w /x -p wa -k docker");
        same(
            "-a always,exit -Farch=b64 -Smount -kx",
            "-a always,exit -F arch=b64 -S mount -k x",
        );
    }

    #[test]
    fn listing_and_display_agree() {
        for text in [
            "-w /usr/sbin/dockerd -k docker",
            "-a always,exit -F arch=b64 -S init_module -S delete_module -k modules",
            "-a always,exit -F arch=b64 -S mount -F auid>=1000 -F auid!=unset -k mounts",
            "-a never,task -F uid=0",
        ] {
            let c = canon(text);
            assert_eq!(listed(&c.to_string()), c, "{text} shown as {c}");
        }
        assert_eq!(
            canon("-a always,exit -F arch=b64 -S mount -S umount2 -F auid!=unset -k m").to_string(),
            "-a always,exit -F arch=b64 -S mount,umount2 -F auid!=4294967295 -F key=m"
        );
    }

    #[test]
    fn bad_rules_say_why() {
        assert!(err("").contains("empty"));
        assert!(err("-w usr/bin/dockerd -k docker").contains("must start with '/'"));
        assert!(err("-w /x -p q -k k").contains("`q`"));
        assert!(err("-a always,exit -F arch=b64 -S read -F ouid=1 -k k")
            .contains("unknown field `ouid`"));
        assert!(err("-a always,exit,foo -S read -k k").contains("LIST,ACTION"));
        assert!(err("-a exit -S read -k k").contains("LIST,ACTION"));
        assert!(err("-a entry,always -S read -k k").contains("entry list"));
        assert!(err("-a always,exit -S read -F arch=b64 -k k").contains("before -S"));
        assert!(err("-a always,exit -F pid=2 -k k").contains("needs a syscall"));
        assert!(err("-a always,exit -F pid=2 -F key=k").contains("needs a syscall"));
        assert!(err("-a user,always -F msgtype=1 -S read").contains("exit-list"));
        assert!(err("-a always,exit -F arch=b64 -S read -F msgtype=CWD").contains("msgtype"));
        assert!(err("-e 2").contains("not a rule option"));
        assert!(err("-D").contains("deletes rules"));
        assert!(err("-W /x -k k").contains("deletes rules"));
        assert!(err("-k docker").contains("needs a watch"));
        assert!(err("-w /x -k").contains("needs an argument"));
        assert!(err("-w /x docker").contains("not an option"));
        assert!(err("-w /x -w /y").contains("exactly one rule"));
        assert!(err("-w /x -S read -k k").contains("takes no -S"));
        assert!(err("-w /x -F uid=0 -k k").contains("only -p and -k"));
        assert!(err("-w /x -p r -p w").contains("twice"));
        assert!(err("-w /x -k \"docker\"").contains("quotes"));
        assert!(err("-a always,exit -F arch=b64 -S read -F success=yes -k k").contains("number"));
        assert!(err("-a always,exit -F arch=b64 -S read -F exit=-EFOO -k k").contains("errno"));
        assert!(err("-a always,exit -F arch=sparc -S read -k k").contains("architecture"));
        assert!(err("-a always,exit -F arch=b64 -S Read -k k").contains("syscall name"));
        assert!(
            err("-a always,exit -F arch=b64 -S read -F filetype=32768 -k k").contains("file types")
        );
        assert!(err("-a always,exit -F arch=b64 -S read -C uid!=pid -k k")
            .contains("cannot be compared"));
        assert!(err(&format!("-w /x -k {}", "k".repeat(300))).contains("at most 256"));
        assert!(err("-a always,exit -F arch=b64 -S read -F path<x -k k").contains("only = or !="));
    }

    #[test]
    fn deleting_mirrors_adding() {
        let r = Rule::parse("-w /x -p wa -k k").unwrap();
        assert_eq!(r.delete_args(), ["-W", "/x", "-p", "wa", "-k", "k"]);
        let r = Rule::parse("-A always,exit -F arch=b64 -S mount -k k").unwrap();
        assert_eq!(r.delete_args()[..2], ["-d", "always,exit"]);
    }

    #[test]
    fn strtol_bases() {
        assert_eq!(strtol("0x10"), Some(16));
        assert_eq!(strtol("010"), Some(8));
        assert_eq!(strtol("0"), Some(0));
        assert_eq!(strtol("-1"), Some(-1));
        assert_eq!(strtol("09"), None);
        assert_eq!(strtol("x"), None);
        assert_eq!(strtol(""), None);
    }
}
