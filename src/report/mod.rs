//! Rendering results: text for people, JSON for tools (stable, documented in the README),
//! JUnit XML for CI gates. Every writer sees the same [`Report`].

#![forbid(unsafe_code)]

mod diff;
mod json;
mod junit;
mod text;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::engine::{ControlResult, Status};

pub use diff::describe_fix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
}

/// What a command did, for every selected control.
#[derive(Debug, Clone)]
pub struct Report {
    /// `check`, `plan` or `apply`.
    pub command: &'static str,
    pub root: PathBuf,
    pub controls: Vec<ControlResult>,
}

impl Report {
    /// Counts by status; every status appears, zero or not, so tools need no defaults.
    pub fn summary(&self) -> BTreeMap<&'static str, usize> {
        let mut counts: BTreeMap<&'static str, usize> =
            Status::ALL.iter().map(|s| (s.name(), 0)).collect();
        for c in &self.controls {
            *counts.entry(c.status.name()).or_default() += 1;
        }
        counts
    }

    /// 1 when any control is drift, conflict or error, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.controls.iter().any(|c| c.status.is_failure()))
    }

    pub fn write(&self, format: Format, out: &mut dyn Write, color: bool) -> io::Result<()> {
        match format {
            Format::Text => text::write(self, out, color),
            Format::Json => json::write(self, out),
            Format::Junit => junit::write(self, out),
        }
    }
}
