//! Diagnostics with a position: `file:line:col: error: message`, as compilers and sudo-rs print
//! them, so that a config-management tool (or a person) can jump straight to the problem.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// A place in a file; line and column are 1-based, the column counts characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub location: Location,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {}: {}", self.location, word, self.message)
    }
}

/// The text of one file, for turning byte offsets into line and column.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    /// Byte offset of every line start, built on first use: every key read asks for its
    /// location, so counting newlines from the start each time would be quadratic.
    line_starts: std::cell::OnceCell<Vec<usize>>,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Source<'a> {
        Source {
            path,
            text,
            line_starts: std::cell::OnceCell::new(),
        }
    }

    pub fn location(&self, offset: usize) -> Location {
        let offset = floor_char_boundary(self.text, offset.min(self.text.len()));
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let line = starts.partition_point(|s| *s <= offset);
        let line_start = starts[line - 1];
        let col = self.text[line_start..offset].chars().count() + 1;
        Location {
            file: self.path.to_path_buf(),
            line,
            col,
        }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Collects every problem found, instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn error(&mut self, location: Location, message: impl Into<String>) {
        self.push(Severity::Error, location, message);
    }

    pub fn warning(&mut self, location: Location, message: impl Into<String>) {
        self.push(Severity::Warning, location, message);
    }

    pub fn push(&mut self, severity: Severity, location: Location, message: impl Into<String>) {
        self.items.push(Diagnostic {
            severity,
            location,
            message: message.into(),
        });
    }

    /// An error about a whole file (unreadable, untrusted): reported at 1:1.
    pub fn file_error(&mut self, file: &Path, message: impl Into<String>) {
        self.error(
            Location {
                file: file.to_path_buf(),
                line: 1,
                col: 1,
            },
            message,
        );
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter().filter(|d| d.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_line_and_column() {
        let text = "a = 1\nbé = 2\n";
        let src = Source::new(Path::new("x.toml"), text);
        assert_eq!(src.location(0).to_string(), "x.toml:1:1");
        assert_eq!(src.location(6).to_string(), "x.toml:2:1");
        // 'é' is two bytes; the column counts characters.
        assert_eq!(src.location(text.find('=').unwrap() + 7).line, 2);
        assert_eq!(src.location(text.rfind('=').unwrap()).col, 4);
    }
}
