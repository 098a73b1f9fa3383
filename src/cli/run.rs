//! `run`: the daemon.

use super::context::Setup;
use super::Cli;
use crate::daemon::{self, DaemonConfig};

pub fn run(cli: &Cli) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let root = setup.root()?;
    daemon::run(DaemonConfig {
        settings: setup.settings,
        sources: setup.sources,
        config_path: setup.config_path,
        trust: setup.trust,
        root,
        state_dir: setup.state_dir,
    })
}
