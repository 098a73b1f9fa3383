//! Minimal edits of a YAML document: set one dotted key and leave every other byte alone.
//!
//! The kubelet's config file is written by people and by kubeadm, with comments and an order
//! that matter to whoever reads it next. So the document is never re-serialised: it is parsed
//! into events with their positions (yaml-rust2's `Parser` with a `MarkedEventReceiver`), the
//! dotted path is walked through the block mappings, and the text is spliced at the few places
//! that must change:
//! - a scalar value is replaced in place (a trailing ` # comment` stays; quoted, tagged,
//!   multi-line and block scalars are replaced whole);
//! - a block collection value is replaced line by line, at its old indentation;
//! - a missing key is inserted after the last line of its parent block mapping, at the
//!   parent's indentation, with any missing parent mappings created on the way;
//! - a parent that is empty (`key:`, `key: ~`, `key: {}`) is replaced by a block mapping.
//!
//! What cannot be edited safely is refused, never guessed: a non-empty flow mapping on the
//! path, anchors and aliases on the path, tabs on the lines touched, complex keys, duplicate
//! keys. Every edit is then VERIFIED: the new text is parsed again and must read as the old
//! document with exactly that one key changed (both compared as JSON trees); otherwise the edit
//! is an error and nothing is written.
//!
//! Scalars are read as the kubelet reads them: sigs.k8s.io/yaml converts YAML to JSON with
//! YAML 1.1 rules (`yes`/`on` are booleans, `0755` is octal), so values are rendered in a form
//! that every YAML reader takes the same way: strings that another reader might take for a
//! boolean, number or null are double-quoted.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Why a document cannot be read or edited.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlError {
    /// Not valid YAML; 1-based line and column.
    Syntax {
        line: usize,
        col: usize,
        message: String,
    },
    /// More than one document in the file; the line where the second starts.
    MultipleDocuments { line: usize },
    /// The top level is not a mapping.
    TopLevel { found: &'static str },
    /// A key on the path holds something that is not a mapping.
    NotMapping { key: String, found: &'static str },
    /// A key on the path appears more than once in its mapping.
    DuplicateKey { key: String, line: usize },
    /// Something the editor does not change safely; 1-based line.
    Unsafe { line: usize, reason: String },
    /// The edited text did not read back as the intended document.
    Verify(String),
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            YamlError::Syntax { line, col, message } => {
                write!(f, "line {line} column {col}: invalid YAML: {message}")
            }
            YamlError::MultipleDocuments { line } => write!(
                f,
                "line {line}: a second YAML document starts here; the kubelet reads one KubeletConfiguration document per file"
            ),
            YamlError::TopLevel { found } => {
                write!(f, "the top level is {found}, not a mapping")
            }
            YamlError::NotMapping { key, found } => {
                write!(f, "`{key}` is {found}, not a mapping, so no key can be set below it")
            }
            YamlError::DuplicateKey { key, line } => {
                write!(f, "line {line}: `{key}` appears more than once in its mapping")
            }
            YamlError::Unsafe { line, reason } => {
                write!(f, "line {line}: {reason}; hardend edits only what it can edit safely")
            }
            YamlError::Verify(why) => write!(f, "edit not verified: {why}"),
        }
    }
}

impl std::error::Error for YamlError {}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    /// Anchor id (0: none).
    anchor: usize,
    tag: Option<Tag>,
    /// Indexes of the node's first and last events.
    first: usize,
    last: usize,
}

#[derive(Debug, Clone)]
enum NodeKind {
    Scalar {
        value: String,
        style: TScalarStyle,
    },
    Map {
        flow: bool,
        entries: Vec<(Node, Node)>,
    },
    Seq {
        flow: bool,
        items: Vec<Node>,
    },
    Alias(usize),
}

impl Node {
    fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { value, style } => {
                match scalar_json(value, *style, self.tag.as_ref()) {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "a string",
                }
            }
            NodeKind::Map { .. } => "a mapping",
            NodeKind::Seq { .. } => "a list",
            NodeKind::Alias(_) => "an alias",
        }
    }

    fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, style }
            if scalar_json(value, *style, self.tag.as_ref()).is_null())
    }

    fn is_flow(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Map { flow: true, .. } | NodeKind::Seq { flow: true, .. }
        )
    }
}

struct Sink(Vec<(Event, Marker)>);

impl MarkedEventReceiver for Sink {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.0.push((ev, mark));
    }
}

/// A parsed YAML text (one document at most) that can be read and edited.
pub struct Document<'t> {
    text: &'t str,
    /// Byte offset of each line's start.
    lines: Vec<usize>,
    events: Vec<(Event, Marker)>,
    /// `None` for a text with no document (empty, or comments only).
    root: Option<Node>,
    /// The line break the text uses.
    nl: &'static str,
    /// The text started with a byte-order mark (left out of `text`, put back on output).
    bom: bool,
}

/// What an edit does to the text: byte ranges replaced, applied from the end.
type Edits = Vec<(Range<usize>, String)>;

/// Where an entry's value is written.
enum Place {
    /// On the key's line: `key: value` (the range covers tag and value).
    Inline(Range<usize>),
    /// Nothing after the colon and no content: `key:`.
    Empty { colon: usize },
    /// On the lines below the key: from the first line's start to the last content's end.
    Below { lines: Range<usize>, indent: usize },
}

impl<'t> Document<'t> {
    /// Parses the text: one document at most.
    pub fn parse(text: &'t str) -> Result<Document<'t>, YamlError> {
        // Readers drop a byte-order mark; yaml-rust2 would make it part of the first key.
        let (text, bom) = match text.strip_prefix('\u{feff}') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let mut sink = Sink(Vec::new());
        let mut parser = Parser::new_from_str(text);
        if let Err(e) = parser.load(&mut sink, true) {
            return Err(YamlError::Syntax {
                line: e.marker().line(),
                col: e.marker().col() + 1,
                message: e.info().to_string(),
            });
        }
        let events = sink.0;
        let starts: Vec<&Marker> = events
            .iter()
            .filter(|(e, _)| *e == Event::DocumentStart)
            .map(|(_, m)| m)
            .collect();
        if let Some(second) = starts.get(1) {
            return Err(YamlError::MultipleDocuments {
                line: second.line(),
            });
        }
        let mut lines = vec![0];
        lines.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut doc = Document {
            text,
            lines,
            events,
            root: None,
            nl: if text.contains("\r\n") { "\r\n" } else { "\n" },
            bom,
        };
        if let Some(start) = doc
            .events
            .iter()
            .position(|(e, _)| *e == Event::DocumentStart)
        {
            let mut i = start + 1;
            doc.root = Some(doc.build(&mut i)?);
        }
        Ok(doc)
    }

    /// Builds the node whose first event is at `*i`, leaving `*i` after its last event.
    fn build(&self, i: &mut usize) -> Result<Node, YamlError> {
        let first = *i;
        let (event, mark) = self.events.get(first).ok_or_else(|| YamlError::Syntax {
            line: 0,
            col: 0,
            message: "unexpected end of events".into(),
        })?;
        *i += 1;
        let (kind, anchor, tag) = match event {
            Event::Scalar(value, style, anchor, tag) => (
                NodeKind::Scalar {
                    value: value.clone(),
                    style: *style,
                },
                *anchor,
                tag.clone(),
            ),
            Event::Alias(id) => (NodeKind::Alias(*id), 0, None),
            Event::MappingStart(anchor, tag) => {
                let flow = self.char_at(mark) == Some('{');
                let mut entries = Vec::new();
                while !matches!(self.events.get(*i), Some((Event::MappingEnd, _)) | None) {
                    let k = self.build(i)?;
                    let v = self.build(i)?;
                    entries.push((k, v));
                }
                *i += 1;
                (NodeKind::Map { flow, entries }, *anchor, tag.clone())
            }
            Event::SequenceStart(anchor, tag) => {
                // A block sequence starts at its first item, which may be a flow collection
                // starting at the same place: then that one is the `[`.
                let nested_here = matches!(
                    self.events.get(first + 1),
                    Some((Event::SequenceStart(..) | Event::MappingStart(..), m)) if m == mark
                );
                let flow = self.char_at(mark) == Some('[') && !nested_here;
                let mut items = Vec::new();
                while !matches!(self.events.get(*i), Some((Event::SequenceEnd, _)) | None) {
                    items.push(self.build(i)?);
                }
                *i += 1;
                (NodeKind::Seq { flow, items }, *anchor, tag.clone())
            }
            other => {
                return Err(YamlError::Syntax {
                    line: mark.line(),
                    col: mark.col() + 1,
                    message: format!("unexpected event {other:?}"),
                })
            }
        };
        Ok(Node {
            kind,
            anchor,
            tag,
            first,
            last: *i - 1,
        })
    }

    // ---- positions -------------------------------------------------------------------------

    /// The byte offset of a marker (markers count characters within a line).
    fn offset(&self, m: &Marker) -> usize {
        let Some(&start) = m.line().checked_sub(1).and_then(|l| self.lines.get(l)) else {
            return self.text.len();
        };
        let line = &self.text[start..self.line_end(start)];
        line.char_indices()
            .nth(m.col())
            .map_or(start + line.len(), |(i, _)| start + i)
    }

    fn char_at(&self, m: &Marker) -> Option<char> {
        self.text[self.offset(m)..].chars().next()
    }

    fn mark_of(&self, event: usize) -> usize {
        self.events
            .get(event)
            .map_or(self.text.len(), |(_, m)| self.offset(m))
    }

    /// 0-based line index of a byte offset.
    fn line_index(&self, off: usize) -> usize {
        match self.lines.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// 1-based line number, for messages.
    fn line_no(&self, off: usize) -> usize {
        self.line_index(off) + 1
    }

    fn line_start(&self, off: usize) -> usize {
        self.lines[self.line_index(off)]
    }

    /// The end of the line's content (before `\n` or `\r\n`).
    fn line_end(&self, off: usize) -> usize {
        let end = self.text[off..]
            .find('\n')
            .map_or(self.text.len(), |i| off + i);
        if end > off && self.text.as_bytes()[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    }

    /// The start of the next line (the text's end on the last line).
    fn next_line(&self, off: usize) -> usize {
        self.text[off..]
            .find('\n')
            .map_or(self.text.len(), |i| off + i + 1)
    }

    fn indent_at(&self, off: usize) -> usize {
        let start = self.line_start(off);
        self.text[start..].len() - self.text[start..].trim_start_matches(' ').len()
    }

    fn column(&self, off: usize) -> usize {
        self.text[self.line_start(off)..off].chars().count()
    }

    fn no_tabs(&self, range: Range<usize>) -> Result<(), YamlError> {
        let lines = self.line_start(range.start)..self.line_end(range.end.max(range.start));
        if self.text[lines.clone()].contains('\t') {
            return Err(YamlError::Unsafe {
                line: self.line_no(lines.start + self.text[lines].find('\t').unwrap_or(0)),
                reason: "a tab on a line to edit".into(),
            });
        }
        Ok(())
    }

    fn unsafe_at(&self, off: usize, reason: impl Into<String>) -> YamlError {
        YamlError::Unsafe {
            line: self.line_no(off),
            reason: reason.into(),
        }
    }

    /// Where a node's content starts: a block mapping at its first key, anything else at its
    /// first event.
    fn content_start(&self, node: &Node) -> usize {
        match &node.kind {
            NodeKind::Map { flow: false, .. } => self.mark_of(node.first + 1),
            _ => self.mark_of(node.first),
        }
    }

    /// The end of the last line holding content (not blank, not only a comment) between the
    /// node's start and the next event after it.
    fn content_end(&self, node: &Node) -> usize {
        let start = self.content_start(node);
        let limit = self.mark_of(node.last + 1).max(start);
        let mut end = start;
        let mut ls = self.line_start(start);
        while ls < limit {
            let from = ls.max(start);
            let to = self.line_end(ls).min(limit);
            let seg = self.text[from..to.max(from)].trim();
            if !seg.is_empty() && !seg.starts_with('#') {
                end = to;
            }
            ls = self.next_line(ls);
            if ls == self.text.len() {
                break;
            }
        }
        end
    }

    /// The end of a quoted scalar starting at `start` (after its closing quote).
    fn quoted_end(&self, start: usize) -> Option<usize> {
        let rest = &self.text[start..];
        let quote = rest.chars().next()?;
        let mut chars = rest.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            match (quote, c) {
                ('\'', '\'') => {
                    if matches!(chars.peek(), Some((_, '\''))) {
                        chars.next();
                    } else {
                        return Some(start + i + 1);
                    }
                }
                ('"', '\\') => {
                    chars.next();
                }
                ('"', '"') => return Some(start + i + 1),
                _ => {}
            }
        }
        None
    }

    /// A line's content from `from`, without a trailing comment and blanks.
    fn cut_comment(&self, from: usize) -> usize {
        let end = self.line_end(from);
        let seg = &self.text[from..end];
        let mut cut = seg.len();
        let bytes = seg.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
                cut = i;
                break;
            }
        }
        from + seg[..cut].trim_end().len()
    }

    /// The byte offset of the `:` after a key.
    fn colon_after(&self, key: &Node) -> Result<usize, YamlError> {
        let start = self.mark_of(key.first);
        let end = match &key.kind {
            NodeKind::Scalar { value, style } if key.anchor == 0 && key.tag.is_none() => {
                match style {
                    TScalarStyle::Plain if self.text[start..].starts_with(value.as_str()) => {
                        Some(start + value.len())
                    }
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => {
                        self.quoted_end(start)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        let colon = end.map(|e| e + (self.text[e..].len() - self.text[e..].trim_start().len()));
        match colon {
            Some(c)
                if self.text[c..].starts_with(':') && self.line_no(c) == self.line_no(start) =>
            {
                Ok(c)
            }
            _ => Err(self.unsafe_at(start, "a key written in a form hardend does not edit")),
        }
    }

    /// Where the value of an entry is written.
    fn place(&self, key: &Node, value: &Node) -> Result<Place, YamlError> {
        let colon = self.colon_after(key)?;
        let key_indent = self.column(self.mark_of(key.first));
        let line_end = self.line_end(colon);
        let after = &self.text[colon + 1..line_end];
        let p = colon + 1 + (after.len() - after.trim_start().len());
        let inline = p < line_end && !self.text[p..].starts_with('#');
        if value.anchor != 0 || matches!(value.kind, NodeKind::Alias(_)) {
            return Err(self.unsafe_at(colon, "an anchor or alias at the value to change"));
        }
        if !inline {
            if matches!(&value.kind, NodeKind::Scalar { value: v, style: TScalarStyle::Plain } if v.is_empty())
                && value.tag.is_none()
            {
                return Ok(Place::Empty { colon });
            }
            let first = self.line_start(self.content_start(value));
            if first <= colon {
                return Err(self.unsafe_at(colon, "a value hardend cannot locate"));
            }
            return Ok(Place::Below {
                lines: first..self.content_end(value),
                indent: self.indent_at(first),
            });
        }
        // Skip a tag in front of the value (`!!str "x"`).
        let mut v = p;
        if self.text[v..].starts_with('!') {
            v += self.text[v..]
                .find([' ', '\t', '\n'])
                .unwrap_or(self.text.len() - v);
            v += self.text[v..].len() - self.text[v..].trim_start_matches([' ', '\t']).len();
        }
        let end = match &value.kind {
            NodeKind::Scalar { style, .. } => match style {
                TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => self.quoted_end(v),
                TScalarStyle::Literal | TScalarStyle::Folded => {
                    Some(self.block_scalar_end(v, key_indent, value))
                }
                _ => {
                    let last = self.content_end(value).max(v);
                    Some(self.cut_comment(self.line_start(last).max(v)))
                }
            },
            NodeKind::Map { flow: true, .. } | NodeKind::Seq { flow: true, .. } => {
                let close = self.mark_of(value.last);
                matches!(self.text[close..].chars().next(), Some('}' | ']')).then_some(close + 1)
            }
            _ => None,
        };
        match end {
            Some(end) if end > p => Ok(Place::Inline(p..end)),
            _ => Err(self.unsafe_at(p, "a value written in a form hardend does not edit")),
        }
    }

    /// The end of a block scalar (`|`, `>`) whose header is at `header`: its last non-blank
    /// line indented more than its key.
    fn block_scalar_end(&self, header: usize, key_indent: usize, node: &Node) -> usize {
        let mut end = self.cut_comment(header);
        let limit = self.mark_of(node.last + 1);
        let mut ls = self.next_line(header);
        while ls < limit && ls < self.text.len() {
            let le = self.line_end(ls);
            let line = &self.text[ls..le];
            if !line.trim().is_empty() {
                if self.indent_at(ls) <= key_indent {
                    break;
                }
                end = le;
            }
            ls = self.next_line(ls);
        }
        end
    }

    // ---- reading ---------------------------------------------------------------------------

    /// The whole document as JSON (the kubelet's reading); `Null` when there is none.
    pub fn to_json(&self) -> Result<Value, YamlError> {
        let mut anchors = HashMap::new();
        match &self.root {
            Some(root) => self.node_json(root, &mut anchors),
            None => Ok(Value::Null),
        }
    }

    fn node_json(
        &self,
        node: &Node,
        anchors: &mut HashMap<usize, Value>,
    ) -> Result<Value, YamlError> {
        let v = match &node.kind {
            NodeKind::Scalar { value, style } => scalar_json(value, *style, node.tag.as_ref()),
            NodeKind::Alias(id) => anchors.get(id).cloned().unwrap_or(Value::Null),
            NodeKind::Seq { items, .. } => Value::Array(
                items
                    .iter()
                    .map(|n| self.node_json(n, anchors))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Map { entries, .. } => {
                let mut map = Map::new();
                for (k, v) in entries {
                    let key = match self.node_json(k, anchors)? {
                        Value::String(s) => s,
                        Value::Null => match &k.kind {
                            NodeKind::Scalar { value, .. } => value.clone(),
                            _ => "null".into(),
                        },
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) => n.to_string(),
                        _ => {
                            return Err(self.unsafe_at(
                                self.mark_of(k.first),
                                "a mapping key that is a collection",
                            ))
                        }
                    };
                    let value = self.node_json(v, anchors)?;
                    map.insert(key, value);
                }
                Value::Object(map)
            }
        };
        if node.anchor != 0 {
            anchors.insert(node.anchor, v.clone());
        }
        Ok(v)
    }

    /// The value at a dotted path: `None` when the key (or a parent) is absent or null.
    pub fn get(&self, path: &[&str]) -> Result<Option<Value>, YamlError> {
        let mut cur = self.to_json()?;
        if !cur.is_object() && !cur.is_null() {
            return Err(YamlError::TopLevel {
                found: json_kind(&cur),
            });
        }
        for (i, seg) in path.iter().enumerate() {
            cur = match cur {
                Value::Object(mut m) => match m.remove(*seg) {
                    Some(v) => v,
                    None => return Ok(None),
                },
                Value::Null => return Ok(None),
                other => {
                    return Err(YamlError::NotMapping {
                        key: path[..i].join("."),
                        found: json_kind(&other),
                    })
                }
            };
        }
        Ok(Some(cur))
    }

    /// Whether the text holds no document (empty, or comments only), or an empty one.
    pub fn is_empty(&self) -> bool {
        self.root.as_ref().is_none_or(Node::is_null)
    }

    // ---- editing ---------------------------------------------------------------------------

    /// The text with `path` set to `value`, verified to read back as this document with only
    /// that key changed.
    pub fn set(&self, path: &[&str], value: &Value) -> Result<String, YamlError> {
        if path.is_empty() || path.iter().any(|s| s.is_empty()) {
            return Err(YamlError::Verify("an empty key".into()));
        }
        let edits = self.plan(path, value)?;
        self.commit(edits, path, value)
    }

    /// Applies the edits (from the end, so offsets stay valid) and verifies the result.
    fn commit(&self, mut edits: Edits, path: &[&str], value: &Value) -> Result<String, YamlError> {
        let mut out = self.text.to_string();
        if self.bom {
            out.insert(0, '\u{feff}');
            for (range, _) in &mut edits {
                *range = range.start + 3..range.end + 3;
            }
        }
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        for (range, with) in edits {
            out.replace_range(range, &with);
        }
        self.verify(&out, path, value)?;
        Ok(out)
    }

    fn verify(&self, new_text: &str, path: &[&str], value: &Value) -> Result<(), YamlError> {
        let mut expected = self.to_json()?;
        set_json(&mut expected, path, value.clone());
        let doc = Document::parse(new_text)
            .map_err(|e| YamlError::Verify(format!("the edited text does not parse ({e})")))?;
        let got = doc.to_json()?;
        if got != expected {
            return Err(YamlError::Verify(format!(
                "the edited text does not read as the old document with only `{}` changed",
                path.join(".")
            )));
        }
        Ok(())
    }

    fn plan(&self, path: &[&str], value: &Value) -> Result<Edits, YamlError> {
        let style = self.style();
        let root = match &self.root {
            Some(r) if !r.is_null() => r,
            _ => return Ok(self.append_to_empty(path, value, &style)),
        };
        let mut node = root;
        // The entry holding `node` (none for the root).
        let mut owner: Option<(&Node, &Node)> = None;
        for (i, seg) in path.iter().enumerate() {
            let here = path[..i].join(".");
            if node.anchor != 0 || matches!(node.kind, NodeKind::Alias(_)) {
                return Err(self.unsafe_at(
                    self.mark_of(node.first),
                    format!("an anchor or alias at `{here}`"),
                ));
            }
            let nested = || nest(&path[i..], value);
            match (&node.kind, owner) {
                (
                    NodeKind::Map {
                        flow: false,
                        entries,
                    },
                    _,
                ) => {
                    let found: Vec<&(Node, Node)> = entries
                        .iter()
                        .filter(|(k, _)| key_text(k) == Some(*seg))
                        .collect();
                    if found.len() > 1 {
                        return Err(YamlError::DuplicateKey {
                            key: path[..=i].join("."),
                            line: self.line_no(self.mark_of(found[1].0.first)),
                        });
                    }
                    let Some((k, v)) = found.first().map(|e| (&e.0, &e.1)) else {
                        return self.insert(node, seg, &nest(&path[i + 1..], value), &style);
                    };
                    self.no_tabs(self.mark_of(k.first)..self.mark_of(k.first))?;
                    if i + 1 == path.len() {
                        return self.replace(k, v, value, true, &style);
                    }
                    node = v;
                    owner = Some((k, v));
                }
                (
                    NodeKind::Map {
                        flow: true,
                        entries,
                    },
                    Some((k, v)),
                ) if entries.is_empty() => {
                    return self.replace(k, v, &nested(), false, &style);
                }
                (NodeKind::Map { flow: true, .. }, _) => {
                    let at = if here.is_empty() {
                        "at the top level".to_string()
                    } else {
                        format!("at `{here}`")
                    };
                    return Err(self.unsafe_at(
                        self.mark_of(node.first),
                        format!("a flow mapping ({{...}}) {at}"),
                    ));
                }
                (_, Some((k, v))) if node.is_null() => {
                    return self.replace(k, v, &nested(), false, &style);
                }
                (_, None) => {
                    return Err(YamlError::TopLevel {
                        found: node.describe(),
                    })
                }
                (_, Some(_)) => {
                    return Err(YamlError::NotMapping {
                        key: here,
                        found: node.describe(),
                    })
                }
            }
        }
        unreachable!("the loop returns at the path's last key")
    }

    /// A document with no content: the entry goes at the end.
    fn append_to_empty(&self, path: &[&str], value: &Value, style: &Style) -> Edits {
        let end = self.text.len();
        let entry = render_entry(path[0], &nest(&path[1..], value), 0, style, self.nl);
        let sep = if end == 0 || self.text.ends_with('\n') {
            ""
        } else {
            self.nl
        };
        vec![(end..end, format!("{sep}{entry}{}", self.nl))]
    }

    /// Inserts `key: value` after the last line of a block mapping, at its indentation.
    fn insert(
        &self,
        map: &Node,
        key: &str,
        value: &Value,
        style: &Style,
    ) -> Result<Edits, YamlError> {
        let first_key = self.content_start(map);
        let indent = self.column(first_key);
        let last = self.content_end(map);
        self.no_tabs(first_key..first_key)?;
        self.no_tabs(last..last)?;
        let at = self.next_line(last);
        let entry = render_entry(key, value, indent, style, self.nl);
        let text = if at == self.text.len() && !self.text.ends_with('\n') {
            format!("{}{entry}", self.nl)
        } else {
            format!("{entry}{}", self.nl)
        };
        Ok(vec![(at..at, text)])
    }

    /// Replaces the value of an entry. With `keep_flow`, a flow collection stays one when the
    /// new value fits (`[a, b]`); a parent being created is always a block mapping.
    fn replace(
        &self,
        key: &Node,
        old: &Node,
        value: &Value,
        keep_flow: bool,
        style: &Style,
    ) -> Result<Edits, YamlError> {
        let key_indent = self.column(self.mark_of(key.first));
        let place = self.place(key, old)?;
        // Where the new value's lines start: at the old block's indentation when the kind
        // stays, else one step below the key (lists at the key's column in compact style).
        let child_indent = |old_indent: Option<usize>| match (value, &old.kind, old_indent) {
            (Value::Array(_), NodeKind::Seq { .. }, Some(i))
            | (Value::Object(_), NodeKind::Map { .. }, Some(i)) => i,
            (Value::Array(_), _, _) if style.compact_lists => key_indent,
            _ => key_indent + style.step,
        };
        let inline = render_inline(value, keep_flow && old.is_flow());
        let block = |indent: usize| render_block(value, indent, style, self.nl);
        let nl = self.nl;
        Ok(match place {
            Place::Inline(range) => {
                self.no_tabs(range.clone())?;
                match inline {
                    Some(s) => vec![(range, s)],
                    None => {
                        let colon = self.colon_after(key)?;
                        vec![(
                            colon + 1..range.end,
                            format!("{nl}{}", block(child_indent(None))),
                        )]
                    }
                }
            }
            Place::Empty { colon } => {
                self.no_tabs(colon..colon)?;
                match inline {
                    Some(s) => vec![(colon + 1..colon + 1, format!(" {s}"))],
                    None => {
                        let at = self.next_line(colon);
                        let lines = block(child_indent(None));
                        if at == self.text.len() && !self.text.ends_with('\n') {
                            vec![(at..at, format!("{nl}{lines}"))]
                        } else {
                            vec![(at..at, format!("{lines}{nl}"))]
                        }
                    }
                }
            }
            Place::Below { lines, indent } => {
                self.no_tabs(lines.clone())?;
                match inline {
                    Some(s) => {
                        let colon = self.colon_after(key)?;
                        vec![
                            (colon + 1..colon + 1, format!(" {s}")),
                            (lines.start..self.next_line(lines.end), String::new()),
                        ]
                    }
                    None => vec![(lines, block(child_indent(Some(indent))))],
                }
            }
        })
    }

    /// How the document indents: the step of nested mappings, and whether list items stand
    /// at their key's column (`key:\n- a`, as kubeadm writes) or one step in.
    fn style(&self) -> Style {
        let mut step = None;
        let mut compact = None;
        if let Some(root) = &self.root {
            self.find_style(root, &mut step, &mut compact);
        }
        Style {
            step: step.unwrap_or(2),
            compact_lists: compact.unwrap_or(true),
        }
    }

    fn find_style(&self, node: &Node, step: &mut Option<usize>, compact: &mut Option<bool>) {
        let NodeKind::Map {
            flow: false,
            entries,
        } = &node.kind
        else {
            return;
        };
        for (k, v) in entries {
            if step.is_some() && compact.is_some() {
                return;
            }
            let key_col = self.column(self.mark_of(k.first));
            match &v.kind {
                NodeKind::Map { flow: false, .. } if step.is_none() => {
                    let child = self.column(self.content_start(v));
                    if child > key_col {
                        *step = Some(child - key_col);
                    }
                }
                NodeKind::Seq { flow: false, .. } if compact.is_none() => {
                    *compact = Some(self.indent_at(self.content_start(v)) == key_col);
                }
                _ => {}
            }
            self.find_style(v, step, compact);
        }
    }
}

struct Style {
    /// Spaces per nesting level of mappings.
    step: usize,
    /// List items at their key's column.
    compact_lists: bool,
}

/// The text of a plain or quoted scalar key.
fn key_text(k: &Node) -> Option<&str> {
    match &k.kind {
        NodeKind::Scalar { value, .. } => Some(value),
        _ => None,
    }
}

/// `{a: {b: value}}` for the path `a.b`; the value itself for an empty path.
fn nest(path: &[&str], value: &Value) -> Value {
    path.iter().rev().fold(value.clone(), |v, seg| {
        let mut m = Map::new();
        m.insert((*seg).to_string(), v);
        Value::Object(m)
    })
}

/// Sets a dotted path in a JSON tree, creating (or replacing null with) objects on the way.
pub fn set_json(doc: &mut Value, path: &[&str], value: Value) {
    let mut cur = doc;
    for seg in path {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .expect("made an object above")
            .entry((*seg).to_string())
            .or_insert(Value::Null);
    }
    *cur = value;
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

const CORE_TAG: &str = "tag:yaml.org,2002:";

/// A scalar as the kubelet reads it.
fn scalar_json(value: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag.filter(|t| t.handle == CORE_TAG || t.handle == "!!") {
        return match t.suffix.as_str() {
            "str" => Value::String(value.to_string()),
            "null" => Value::Null,
            "bool" | "int" | "float" => match resolve_plain(value) {
                v @ (Value::Bool(_) | Value::Number(_)) => v,
                _ => Value::String(value.to_string()),
            },
            _ => Value::String(value.to_string()),
        };
    }
    match style {
        TScalarStyle::Plain => resolve_plain(value),
        _ => Value::String(value.to_string()),
    }
}

/// A plain scalar by YAML 1.1 rules, as go-yaml v2 (under sigs.k8s.io/yaml) resolves it:
/// `yes`/`no`/`on`/`off`/`y`/`n` are booleans, a leading `0` means octal, `_` is ignored in
/// numbers. Infinities and NaN, which JSON cannot hold, stay strings.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(s.to_string());
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if let Some(n) = parse_int(&plain) {
        return n;
    }
    if is_yaml_float(&plain) {
        if let Some(n) = plain
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

/// An integer as Go's `strconv.ParseInt(s, 0, 64)` (then `ParseUint`) reads it.
fn parse_int(s: &str) -> Option<Value> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if let Some(b) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, b)
    } else if let Some(o) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, o)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(body, radix).ok()?;
    if neg {
        let v = 0i64.checked_sub_unsigned(magnitude)?;
        Some(Value::from(v))
    } else if let Ok(v) = i64::try_from(magnitude) {
        Some(Value::from(v))
    } else {
        Some(Value::from(magnitude))
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`, go-yaml's float pattern.
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exp_ok = exp.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exp_ok
}

/// Whether a string can be written plain (unquoted) and be read back as the same string by
/// YAML 1.1 and 1.2 readers alike, also inside `[...]`.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
    {
        return false;
    }
    if first.is_ascii_digit() {
        return is_go_duration(s);
    }
    if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    resolve_plain(s).is_string()
}

/// `5m`, `4h0m0s`, `1.5s`: Go durations, which no YAML reader takes for a number.
fn is_go_duration(s: &str) -> bool {
    let mut rest = s;
    while !rest.is_empty() {
        let num = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num == 0 || rest[..num].matches('.').count() > 1 {
            return false;
        }
        rest = &rest[num..];
        let Some(unit) = ["ns", "us", "ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// A string as a YAML scalar: plain when safe, else double-quoted (JSON's escapes are YAML's).
fn render_str(s: &str) -> String {
    if plain_ok(s) {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

/// A value that fits on one line: scalars and empty collections; with `flow`, also lists and
/// mappings of scalars, as `[a, b]` and `{a: 1}`.
pub fn render_inline(v: &Value, flow: bool) -> Option<String> {
    match v {
        Value::Null => Some("null".into()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(render_str(s)),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(a) if flow => {
            let items: Option<Vec<String>> = a
                .iter()
                .map(|i| (!i.is_array() && !i.is_object()).then(|| render_inline(i, false))?)
                .collect();
            Some(format!("[{}]", items?.join(", ")))
        }
        Value::Object(m) if flow => {
            let items: Option<Vec<String>> = m
                .iter()
                .map(|(k, i)| {
                    let v = (!i.is_array() && !i.is_object()).then(|| render_inline(i, false))?;
                    Some(format!("{}: {}", render_str(k), v?))
                })
                .collect();
            Some(format!("{{{}}}", items?.join(", ")))
        }
        _ => None,
    }
}

/// `key: value`, or `key:` and the value's block lines, at `indent`; no final line break.
fn render_entry(key: &str, v: &Value, indent: usize, style: &Style, nl: &str) -> String {
    let pad = " ".repeat(indent);
    let k = render_str(key);
    match render_inline(v, false) {
        Some(s) => format!("{pad}{k}: {s}"),
        None => {
            let child = match v {
                Value::Array(_) if style.compact_lists => indent,
                _ => indent + style.step,
            };
            format!("{pad}{k}:{nl}{}", render_block(v, child, style, nl))
        }
    }
}

/// The block lines of a value (a non-empty list or mapping) at `indent`; no final break. A
/// scalar renders as itself.
fn render_block(v: &Value, indent: usize, style: &Style, nl: &str) -> String {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| render_entry(k, v, indent, style, nl))
            .collect::<Vec<_>>()
            .join(nl),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .map(|item| match render_inline(item, false) {
                Some(s) => format!("{pad}- {s}"),
                None => {
                    // A collection item: its first line goes after the dash.
                    let inner = render_block(item, indent + 2, style, nl);
                    format!("{pad}- {}", &inner[indent + 2..])
                }
            })
            .collect::<Vec<_>>()
            .join(nl),
        other => format!("{pad}{}", render_inline(other, false).unwrap_or_default()),
    }
}

/// A fresh document from dotted keys and values, in this order (`apiVersion`, `kind`, ...).
pub fn render_document(entries: &[(&str, Value)]) -> String {
    let style = Style {
        step: 2,
        compact_lists: true,
    };
    let mut doc = Value::Object(Map::new());
    for (key, v) in entries {
        let path: Vec<&str> = key.split('.').collect();
        set_json(&mut doc, &path, v.clone());
    }
    let mut out = render_block(&doc, 0, &style, "\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str, key: &str, value: Value) -> Result<String, YamlError> {
        let path: Vec<&str> = key.split('.').collect();
        Document::parse(text)?.set(&path, &value)
    }

    fn get(text: &str, key: &str) -> Option<Value> {
        let path: Vec<&str> = key.split('.').collect();
        Document::parse(text).unwrap().get(&path).unwrap()
    }

    const KUBEADM: &str = "\
apiVersion: kubelet.config.k8s.io/v1beta1
# Authentication: who may talk to the kubelet API.
authentication:
  anonymous:
    enabled: true   # CIS 4.2.1 wants false
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: \"AlwaysAllow\"  # quoted on purpose
  webhook:
    cacheAuthorizedTTL: 0s
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
kind: KubeletConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: \"0\"
memorySwap: {}
rotateCertificates: true
tlsCipherSuites: [TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
# trailing comment
";

    #[test]
    fn scalar_replaced_in_place_keeping_its_comment() {
        let out = set(KUBEADM, "authentication.anonymous.enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            KUBEADM.replace(
                "    enabled: true   # CIS 4.2.1 wants false",
                "    enabled: false   # CIS 4.2.1 wants false"
            )
        );
        assert_eq!(
            get(&out, "authentication.anonymous.enabled"),
            Some(json!(false))
        );
    }

    #[test]
    fn quoted_scalars_are_replaced_whole() {
        let out = set(KUBEADM, "authorization.mode", json!("Webhook")).unwrap();
        assert!(
            out.contains("\n  mode: Webhook  # quoted on purpose\n"),
            "{out}"
        );
        let single = "a: 'it''s here' # c\nb: \"x\\\"y\"\n";
        let out = set(single, "a", json!("plain")).unwrap();
        assert_eq!(out, "a: plain # c\nb: \"x\\\"y\"\n");
        let out = set(single, "b", json!(true)).unwrap();
        assert_eq!(out, "a: 'it''s here' # c\nb: true\n");
        // A tag goes with the value it typed.
        let out = set("a: !!str true\n", "a", json!(false)).unwrap();
        assert_eq!(out, "a: false\n");
    }

    #[test]
    fn missing_nested_key_goes_at_the_end_of_its_parent() {
        let out = set(KUBEADM, "authentication.x509.extra", json!("/x")).unwrap();
        assert!(
            out.contains(
                "    clientCAFile: /etc/kubernetes/pki/ca.crt\n    extra: /x\nauthorization:"
            ),
            "{out}"
        );
        let out = set(
            KUBEADM,
            "authorization.webhook.cacheUnauthorizedTTL",
            json!("30s"),
        )
        .unwrap();
        assert!(
            out.contains("    cacheAuthorizedTTL: 0s\n    cacheUnauthorizedTTL: 30s\nclusterDNS:"),
            "{out}"
        );
    }

    #[test]
    fn missing_parents_are_created() {
        let out = set(
            KUBEADM,
            "authentication.x509b.clientCAFile",
            json!("/ca.crt"),
        )
        .unwrap();
        assert!(
            out.contains(
                "/etc/kubernetes/pki/ca.crt\n  x509b:\n    clientCAFile: /ca.crt\nauthorization:"
            ),
            "{out}"
        );
        let text = "apiVersion: v1\nkind: KubeletConfiguration\n";
        let out = set(text, "authentication.anonymous.enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            "apiVersion: v1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n"
        );
        // Top-level insertion lands after the last content line, before trailing comments.
        let out = set(KUBEADM, "readOnlyPort", json!(0)).unwrap();
        assert!(
            out.ends_with(
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\nreadOnlyPort: 0\n# trailing comment\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn empty_parents_become_mappings() {
        let out = set(KUBEADM, "memorySwap.swapBehavior", json!("NoSwap")).unwrap();
        assert!(
            out.contains("\nmemorySwap:\n  swapBehavior: NoSwap\nrotateCertificates"),
            "{out}"
        );
        let text = "authentication:\n# a comment\nkind: K\n";
        let out = set(text, "authentication.anonymous.enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            "authentication:\n  anonymous:\n    enabled: false\n# a comment\nkind: K\n"
        );
        let out = set("a: ~  # nothing yet\n", "a.b", json!(1)).unwrap();
        assert_eq!(out, "a:\n  b: 1  # nothing yet\n");
    }

    #[test]
    fn lists_are_replaced_in_their_style() {
        let suites = json!([
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        ]);
        let out = set(KUBEADM, "tlsCipherSuites", suites.clone()).unwrap();
        assert!(out.contains(
            "\ntlsCipherSuites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n# trailing"
        ), "{out}");
        let out = set(KUBEADM, "clusterDNS", json!(["10.96.0.10", "10.96.0.11"])).unwrap();
        assert!(
            out.contains("\nclusterDNS:\n- \"10.96.0.10\"\n- \"10.96.0.11\"\nclusterDomain"),
            "{out}"
        );
        let indented = "a:\n  - x # first\n  - y\nb: 1\n";
        let out = set(indented, "a", json!(["z"])).unwrap();
        assert_eq!(out, "a:\n  - z\nb: 1\n");
        let out = set(indented, "a", json!("s")).unwrap();
        assert_eq!(out, "a: s\nb: 1\n");
        let out = set("a: s # c\nb: 1\n", "a", json!(["p", "q"])).unwrap();
        assert_eq!(out, "a:\n- p\n- q # c\nb: 1\n");
        let out = set("a:\n  b: 1\n", "c", json!(["p"])).unwrap();
        assert_eq!(out, "a:\n  b: 1\nc:\n- p\n");
        let out = set("a:\n  b: 1\n", "a", json!({"c": [{"d": 1, "e": 2}]})).unwrap();
        assert_eq!(out, "a:\n  c:\n  - d: 1\n    e: 2\n");
    }

    #[test]
    fn block_and_multiline_scalars_are_replaced_whole() {
        let text = "a: |\n  one\n  # two\nb: plain\n  continued # c\nc: 1\n";
        let out = set(text, "a", json!("x")).unwrap();
        assert_eq!(out, "a: x\nb: plain\n  continued # c\nc: 1\n");
        let out = set(text, "b", json!("why")).unwrap();
        assert_eq!(out, "a: |\n  one\n  # two\nb: why # c\nc: 1\n");
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        let flow = "authentication: {anonymous: {enabled: true}}\n";
        let e = set(flow, "authentication.anonymous.enabled", json!(false)).unwrap_err();
        assert!(matches!(e, YamlError::Unsafe { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("flow mapping"), "{e}");
        let anchored = "base: &b\n  enabled: true\nother: *b\n";
        let e = set(anchored, "base.enabled", json!(false)).unwrap_err();
        assert!(e.to_string().contains("anchor"), "{e}");
        let e = set("a: x\ty\n", "a", json!("c")).unwrap_err();
        assert!(e.to_string().contains("tab"), "{e}");
        let e = set("a: 1\na: 2\n", "a", json!(3)).unwrap_err();
        assert!(matches!(e, YamlError::DuplicateKey { line: 2, .. }), "{e}");
        let e = set("? a\n: 1\n", "a", json!(3)).unwrap_err();
        assert!(matches!(e, YamlError::Unsafe { .. }), "{e}");
    }

    #[test]
    fn a_path_through_a_non_mapping_names_the_key() {
        let text = "authentication:\n  anonymous: disabled\n";
        let e = set(text, "authentication.anonymous.enabled", json!(false)).unwrap_err();
        assert_eq!(
            e,
            YamlError::NotMapping {
                key: "authentication.anonymous".into(),
                found: "a string"
            }
        );
        let doc = Document::parse(text).unwrap();
        assert_eq!(
            doc.get(&["authentication", "anonymous", "enabled"])
                .unwrap_err(),
            e
        );
        let e = set("- a\n", "a", json!(1)).unwrap_err();
        assert_eq!(e, YamlError::TopLevel { found: "a list" });
    }

    #[test]
    fn two_documents_and_invalid_yaml_are_errors() {
        let e = Document::parse("a: 1\n---\nb: 2\n").err().unwrap();
        assert_eq!(e, YamlError::MultipleDocuments { line: 2 });
        let e = Document::parse("a: 1\n b: [\n").err().unwrap();
        assert!(
            matches!(
                e,
                YamlError::Syntax {
                    line: 2,
                    col: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with("line 2 column 3: invalid YAML"),
            "{e}"
        );
        // One document with explicit markers is fine.
        assert!(Document::parse("---\na: 1\n...\n").is_ok());
    }

    #[test]
    fn verification_catches_a_bad_edit() {
        let text = "a: 1\nb: 2\n";
        let doc = Document::parse(text).unwrap();
        // An edit that also changes `b` must not pass.
        let bad = vec![(3..4, "5".to_string()), (8..9, "3".to_string())];
        let e = doc.commit(bad, &["a"], &json!(5)).unwrap_err();
        assert!(matches!(e, YamlError::Verify(_)), "{e}");
        // An edit that breaks the syntax neither.
        let e = doc
            .commit(vec![(3..4, "[5".to_string())], &["a"], &json!(5))
            .unwrap_err();
        assert!(e.to_string().contains("does not parse"), "{e}");
        let good = vec![(3..4, "5".to_string())];
        assert_eq!(doc.commit(good, &["a"], &json!(5)).unwrap(), "a: 5\nb: 2\n");
    }

    #[test]
    fn strings_that_look_like_other_types_are_quoted() {
        for (s, shown) in [
            ("true", "\"true\""),
            ("on", "\"on\""),
            ("0", "\"0\""),
            ("0755", "\"0755\""),
            ("", "\"\""),
            ("a: b", "\"a: b\""),
            ("x # y", "\"x # y\""),
            ("null", "\"null\""),
            ("1e3", "\"1e3\""),
            ("Webhook", "Webhook"),
            ("5m", "5m"),
            ("4h0m0s", "4h0m0s"),
            ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.crt"),
        ] {
            let out = set("k: v\n", "k", json!(s)).unwrap();
            assert_eq!(out, format!("k: {shown}\n"), "{s:?}");
            assert_eq!(get(&out, "k"), Some(json!(s)));
        }
    }

    #[test]
    fn yaml_1_1_scalars_read_as_the_kubelet_reads_them() {
        assert_eq!(resolve_plain("yes"), json!(true));
        assert_eq!(resolve_plain("Off"), json!(false));
        assert_eq!(resolve_plain("0755"), json!(0o755));
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("-12"), json!(-12));
        assert_eq!(resolve_plain("1_000"), json!(1000));
        assert_eq!(resolve_plain("1.5"), json!(1.5));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("5m"), json!("5m"));
        assert_eq!(resolve_plain(".inf"), json!(".inf"));
        assert_eq!(get("a: \"10\"\n", "a"), Some(json!("10")));
    }

    #[test]
    fn crlf_no_final_newline_and_empty_documents() {
        let out = set("a: 1\r\nb:\r\n  c: 2\r\n", "b.d", json!(3)).unwrap();
        assert_eq!(out, "a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n");
        let out = set("a: 1\r\n", "a", json!(2)).unwrap();
        assert_eq!(out, "a: 2\r\n");
        let out = set("a:\n  b: 1", "a.c", json!(2)).unwrap();
        assert_eq!(out, "a:\n  b: 1\n  c: 2");
        let out = set("", "a.b", json!(true)).unwrap();
        assert_eq!(out, "a:\n  b: true\n");
        let out = set("# only a comment", "a", json!(1)).unwrap();
        assert_eq!(out, "# only a comment\na: 1\n");
        assert!(Document::parse("# c\n").unwrap().is_empty());
        // A byte-order mark is not part of the first key, and stays.
        let out = set("\u{feff}a: 1\nb:\n  c: 2\n", "a", json!(5)).unwrap();
        assert_eq!(out, "\u{feff}a: 5\nb:\n  c: 2\n");
        let out = set("\u{feff}a: 1\n", "b", json!(5)).unwrap();
        assert_eq!(out, "\u{feff}a: 1\nb: 5\n");
    }

    #[test]
    fn indentation_follows_the_document() {
        let text = "a:\n    b:\n        c: 1\nl:\n    - x\n";
        let out = set(text, "z.w", json!(["q"])).unwrap();
        assert_eq!(out, format!("{text}z:\n    w:\n        - q\n"));
    }

    #[test]
    fn other_spellings_of_keys_and_values() {
        // A value on the line below its key.
        let out = set("a:\n  plain\nb: 1\n", "a", json!("x")).unwrap();
        assert_eq!(out, "a: x\nb: 1\n");
        // Quoted keys.
        let out = set("\"readOnlyPort\": 10255 # c\n", "readOnlyPort", json!(0)).unwrap();
        assert_eq!(out, "\"readOnlyPort\": 0 # c\n");
        // Characters of several bytes before and after the value.
        let out = set(
            "n\u{e9}e: 1\nname: \"h\u{e9}llo\" # \u{e7}a\n",
            "name",
            json!("x"),
        )
        .unwrap();
        assert_eq!(out, "n\u{e9}e: 1\nname: x # \u{e7}a\n");
        let out = set(
            "\u{e9}\u{e9}: \"h\u{e9}llo\" # \u{e7}a\n",
            "\u{e9}\u{e9}",
            json!("x"),
        )
        .unwrap();
        assert_eq!(out, "\u{e9}\u{e9}: x # \u{e7}a\n");
        // Comments indented under a mapping stay after its new last key.
        let text = "a:\n  b: 1\n  # about b\nc: 2\n";
        let out = set(text, "a.d", json!(true)).unwrap();
        assert_eq!(out, "a:\n  b: 1\n  d: true\n  # about b\nc: 2\n");
        // A document start marker and a mapping inside a list item are fine.
        let text = "---\nl:\n- x: 1\n  y: 2\nz: 3\n";
        let out = set(text, "z", json!(4)).unwrap();
        assert_eq!(out, "---\nl:\n- x: 1\n  y: 2\nz: 4\n");
        let out = set(text, "w", json!(5)).unwrap();
        assert_eq!(out, format!("{text}w: 5\n"));
        // A list on the path is not a mapping.
        let e = set(text, "l.x", json!(1)).unwrap_err();
        assert_eq!(
            e,
            YamlError::NotMapping {
                key: "l".into(),
                found: "a list"
            }
        );
    }

    #[test]
    fn mutated_documents_never_panic_and_every_edit_reads_back() {
        // A fixed pseudo-random walk: delete or insert YAML-significant characters anywhere.
        let mut seed: u64 = 0x5eed;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n.max(1)
        };
        let alphabet = [
            " ", "\n", ":", "-", "#", "'", "\"", "{", "}", "[", "]", "&a", "*a", "!!str ", "|",
            ">", "\t", "é", "a", "0", "\r\n", "? ", "---\n",
        ];
        let keys = [
            "authentication.anonymous.enabled",
            "authorization.mode",
            "readOnlyPort",
            "tlsCipherSuites",
            "memorySwap.swapBehavior",
            "logging.options.json.infoBufferSize",
        ];
        let values = [
            json!(false),
            json!("Webhook"),
            json!(0),
            json!(["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]),
            json!("NoSwap"),
            json!("1"),
        ];
        for _ in 0..1500 {
            let mut text = KUBEADM.to_string();
            for _ in 0..=next(3) {
                let mut at = next(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                if next(2) == 0 {
                    let mut end = at + 1;
                    while end < text.len() && !text.is_char_boundary(end) {
                        end += 1;
                    }
                    text.replace_range(at..end.min(text.len()), "");
                } else {
                    text.insert_str(at, alphabet[next(alphabet.len())]);
                }
            }
            let Ok(doc) = Document::parse(&text) else {
                continue;
            };
            let k = next(keys.len());
            let path: Vec<&str> = keys[k].split('.').collect();
            if let Ok(out) = doc.set(&path, &values[k]) {
                let again = Document::parse(&out).expect("a verified edit parses");
                assert_eq!(again.get(&path).unwrap(), Some(values[k].clone()), "{out}");
            }
        }
    }

    #[test]
    fn fresh_documents() {
        let out = render_document(&[
            ("apiVersion", json!("kubelet.config.k8s.io/v1beta1")),
            ("kind", json!("KubeletConfiguration")),
            ("authentication.anonymous.enabled", json!(false)),
        ]);
        assert_eq!(
            out,
            "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nauthentication:\n  anonymous:\n    enabled: false\n"
        );
        let doc = Document::parse(&out).unwrap();
        assert_eq!(
            doc.get(&["authentication", "anonymous", "enabled"])
                .unwrap(),
            Some(json!(false))
        );
    }
}
