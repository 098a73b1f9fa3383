//! Text for a terminal: one line per control that is not `pass`, fixes spelled out for `plan`,
//! and a summary line. Colour only when writing to a terminal.

use std::io::{self, Write};

use super::diff::describe_fix;
use super::Report;
use crate::engine::Status;

fn colour(status: Status) -> &'static str {
    match status {
        Status::Pass | Status::Fixed => "\x1b[32m",
        Status::Drift | Status::Conflict => "\x1b[33m",
        Status::Error => "\x1b[31m",
        _ => "\x1b[2m",
    }
}

pub fn write(report: &Report, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let width = report
        .controls
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(0);
    for c in &report.controls {
        // Passing controls are counted, not listed, unless they have something to say (a
        // seccomp profile's filter size, a pending restart).
        if c.status == Status::Pass && !c.restart_required && c.message.is_empty() {
            continue;
        }
        let word = format!("{:<14}", c.status.name());
        let word = if color {
            format!("{}{word}\x1b[0m", colour(c.status))
        } else {
            word
        };
        let mut line = format!("{word} {:<width$}  {}", c.id, c.target);
        if !c.message.is_empty() {
            line.push_str(": ");
            line.push_str(&c.message);
        }
        if c.restart_required {
            line.push_str(" [restart required]");
        }
        writeln!(out, "{}", line.trim_end())?;
        if report.command == "plan" {
            for fix in c.parts.iter().filter_map(|p| p.fix.as_ref()) {
                for l in describe_fix(fix).lines() {
                    writeln!(out, "    {l}")?;
                }
            }
        }
    }
    let summary = report.summary();
    let counts: Vec<String> = summary
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(s, n)| format!("{n} {s}"))
        .collect();
    writeln!(
        out,
        "{} controls: {}",
        report.controls.len(),
        if counts.is_empty() {
            "none selected".to_string()
        } else {
            counts.join(", ")
        }
    )
}
