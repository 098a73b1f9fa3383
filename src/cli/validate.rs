//! `validate [PATH]...`: check profile files before they are installed.

use std::path::PathBuf;

use super::context::{print_diagnostics, Setup};
use super::{Cli, EXIT_OK, EXIT_UNUSABLE};
use crate::profile;

pub fn run(cli: &Cli, paths: &[PathBuf]) -> anyhow::Result<i32> {
    let setup = Setup::load(cli)?;
    let diags = if paths.is_empty() {
        match profile::load(&setup.sources) {
            Ok((set, mut warnings)) => {
                profile::check_sources(&set, &mut warnings);
                print_diagnostics(&warnings);
                if warnings.has_errors() {
                    return Ok(EXIT_UNUSABLE);
                }
                println!(
                    "{} profile file(s), {} control(s): valid",
                    set.files.len(),
                    set.controls.len()
                );
                return Ok(EXIT_OK);
            }
            Err(d) => d,
        }
    } else {
        profile::validate_files(&setup.sources, paths)
    };
    print_diagnostics(&diags);
    if diags.has_errors() {
        return Ok(EXIT_UNUSABLE);
    }
    println!("{} file(s): valid", paths.len());
    Ok(EXIT_OK)
}
