//! One profile file: TOML text → [`ProfileFile`], every problem reported with its position.

use std::collections::HashMap;
use std::path::Path;

use toml_edit::{ImDocument, Item, TableLike};

use super::model::{Component, Control, Policy, ProfileFile, Waiver};
use super::reader::{Spanned, TableReader};
use crate::diag::{Diagnostics, Location, Source};
use crate::kinds::{KindSpec, KIND_NAMES};

/// Parses one profile file. Returns `None` when anything in it is an error: a file is accepted
/// or rejected whole.
pub fn parse_file(path: &Path, text: &str, diags: &mut Diagnostics) -> Option<ProfileFile> {
    let before = diags.errors().count();
    let source = Source::new(path, text);
    let doc = match ImDocument::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let location = source.location(e.span().map_or(0, |s| s.start));
            let message = e.message().lines().next().unwrap_or("invalid TOML").trim();
            diags.error(location, format!("TOML syntax: {message}"));
            return None;
        }
    };
    let root = doc.as_table();
    let mut top = TableReader::new(&source, root, Some(0..0), "the file", diags);
    let header = top.has("profile");
    let has_controls = top.has("control");
    let has_waivers = top.has("waiver");
    top.finish();

    let mut profile = ProfileHeader::default();
    match root.get("profile") {
        Some(Item::Table(t)) => {
            profile = read_header(&source, t, t.span(), diags);
        }
        Some(other) => diags.error(
            source.location(other.span().map_or(0, |s| s.start)),
            "`profile` must be a table: [profile]",
        ),
        None if header => {}
        None => diags.error(
            source.location(0),
            "missing [profile] table with at least `name`",
        ),
    }

    let mut controls = Vec::new();
    if has_controls {
        for (table, span) in tables_of(&source, root, "control", diags) {
            if let Some(c) = read_control(&source, table, span, &profile, diags) {
                controls.push(c);
            }
        }
    }
    check_duplicate_ids(&controls, diags);

    let mut waivers = Vec::new();
    if has_waivers {
        for (table, span) in tables_of(&source, root, "waiver", diags) {
            if let Some(w) = read_waiver(&source, table, span, diags) {
                waivers.push(w);
            }
        }
    }

    if diags.errors().count() > before {
        return None;
    }
    Some(ProfileFile {
        path: path.to_path_buf(),
        name: profile.name,
        description: profile.description,
        controls,
        waivers,
    })
}

#[derive(Default)]
struct ProfileHeader {
    name: String,
    description: String,
    policy: Option<Policy>,
    requires: Vec<Component>,
}

fn read_header(
    source: &Source,
    table: &dyn TableLike,
    span: Option<std::ops::Range<usize>>,
    diags: &mut Diagnostics,
) -> ProfileHeader {
    let mut r = TableReader::new(source, table, span, "[profile]", diags);
    let name = r.req_str("name").map(|s| s.value).unwrap_or_default();
    let description = r.str("description").map(|s| s.value).unwrap_or_default();
    let policy = read_policy(&mut r);
    let requires = read_requires(&mut r);
    r.finish();
    ProfileHeader {
        name,
        description,
        policy,
        requires,
    }
}

/// The tables of an array of tables (`[[control]]`), or of an array of inline tables.
fn tables_of<'a>(
    source: &Source,
    root: &'a dyn TableLike,
    key: &str,
    diags: &mut Diagnostics,
) -> Vec<(&'a dyn TableLike, Option<std::ops::Range<usize>>)> {
    match root.get(key) {
        Some(Item::ArrayOfTables(a)) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
        Some(Item::Value(toml_edit::Value::Array(a))) => {
            let mut out = Vec::new();
            for v in a.iter() {
                match v.as_inline_table() {
                    Some(t) => out.push((t as &dyn TableLike, t.span())),
                    None => diags.error(
                        source.location(v.span().map_or(0, |s| s.start)),
                        format!("`{key}` entries must be tables: [[{key}]]"),
                    ),
                }
            }
            out
        }
        Some(other) => {
            diags.error(
                source.location(other.span().map_or(0, |s| s.start)),
                format!("`{key}` must be an array of tables: [[{key}]]"),
            );
            Vec::new()
        }
        None => Vec::new(),
    }
}

fn read_policy(r: &mut TableReader) -> Option<Policy> {
    let s = r.str("policy")?;
    match Policy::parse(&s.value) {
        Some(p) => Some(p),
        None => {
            r.error(
                s.location,
                format!(
                    "unknown policy `{}` (expected `enforce` or `report`)",
                    s.value
                ),
            );
            None
        }
    }
}

fn read_requires(r: &mut TableReader) -> Vec<Component> {
    let mut out = Vec::new();
    for s in r.str_list("requires").unwrap_or_default() {
        match Component::parse(&s.value) {
            Some(c) => out.push(c),
            None => r.error(
                s.location,
                format!(
                    "unknown component `{}` in `requires` (known: {})",
                    s.value,
                    Component::ALL.map(|c| c.name()).join(", ")
                ),
            ),
        }
    }
    out
}

fn read_control(
    source: &Source,
    table: &dyn TableLike,
    span: Option<std::ops::Range<usize>>,
    profile: &ProfileHeader,
    diags: &mut Diagnostics,
) -> Option<Control> {
    let mut r = TableReader::new(source, table, span, "[[control]]", diags);
    let id = r.req_str("id");
    if let Some(id) = &id {
        if let Err(why) = check_id(&id.value) {
            r.error(id.location.clone(), why);
        }
    }
    let title = r.req_str("title");
    let kind = r.req_str("kind");
    let policy = read_policy(&mut r);
    let mut requires = profile.requires.clone();
    requires.extend(read_requires(&mut r));
    requires.sort();
    requires.dedup();
    let known_kind = kind
        .as_ref()
        .is_some_and(|k| KIND_NAMES.contains(&k.value.as_str()));
    let spec = match &kind {
        Some(kind) => match KindSpec::parse(&kind.value, &mut r) {
            Some(spec) => Some(spec),
            None if !known_kind => {
                r.error(
                    kind.location.clone(),
                    format!(
                        "unknown kind `{}` (known: {})",
                        kind.value,
                        KIND_NAMES.join(", ")
                    ),
                );
                None
            }
            None => None,
        },
        None => None,
    };
    // An unknown kind's keys are unknown too: the kind is the one error worth reporting.
    if known_kind || kind.is_none() {
        r.finish();
    }
    let id = id?;
    Some(Control {
        id: id.value,
        title: title?.value,
        policy: policy.or(profile.policy).unwrap_or(Policy::Enforce),
        requires,
        spec: spec?,
        origin: id.location,
        profile: profile.name.clone(),
    })
}

/// Control ids appear in journal fields and on command lines: keep them plain.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid control id {id:?}: use letters, digits, `-`, `_` and `.`"
        ))
    }
}

fn check_duplicate_ids(controls: &[Control], diags: &mut Diagnostics) {
    let mut seen: HashMap<&str, &Location> = HashMap::new();
    for c in controls {
        if let Some(first) = seen.get(c.id.as_str()) {
            diags.error(
                c.origin.clone(),
                format!(
                    "duplicate control id `{}` in this file (first defined at {first})",
                    c.id
                ),
            );
        } else {
            seen.insert(&c.id, &c.origin);
        }
    }
}

fn read_waiver(
    source: &Source,
    table: &dyn TableLike,
    span: Option<std::ops::Range<usize>>,
    diags: &mut Diagnostics,
) -> Option<Waiver> {
    let mut r = TableReader::new(source, table, span, "[[waiver]]", diags);
    let control: Option<Spanned<String>> = r.req_str("control");
    let reason = r.req_str("reason");
    if let Some(reason) = &reason {
        if reason.value.trim().is_empty() {
            r.error(
                reason.location.clone(),
                "a waiver needs a non-empty `reason`",
            );
        }
    }
    let expires = if r.has("expires") {
        r.date("expires")
    } else {
        let here = r.here();
        r.error(here, "missing required key `expires` in [[waiver]]");
        None
    };
    r.finish();
    let control = control?;
    Some(Waiver {
        control: control.value,
        reason: reason?.value,
        expires: expires?.value,
        origin: control.location,
    })
}
