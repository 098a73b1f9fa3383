//! The command line (a contract: see DESIGN.md). This file holds only the clap structures;
//! each subcommand lives in its own file.

#![forbid(unsafe_code)]

mod context;
mod docs;
mod evaluate;
mod rollback;
mod run;
mod status;
mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::report::Format;

#[derive(Debug, Parser)]
#[command(
    name = "hardend",
    version,
    about = "Harden Docker and Kubernetes hosts, and keep them hardened"
)]
pub struct Cli {
    /// Managed targets resolve under DIR (an offline root file system).
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Settings file (default /etc/hardend/hardend.toml; a missing file means defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Drop-in profile directory (default /etc/hardend/profiles.d).
    #[arg(long, global = true, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Backups and status (default /var/lib/hardend).
    #[arg(long = "state-dir", global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Output formats of `plan` and `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChangeFormat {
    Text,
    Json,
}

impl From<ChangeFormat> for Format {
    fn from(f: ChangeFormat) -> Format {
        match f {
            ChangeFormat::Text => Format::Text,
            ChangeFormat::Json => Format::Json,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Observe only: report each control's status.
    Check {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Only this control (repeatable).
        #[arg(long = "control", value_name = "ID")]
        controls: Vec<String>,
    },
    /// Show what apply would change, as a diff; changes nothing.
    Plan {
        #[arg(long, value_enum, default_value_t = ChangeFormat::Text)]
        format: ChangeFormat,
        #[arg(long = "control", value_name = "ID")]
        controls: Vec<String>,
    },
    /// Converge once, backing originals up first.
    Apply {
        #[arg(long, value_enum, default_value_t = ChangeFormat::Text)]
        format: ChangeFormat,
        #[arg(long = "control", value_name = "ID")]
        controls: Vec<String>,
    },
    /// Restore the originals that apply replaced.
    Rollback {
        #[arg(long = "control", value_name = "ID")]
        controls: Vec<String>,
    },
    /// Check profile files (all in force when no PATH is given); exit 2 with file:line:col on error.
    Validate { paths: Vec<PathBuf> },
    /// The daemon: converge, then watch every target and revert or report drift.
    Run,
    /// What the running daemon sees (or the last state it saved).
    Status {
        #[arg(long, value_enum, default_value_t = ChangeFormat::Text)]
        format: ChangeFormat,
    },
    /// Write the man pages and shell completions into DIR (used by the package build).
    #[command(name = "generate-docs", hide = true)]
    GenerateDocs { dir: PathBuf },
}

/// Process exit codes (DESIGN.md): 0 all good, 1 drift/conflict/error, 2 nothing evaluated.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_UNUSABLE: i32 = 2;

/// Parses the command line, runs the command, and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                EXIT_UNUSABLE
            } else {
                EXIT_OK
            };
            let _ = e.print();
            return code;
        }
    };
    let result = match &cli.command {
        Command::Check { format, controls } => evaluate::run(&cli, "check", *format, controls),
        Command::Plan { format, controls } => {
            evaluate::run(&cli, "plan", (*format).into(), controls)
        }
        Command::Apply { format, controls } => {
            evaluate::run(&cli, "apply", (*format).into(), controls)
        }
        Command::Rollback { controls } => rollback::run(&cli, controls),
        Command::Validate { paths } => validate::run(&cli, paths),
        Command::Run => run::run(&cli),
        Command::Status { format } => status::run(&cli, *format),
        Command::GenerateDocs { dir } => docs::run(dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hardend: {e:#}");
            EXIT_UNUSABLE
        }
    }
}
