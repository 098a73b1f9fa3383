//! The engine: evaluates controls against a root (`check`, `plan`), brings them to the profile
//! (`apply`, backing every original up first) and restores originals (`rollback`).
//!
//! Kinds only observe and describe fixes; the engine alone changes the host, always in the
//! order "record the original durably, then change".

#![forbid(unsafe_code)]

mod apply;
mod result;
mod status;

pub use apply::perform;
pub use result::{ControlResult, WaiverState};
pub use status::{worst, Status};

use crate::components::Components;
use crate::fs::{Accounts, Root, TrustPolicy};
use crate::kinds::{Context, Fix, KeptLookups, Observation, Part};
use crate::profile::{Control, Policy, ProfileSet};
use crate::store::Store;

use std::borrow::Cow;
use std::sync::Arc;

/// What `apply` would do with a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Nothing,
    /// Drifted, but a report-policy control that was not named.
    NotByPolicy,
    Yes,
}

pub struct Engine {
    pub set: Arc<ProfileSet>,
    pub root: Arc<Root>,
    pub accounts: Accounts,
    pub components: Components,
    pub trust: TrustPolicy,
    /// Waivers apply up to and including their `expires` day.
    pub today: time::Date,
}

impl Engine {
    pub fn new(set: Arc<ProfileSet>, root: Arc<Root>, trust: TrustPolicy) -> Engine {
        Engine {
            accounts: Accounts::load(&root),
            components: Components::detect(&root),
            set,
            root,
            trust,
            today: time::OffsetDateTime::now_utc().date(),
        }
    }

    /// The controls named by `--control` (all when none are named), in profile order.
    pub fn select(&self, ids: &[String]) -> Result<Vec<&Control>, String> {
        if let Some(unknown) = ids.iter().find(|id| self.set.control(id).is_none()) {
            return Err(format!("no control `{unknown}` in the loaded profiles"));
        }
        Ok(self
            .set
            .controls
            .iter()
            .filter(|c| ids.is_empty() || ids.contains(&c.id))
            .collect())
    }

    pub fn context(&self) -> Context<'_> {
        Context {
            root: &self.root,
            set: &self.set,
            accounts: &self.accounts,
            trust: &self.trust,
            found: None,
        }
    }

    fn observe(&self, control: &Control, found: Option<&KeptLookups>) -> Observation {
        let ctx = Context {
            found,
            ..self.context()
        };
        control.spec.kind().observe(&ctx)
    }

    /// The component a control needs that is absent, if any.
    fn missing_component(&self, control: &Control) -> Option<&'static str> {
        control
            .requires
            .iter()
            .copied()
            .chain(control.spec.kind().component())
            .find(|c| !self.components.is_present(*c))
            .map(|c| c.name())
    }

    fn waiver_state(&self, control: &Control) -> Option<WaiverState> {
        self.set.waiver(&control.id).map(|w| WaiverState {
            reason: w.reason.clone(),
            expires: w.expires,
            expired: w.expires < self.today,
        })
    }

    /// Observes a control without changing anything (`check`, `plan`).
    pub fn check(&self, control: &Control) -> ControlResult {
        self.check_keeping(control, None)
    }

    /// [`Engine::check`] for a fix that follows at once ([`Engine::remediate_found`]): the
    /// lookups of drifted targets are kept, so the fix does not resolve them again.
    pub fn check_for_fix(&self, control: &Control) -> (ControlResult, KeptLookups) {
        let found = KeptLookups::default();
        let result = self.check_keeping(control, Some(&found));
        (result, found)
    }

    fn check_keeping(&self, control: &Control, found: Option<&KeptLookups>) -> ControlResult {
        if let Some(component) = self.missing_component(control) {
            return ControlResult::not_applicable(control, component);
        }
        let observation = self.observe(control, found);
        ControlResult::new(control, observation, self.waiver_state(control))
    }

    /// Brings a control to the profile. A `report`-policy control is changed only when the
    /// user named it (`explicit`); a waived one never.
    pub fn apply(&self, control: &Control, store: &mut Store, explicit: bool) -> ControlResult {
        self.remediate(control, self.check(control), store, explicit)
    }

    /// Saves, in one durable write, the originals of every file the results' fixes will
    /// change. Best effort: a target that cannot be looked up now is saved (or reported) by
    /// its own fix.
    pub fn save_originals(&self, results: &[&ControlResult], store: &mut Store) {
        let mut items = Vec::new();
        for r in results {
            for part in r.parts.iter().filter(|p| p.status == Status::Drift) {
                let path = match &part.fix {
                    Some(Fix::SetOwnerMode { path, .. } | Fix::WriteFile { path, .. }) => path,
                    _ => continue,
                };
                if let Ok(lookup) = self.root.lookup(path) {
                    if lookup.parent_exists() {
                        items.push((lookup, r.id.as_str()));
                    }
                }
            }
        }
        let refs: Vec<(&crate::fs::Lookup, &str)> = items.iter().map(|(l, id)| (l, *id)).collect();
        if !refs.is_empty() {
            let _ = store.save_originals(&self.root, &refs);
        }
    }

    /// Whether `apply` would change anything for this result: the one rule `apply` and
    /// `plan` share. Every drifted part is fixed, even beside parts in error (one planted
    /// symlink among a glob's files must not switch off the others); a conflict anywhere
    /// stops all writes; a waived control is never changed; a report-policy control only when
    /// named.
    pub fn would_change(control: &Control, result: &ControlResult, explicit: bool) -> Change {
        let conflicted = result.parts.iter().any(|p| p.status == Status::Conflict);
        if !result.has_fixes() || conflicted || result.is_waived() {
            Change::Nothing
        } else if control.policy == Policy::Report && !explicit {
            Change::NotByPolicy
        } else {
            Change::Yes
        }
    }

    /// `plan`: the check, with only the fixes `apply` would make.
    pub fn plan(&self, control: &Control, explicit: bool) -> ControlResult {
        let mut result = self.check(control);
        match Engine::would_change(control, &result, explicit) {
            Change::Yes => {}
            Change::NotByPolicy => {
                result.parts.iter_mut().for_each(|p| p.fix = None);
                result = result
                    .with_note("report policy: apply leaves it (name it with --control to apply)");
            }
            Change::Nothing => result.parts.iter_mut().for_each(|p| p.fix = None),
        }
        result
    }

    /// Brings a control to the profile from a result `check` just gave.
    pub fn remediate(
        &self,
        control: &Control,
        result: ControlResult,
        store: &mut Store,
        explicit: bool,
    ) -> ControlResult {
        let result = Cow::Owned(result);
        self.remediate_found(control, result, KeptLookups::default(), store, explicit)
    }

    /// [`Engine::remediate`] with the lookups [`Engine::check_for_fix`] kept. The result may
    /// be borrowed: the daemon keeps its check for the event it writes after the revert.
    pub fn remediate_found(
        &self,
        control: &Control,
        result: Cow<'_, ControlResult>,
        found: KeptLookups,
        store: &mut Store,
        explicit: bool,
    ) -> ControlResult {
        match Engine::would_change(control, &result, explicit) {
            Change::Nothing => return result.into_owned(),
            Change::NotByPolicy => {
                return result
                    .into_owned()
                    .with_note("report policy: not changed (name it with --control to apply)")
            }
            Change::Yes => {}
        }
        let mut failures: Vec<Part> = Vec::new();
        let mut fixed_targets = Vec::new();
        for part in result.parts.iter().filter(|p| p.status == Status::Drift) {
            let Some(fix) = &part.fix else { continue };
            // A control's fixes go in order (the live value, then its persisted copy; the
            // file, then dockerd's reload): after one fails, the rest would record a change
            // that did not happen.
            if !failures.is_empty() {
                break;
            }
            match perform(&self.root, store, &control.id, fix, &found) {
                Ok(()) => fixed_targets.push(part.target.clone()),
                Err(e) => failures.push(
                    Part::new(part.target.clone(), Status::Error)
                        .expected(part.expected.clone())
                        .actual(part.actual.clone())
                        .message(format!("apply failed: {e}")),
                ),
            }
        }
        drop(found);
        // Observe again: what the host shows now is the result, not what we meant to do.
        let mut after = self.observe(control, None);
        for part in &mut after.parts {
            if let Some(failed) = failures.iter().find(|f| f.target == part.target) {
                *part = failed.clone();
            } else if part.status == Status::Pass && fixed_targets.contains(&part.target) {
                part.status = Status::Fixed;
            } else if part.status == Status::Drift {
                part.message = format!("still drifted after apply: {}", part.message);
            }
        }
        ControlResult::new(control, after, self.waiver_state(control))
    }
}
