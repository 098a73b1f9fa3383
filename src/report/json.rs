//! The JSON report (schema in the README): stable keys, one object per control.

use std::io::{self, Write};

use serde_json::{json, Value};

use super::diff::describe_fix;
use super::Report;

pub fn to_value(report: &Report) -> Value {
    let controls: Vec<Value> = report
        .controls
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).expect("a control result is plain data");
            let changes: Vec<Value> = c
                .parts
                .iter()
                .filter_map(|p| p.fix.as_ref())
                .map(|f| json!({ "target": f.target(), "change": describe_fix(f) }))
                .collect();
            if report.command == "plan" {
                v["changes"] = Value::Array(changes);
            }
            v
        })
        .collect();
    let mut summary = serde_json::Map::new();
    summary.insert("total".into(), json!(report.controls.len()));
    for (status, n) in report.summary() {
        summary.insert(status.into(), json!(n));
    }
    json!({
        "command": report.command,
        "root": report.root,
        "controls": controls,
        "summary": summary,
    })
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(report))?;
    writeln!(out)
}
