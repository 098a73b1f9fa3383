//! `check`, `plan` and `apply`: evaluate the selected controls and report.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{anyhow, Context as _};

use super::context::Setup;
use super::{Cli, EXIT_UNUSABLE};
use crate::engine::Engine;
use crate::report::{Format, Report};
use crate::store::Store;

pub fn run(
    cli: &Cli,
    command: &'static str,
    format: Format,
    ids: &[String],
) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let set = setup.profiles()?;
    let root = setup.root()?;
    let engine = Engine::new(Arc::new(set), Arc::new(root), setup.trust);
    let controls = match engine.select(ids) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hardend: {e}");
            return Ok(EXIT_UNUSABLE);
        }
    };
    let results = if command == "apply" {
        let mut store = Store::open(&setup.state_dir)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("state directory {}", setup.state_dir.display()))?;
        controls
            .iter()
            .map(|c| engine.apply(c, &mut store, ids.contains(&c.id)))
            .collect()
    } else if command == "plan" {
        controls
            .iter()
            .map(|c| engine.plan(c, ids.contains(&c.id)))
            .collect()
    } else {
        controls.iter().map(|c| engine.check(c)).collect()
    };
    let report = Report {
        command,
        root: engine.root.path().to_path_buf(),
        controls: results,
    };
    let stdout = std::io::stdout();
    let color = format == Format::Text && stdout.is_terminal();
    // One write per buffer, not per line: a report of 10,000 controls is 240,000 lines of JSON.
    let mut out = std::io::BufWriter::new(stdout.lock());
    report.write(format, &mut out, color)?;
    out.flush()?;
    Ok(report.exit_code())
}
