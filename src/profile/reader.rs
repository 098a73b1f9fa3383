//! A reader over one spanned TOML table that remembers which keys were asked for, so that
//! every key nobody asked for is reported as unknown (with a suggestion), and every type error
//! points at the offending value.

use std::collections::BTreeSet;
use std::ops::Range;

use toml_edit::{Item, TableLike, Value};

use crate::diag::{Diagnostics, Location, Source};

/// A value with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub location: Location,
}

pub struct TableReader<'a, 'd> {
    source: &'a Source<'a>,
    table: &'a dyn TableLike,
    span: Option<Range<usize>>,
    /// How the table is written, for messages: `[[control]]`, `[profile]`.
    header: &'static str,
    asked: BTreeSet<&'static str>,
    pub diags: &'d mut Diagnostics,
}

impl<'a, 'd> TableReader<'a, 'd> {
    pub fn new(
        source: &'a Source<'a>,
        table: &'a dyn TableLike,
        span: Option<Range<usize>>,
        header: &'static str,
        diags: &'d mut Diagnostics,
    ) -> Self {
        TableReader {
            source,
            table,
            span,
            header,
            asked: BTreeSet::new(),
            diags,
        }
    }

    pub fn source(&self) -> &'a Source<'a> {
        self.source
    }

    /// Where the table itself starts (for "missing key" errors).
    pub fn here(&self) -> Location {
        self.location(self.span.clone())
    }

    pub fn location(&self, span: Option<Range<usize>>) -> Location {
        self.source.location(span.map_or(0, |s| s.start))
    }

    pub fn error(&mut self, location: Location, message: impl Into<String>) {
        self.diags.error(location, message);
    }

    pub fn warning(&mut self, location: Location, message: impl Into<String>) {
        self.diags.warning(location, message);
    }

    /// Whether the key is present (and marks it as known).
    pub fn has(&mut self, key: &'static str) -> bool {
        self.asked.insert(key);
        self.table.contains_key(key)
    }

    fn take(&mut self, key: &'static str) -> Option<(&'a Item, Location)> {
        self.asked.insert(key);
        let (k, item) = self.table.get_key_value(key)?;
        let span = item.span().or_else(|| k.span());
        Some((item, self.location(span)))
    }

    fn type_error(&mut self, key: &str, location: Location, wanted: &str) {
        self.error(location, format!("`{key}` must be {wanted}"));
    }

    fn missing(&mut self, key: &str) {
        let here = self.here();
        let header = self.header;
        self.error(here, format!("missing required key `{key}` in {header}"));
    }

    pub fn str(&mut self, key: &'static str) -> Option<Spanned<String>> {
        let (item, location) = self.take(key)?;
        match item.as_str() {
            Some(s) => Some(Spanned {
                value: s.to_string(),
                location,
            }),
            None => {
                self.type_error(key, location, "a string");
                None
            }
        }
    }

    pub fn req_str(&mut self, key: &'static str) -> Option<Spanned<String>> {
        if !self.has(key) {
            self.missing(key);
            return None;
        }
        self.str(key)
    }

    pub fn bool(&mut self, key: &'static str) -> Option<Spanned<bool>> {
        let (item, location) = self.take(key)?;
        match item.as_bool() {
            Some(b) => Some(Spanned { value: b, location }),
            None => {
                self.type_error(key, location, "true or false");
                None
            }
        }
    }

    pub fn integer(&mut self, key: &'static str) -> Option<Spanned<i64>> {
        let (item, location) = self.take(key)?;
        match item.as_integer() {
            Some(i) => Some(Spanned { value: i, location }),
            None => {
                self.type_error(key, location, "an integer");
                None
            }
        }
    }

    /// A string, or an integer given as its decimal text (owner = 0, mode = 0o644).
    pub fn str_or_int(&mut self, key: &'static str) -> Option<Spanned<Scalar>> {
        let (item, location) = self.take(key)?;
        let value = match item.as_value() {
            Some(Value::String(s)) => Scalar::Str(s.value().clone()),
            Some(Value::Integer(i)) => Scalar::Int(*i.value()),
            _ => {
                self.type_error(key, location, "a string or an integer");
                return None;
            }
        };
        Some(Spanned { value, location })
    }

    /// One string, or an array of strings.
    pub fn str_list(&mut self, key: &'static str) -> Option<Vec<Spanned<String>>> {
        let (item, location) = self.take(key)?;
        if let Some(s) = item.as_str() {
            return Some(vec![Spanned {
                value: s.to_string(),
                location,
            }]);
        }
        let Some(array) = item.as_array() else {
            self.type_error(key, location, "a string or an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for v in array.iter() {
            let loc = self.location(v.span());
            match v.as_str() {
                Some(s) => out.push(Spanned {
                    value: s.to_string(),
                    location: loc,
                }),
                None => {
                    self.type_error(key, loc, "a string or an array of strings");
                    return None;
                }
            }
        }
        Some(out)
    }

    pub fn req_str_list(&mut self, key: &'static str) -> Option<Vec<Spanned<String>>> {
        if !self.has(key) {
            self.missing(key);
            return None;
        }
        self.str_list(key)
    }

    /// A calendar date: a TOML date (`2027-03-31`) or a string holding one.
    pub fn date(&mut self, key: &'static str) -> Option<Spanned<time::Date>> {
        let (item, location) = self.take(key)?;
        let text = match item.as_value() {
            Some(Value::Datetime(d)) => {
                let d = d.value();
                if d.time.is_some() || d.offset.is_some() {
                    self.error(
                        location,
                        format!("`{key}` must be a date like 2027-03-31, without a time"),
                    );
                    return None;
                }
                d.to_string()
            }
            Some(Value::String(s)) => s.value().clone(),
            _ => {
                self.type_error(key, location, "a date like 2027-03-31");
                return None;
            }
        };
        let format = time::macros::format_description!("[year]-[month]-[day]");
        match time::Date::parse(&text, &format) {
            Ok(value) => Some(Spanned { value, location }),
            Err(_) => {
                self.error(
                    location,
                    format!("`{key}` = {text:?} is not a date (expected YYYY-MM-DD)"),
                );
                None
            }
        }
    }

    /// Any value, as JSON (TOML dates become strings).
    pub fn json(&mut self, key: &'static str) -> Option<Spanned<serde_json::Value>> {
        let (item, location) = self.take(key)?;
        match item_to_json(item) {
            Some(value) => Some(Spanned { value, location }),
            None => {
                self.type_error(key, location, "a value");
                None
            }
        }
    }

    /// Report every key that was never asked for: a typo must not pass silently.
    pub fn finish(self) {
        let header = self.header;
        let mut unknown = Vec::new();
        for (key, item) in self.table.iter() {
            if !self.asked.contains(key) {
                let span = self
                    .table
                    .get_key_value(key)
                    .and_then(|(k, _)| k.span())
                    .or_else(|| item.span());
                unknown.push((key.to_string(), self.location(span)));
            }
        }
        for (key, location) in unknown {
            let hint = closest(&key, self.asked.iter().copied())
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            self.diags
                .error(location, format!("unknown key `{key}` in {header}{hint}"));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scalar {
    Str(String),
    Int(i64),
}

pub fn item_to_json(item: &Item) -> Option<serde_json::Value> {
    match item {
        Item::Value(v) => value_to_json(v),
        Item::Table(t) => Some(serde_json::Value::Object(
            t.iter()
                .filter_map(|(k, v)| Some((k.to_string(), item_to_json(v)?)))
                .collect(),
        )),
        Item::ArrayOfTables(a) => Some(serde_json::Value::Array(
            a.iter()
                .map(|t| item_to_json(&Item::Table(t.clone())))
                .collect::<Option<_>>()?,
        )),
        Item::None => None,
    }
}

fn value_to_json(v: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match v {
        Value::String(s) => J::String(s.value().clone()),
        Value::Integer(i) => J::from(*i.value()),
        Value::Float(f) => serde_json::Number::from_f64(*f.value()).map(J::Number)?,
        Value::Boolean(b) => J::Bool(*b.value()),
        Value::Datetime(d) => J::String(d.value().to_string()),
        Value::Array(a) => J::Array(a.iter().map(value_to_json).collect::<Option<_>>()?),
        Value::InlineTable(t) => J::Object(
            t.iter()
                .map(|(k, v)| Some((k.to_string(), value_to_json(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// The known key nearest to a typo, if it is near enough to be a likely meaning.
fn closest<'k>(word: &str, candidates: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(closest("pth", ["path", "mode"].into_iter()), Some("path"));
        assert_eq!(closest("zzzzzz", ["path", "mode"].into_iter()), None);
    }
}
