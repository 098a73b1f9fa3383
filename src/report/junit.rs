//! JUnit XML, so CI systems can gate on a check: one test case per control; drift, conflict
//! and error are failures, the statuses that are neither pass nor failure are skipped.

use std::io::{self, Write};

use super::Report;
use crate::engine::Status;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let failures = report
        .controls
        .iter()
        .filter(|c| matches!(c.status, Status::Drift | Status::Conflict))
        .count();
    let errors = report
        .controls
        .iter()
        .filter(|c| c.status == Status::Error)
        .count();
    let skipped = report
        .controls
        .iter()
        .filter(|c| !c.status.is_failure() && !matches!(c.status, Status::Pass | Status::Fixed))
        .count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="hardend {}" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
        report.command,
        report.controls.len()
    )?;
    writeln!(
        out,
        r#"  <testsuite name="hardend" tests="{}" failures="{failures}" errors="{errors}" skipped="{skipped}">"#,
        report.controls.len()
    )?;
    for c in &report.controls {
        let detail = format!(
            "target: {}\nexpected: {}\nactual: {}\n{}",
            c.target, c.expected, c.actual, c.message
        );
        write!(
            out,
            r#"    <testcase classname="{}" name="{}: {}""#,
            escape(&c.profile),
            escape(&c.id),
            escape(&c.title)
        )?;
        let body = match c.status {
            Status::Pass | Status::Fixed => None,
            Status::Drift | Status::Conflict => Some(format!(
                r#"<failure type="{}" message="{}">{}</failure>"#,
                c.status,
                escape(&c.message),
                escape(&detail)
            )),
            Status::Error => Some(format!(
                r#"<error type="error" message="{}">{}</error>"#,
                escape(&c.message),
                escape(&detail)
            )),
            other => Some(format!(
                r#"<skipped message="{}: {}"/>"#,
                other,
                escape(&c.message)
            )),
        };
        match body {
            None => writeln!(out, "/>")?,
            Some(b) => writeln!(out, ">\n      {b}\n    </testcase>")?,
        }
    }
    writeln!(out, "  </testsuite>\n</testsuites>")
}
