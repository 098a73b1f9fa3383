//! What every command needs: settings, the profile sources, the root and the state directory.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};

use super::Cli;
use crate::diag::Diagnostics;
use crate::fs::{Root, TrustPolicy};
use crate::profile::{self, ProfileSet, ProfileSources};
use crate::settings::{self, Settings};

pub struct Setup {
    pub settings: Settings,
    pub config_path: PathBuf,
    pub sources: ProfileSources,
    pub trust: TrustPolicy,
    pub root_dir: PathBuf,
    pub state_dir: PathBuf,
}

/// Profiles, settings, `source` files and followed links must be owned by root.
pub fn trust_policy() -> TrustPolicy {
    TrustPolicy { owner_uid: 0 }
}

pub fn print_diagnostics(diags: &Diagnostics) {
    for d in &diags.items {
        eprintln!("{d}");
    }
}

impl Setup {
    /// Reads the settings; a rejected settings file is an error that names file:line:col.
    pub fn load(cli: &Cli) -> anyhow::Result<Setup> {
        let trust = trust_policy();
        let config = cli
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(settings::DEFAULT_CONFIG));
        let settings = Settings::load(&config, &trust).map_err(|d| {
            print_diagnostics(&d);
            anyhow!("settings file {} rejected", config.display())
        })?;
        let sources = ProfileSources {
            builtin_dir: settings::builtin_profiles_dir(),
            builtin: settings.builtin_profiles.clone(),
            dropin_dir: cli
                .profiles
                .clone()
                .unwrap_or_else(|| PathBuf::from(settings::DEFAULT_PROFILES)),
            trust,
        };
        Ok(Setup {
            settings,
            config_path: config,
            sources,
            trust,
            root_dir: cli.root.clone().unwrap_or_else(|| PathBuf::from("/")),
            state_dir: cli
                .state_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(settings::DEFAULT_STATE_DIR)),
        })
    }

    pub fn profiles(&self) -> anyhow::Result<ProfileSet> {
        match profile::load(&self.sources) {
            Ok((set, warnings)) => {
                print_diagnostics(&warnings);
                Ok(set)
            }
            Err(diags) => {
                print_diagnostics(&diags);
                Err(anyhow!("profiles rejected; nothing was evaluated"))
            }
        }
    }

    pub fn root(&self) -> anyhow::Result<Root> {
        let path = canonical(&self.root_dir)?;
        Root::open(&path, self.trust.owner_uid)
            .with_context(|| format!("cannot open root {}", path.display()))
    }
}

fn canonical(p: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("root {}", p.display()))
}
