//! `apparmor-profile`: an AppArmor profile deployed to `/etc/apparmor.d/` (where
//! apparmor.service loads it at boot) and loaded in the running kernel in the wanted mode.
//!
//! Two parts. The file is a `file-content` file whose content must first compile with
//! `apparmor_parser` (without loading it): a profile the parser rejects is the control's
//! `error` with the parser's message and is never written. The live part reads the kernel's
//! profile list: every profile the file defines must be loaded in `profile_mode`; one that is
//! missing, in another mode, or older than the file just written is loaded again with
//! `apparmor_parser -r`. inotify cannot see the kernel's list, so the daemon polls it. The live
//! part is `skipped` under `--root` and `unsupported` where the kernel has no AppArmor.
//!
//! `rollback` restores the file only: what the kernel has loaded stays until it is unloaded
//! or the host reboots.
//!
//! A text that forces a mode (`flags=(complain)`, as `apparmor_parser -d` reports it) with
//! `profile_mode = "enforce"` is an `error` with no fix, and is not deployed: the parser has no
//! switch to enforce it, so loading it again would only repeat the drift on every poll.

use std::path::Path;

use super::file_content::observe_content;
use super::{Context, FileContent, Fix, Kind, Observation, Part};
use crate::apparmor::{self, Compiled, KernelState, ProfileMode};
use crate::engine::Status;
use crate::fs::TrustPolicy;
use crate::profile::reader::TableReader;

const PROFILE_DIR: &str = "/etc/apparmor.d";

#[derive(Debug, Clone)]
pub struct AppArmorProfile {
    pub file: FileContent,
    pub mode: ProfileMode,
}

/// The live part's target.
pub fn live_target(names: &[String]) -> String {
    format!("AppArmor profile {} (live)", names.join(", "))
}

impl AppArmorProfile {
    pub fn parse(r: &mut TableReader) -> Option<AppArmorProfile> {
        let mode = match r.str("profile_mode") {
            None => Some(ProfileMode::Enforce),
            Some(m) => {
                let mode = ProfileMode::parse(&m.value);
                if mode.is_none() {
                    r.error(
                        m.location,
                        format!(
                            "invalid `profile_mode` {:?}: expected \"enforce\" or \"complain\"",
                            m.value
                        ),
                    );
                }
                mode
            }
        };
        let file = FileContent::parse(r)?;
        // apparmor.service loads /etc/apparmor.d itself, not its subdirectories (those hold
        // includes, tunables and caches).
        if file.path.parent() != Some(Path::new(PROFILE_DIR)) {
            let here = r.here();
            r.error(
                here,
                format!(
                    "`path` {} must be a file directly in {PROFILE_DIR}/, where apparmor.service loads profiles from",
                    file.path.display()
                ),
            );
            return None;
        }
        Some(AppArmorProfile { file, mode: mode? })
    }

    /// The profile's verdict, for `hardend validate`: the reason the parser rejects it, or
    /// the mode its text forces against `profile_mode`.
    pub fn check_content(&self, trust: &TrustPolicy) -> Result<(), String> {
        let content = self.file.read_desired(trust)?;
        self.verdict(&content).map(|_| ())
    }

    /// The compiled profile, or why it cannot be deployed.
    fn verdict(&self, content: &[u8]) -> Result<Compiled, String> {
        let compiled = match apparmor::compile(content).as_ref() {
            Ok(c) => c.clone(),
            Err(e) => {
                return Err(format!(
                    "AppArmor profile rejected ({}): {e}",
                    self.file.origin()
                ))
            }
        };
        match compiled.forced.first() {
            Some((name, forced)) if self.mode == ProfileMode::Enforce => Err(format!(
                "`profile_mode = \"enforce\"` cannot take effect ({}): the text forces {forced} mode on {name} (flags=({forced})), which apparmor_parser keeps whatever mode it is asked for; remove the flag or set `profile_mode = \"{forced}\"`",
                self.file.origin()
            )),
            _ => Ok(compiled),
        }
    }

    /// Are the file's profiles loaded in the wanted mode? `file_changes` when the file part
    /// is about to be rewritten: what is loaded then is the old text.
    fn live_part(&self, ctx: &Context, names: &[String], file_changes: bool) -> Part {
        let target = live_target(names);
        let part = |status| Part::new(target.clone(), status).expected(self.mode.name());
        if !ctx.root.is_host() {
            return part(Status::Skipped).message(
                "an offline root has no running kernel; apparmor.service loads the profile at boot",
            );
        }
        let live = judge(
            &KernelState::read(),
            names,
            self.mode,
            file_changes,
            part(Status::Pass),
        );
        match live.status {
            Status::Drift => live.fix(Fix::LoadAppArmor {
                path: self.file.path.clone(),
                mode: self.mode,
                names: names.to_vec(),
            }),
            _ => live,
        }
    }
}

/// The live part from the kernel's state; `base` carries target and expected. A drifted
/// result gets its fix from the caller.
fn judge(
    state: &KernelState,
    names: &[String],
    mode: ProfileMode,
    file_changes: bool,
    base: Part,
) -> Part {
    let with = |status: Status| {
        let mut p = base.clone();
        p.status = status;
        p
    };
    match state {
        KernelState::Unsupported(why) => {
            with(Status::Unsupported)
                .actual("no AppArmor")
                .message(format!(
                    "{why}; the profile is deployed and loads at boot on a kernel with AppArmor"
                ))
        }
        KernelState::Failed(why) => with(Status::Error).message(why.clone()),
        KernelState::Loaded(_) => {
            let actual: Vec<String> = names
                .iter()
                .map(|n| format!("{n} ({})", state.mode_of(n).unwrap_or("not loaded")))
                .collect();
            let actual = actual.join(", ");
            let wrong: Vec<&str> = names
                .iter()
                .filter(|n| state.mode_of(n) != Some(mode.name()))
                .map(String::as_str)
                .collect();
            if !wrong.is_empty() {
                with(Status::Drift).actual(actual).message(format!(
                    "not loaded in {} mode: {}",
                    mode.name(),
                    wrong.join(", ")
                ))
            } else if file_changes {
                with(Status::Drift).actual(actual).message(
                    "the loaded policy is the old text: it is loaded again once the file is written",
                )
            } else {
                with(Status::Pass).actual(actual)
            }
        }
    }
}

impl Kind for AppArmorProfile {
    fn target(&self) -> String {
        self.file.target()
    }

    fn watch_paths(&self) -> Vec<String> {
        self.file.watch_paths()
    }

    fn host_watch_paths(&self) -> Vec<std::path::PathBuf> {
        self.file.host_watch_paths()
    }

    fn polled(&self) -> bool {
        true
    }

    fn live_matches(&self, ctx: &Context) -> Option<bool> {
        if !ctx.root.is_host() {
            return None;
        }
        let content = self.file.desired(ctx).ok()?;
        let names = self.verdict(&content).ok()?.names;
        match KernelState::read() {
            state @ KernelState::Loaded(_) => Some(
                names
                    .iter()
                    .all(|n| state.mode_of(n) == Some(self.mode.name())),
            ),
            _ => None,
        }
    }

    fn observe(&self, ctx: &Context) -> Observation {
        let shown = self.target();
        let content = match self.file.desired(ctx) {
            Ok(c) => c,
            Err(e) => {
                return Observation {
                    target: shown.clone(),
                    parts: vec![Part::new(shown, Status::Error).message(e)],
                }
            }
        };
        let names = match self.verdict(&content) {
            Ok(compiled) => compiled.names,
            Err(e) => {
                return Observation {
                    target: shown.clone(),
                    parts: vec![Part::new(shown, Status::Error)
                        .expected(format!(
                            "a profile apparmor_parser compiles, loadable in {} mode",
                            self.mode.name()
                        ))
                        .message(format!("not deployed: {e}"))],
                }
            }
        };
        let file = observe_content(&self.file, ctx, content);
        let content_changes = matches!(&file.fix, Some(Fix::WriteFile { .. }));
        let live = self.live_part(ctx, &names, content_changes);
        Observation {
            target: shown,
            parts: vec![file, live],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apparmor::kernel::parse_profiles;

    fn names() -> Vec<String> {
        vec!["hardend-test".to_string()]
    }

    fn judged(state: &KernelState, mode: ProfileMode, file_changes: bool) -> Part {
        let base = Part::new(live_target(&names()), Status::Pass).expected(mode.name());
        judge(state, &names(), mode, file_changes, base)
    }

    #[test]
    fn no_apparmor_is_unsupported_never_pass() {
        let p = judged(
            &KernelState::Unsupported("the kernel has no AppArmor".into()),
            ProfileMode::Enforce,
            false,
        );
        assert_eq!(p.status, Status::Unsupported);
        assert!(p.fix.is_none());
    }

    #[test]
    fn the_mode_decides() {
        let state = KernelState::Loaded(parse_profiles(
            "docker-default (enforce)\nhardend-test (complain)\n",
        ));
        let p = judged(&state, ProfileMode::Complain, false);
        assert_eq!(p.status, Status::Pass);
        assert_eq!(p.actual, "hardend-test (complain)");
        let p = judged(&state, ProfileMode::Enforce, false);
        assert_eq!(p.status, Status::Drift);
        let p = judged(&state, ProfileMode::Complain, true);
        assert_eq!(p.status, Status::Drift, "a rewritten file is loaded again");
    }

    #[test]
    fn an_unloaded_profile_is_drift() {
        let state = KernelState::Loaded(parse_profiles("docker-default (enforce)\n"));
        let p = judged(&state, ProfileMode::Enforce, false);
        assert_eq!(p.status, Status::Drift);
        assert_eq!(p.actual, "hardend-test (not loaded)");
        let p = judged(
            &KernelState::Failed("permission denied".into()),
            ProfileMode::Enforce,
            false,
        );
        assert_eq!(p.status, Status::Error);
    }
}
