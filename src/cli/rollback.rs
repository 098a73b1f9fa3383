//! `rollback`: restore the originals that apply replaced, all or per control.

use anyhow::anyhow;

use super::context::Setup;
use super::{Cli, EXIT_FINDINGS, EXIT_OK};
use crate::store::Store;

pub fn run(cli: &Cli, ids: &[String]) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let root = setup.root()?;
    let mut store = Store::open(&setup.state_dir).map_err(|e| anyhow!("{e}"))?;
    let filter = (!ids.is_empty()).then_some(ids);
    let restored = store.rollback(&root, filter).map_err(|e| anyhow!("{e}"))?;
    let mut failed = false;
    for r in &restored {
        match &r.error {
            None => println!(
                "{}: {} ({})",
                r.path.display(),
                r.action,
                r.controls.join(", ")
            ),
            Some(e) => {
                failed = true;
                println!("{}: rollback failed: {e}", r.path.display());
            }
        }
    }
    println!(
        "{} target(s) rolled back",
        restored.iter().filter(|r| r.error.is_none()).count()
    );
    Ok(if failed { EXIT_FINDINGS } else { EXIT_OK })
}
