//! `rollback`: restore the originals that apply replaced, all or per control.

use anyhow::anyhow;

use super::context::Setup;
use super::{Cli, EXIT_FINDINGS, EXIT_OK, EXIT_UNUSABLE};
use crate::store::Store;

pub fn run(cli: &Cli, ids: &[String]) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let root = setup.root()?;
    let mut store = Store::open(&setup.state_dir).map_err(|e| anyhow!("{e}"))?;
    // An id is known when a loaded profile defines it or a backup names it (its profile may be
    // gone since); anything else is a typo that must not pass as "nothing to restore".
    let defined = setup.profiles().ok();
    let backed_up: Vec<&String> = store
        .entries(root.path())
        .into_iter()
        .flat_map(|e| e.controls.iter())
        .collect();
    let known = |id: &String| {
        backed_up.contains(&id)
            || defined
                .as_ref()
                .is_some_and(|set| set.control(id).is_some())
    };
    if let Some(unknown) = ids.iter().find(|id| !known(id)) {
        eprintln!("hardend: no control `{unknown}` in the loaded profiles or the backups");
        return Ok(EXIT_UNUSABLE);
    }
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
