//! Performing one fix: look the target up (or take the lookup the observation made an instant
//! before), record its original in the store, then change it through the fs layer.

use crate::fs::Root;
use crate::kinds::{Fix, KeptLookups};
use crate::store::Store;

/// Performs a fix for `control`. The original is durable in the store before anything changes.
/// `found`: lookups the observation just made, used instead of resolving the target again.
pub fn perform(
    root: &Root,
    store: &mut Store,
    control: &str,
    fix: &Fix,
    found: &KeptLookups,
) -> Result<(), String> {
    match fix {
        // The live value is not backed up: rollback restores the persisted files, and the
        // kernel takes their values at the next boot.
        Fix::WriteKernel { path, value } => root
            .lookup(path)
            .and_then(|l| l.write_in_place(format!("{value}\n").as_bytes()))
            .map_err(|e| e.to_string()),
        Fix::MergeAuditRule {
            path,
            rule,
            managed,
            ..
        } => match crate::audit::merge_fix(root, path, rule, managed)? {
            Some(write) => perform(root, store, control, &write, found),
            None => Ok(()),
        },
        // Not backed up either: the rules file is, and it loads the rules at boot.
        Fix::LoadAuditRule { rule } => crate::audit::live::load(rule),
        // Not backed up: the file is, and apparmor.service loads it at boot.
        Fix::LoadAppArmor { path, mode, .. } => crate::apparmor::load(path, *mode),
        Fix::ReloadDocker {
            pid,
            socket,
            key,
            expected,
        } => crate::docker::reload(*pid, socket, key, expected),
        Fix::SetOwnerMode {
            path,
            uid,
            gid,
            mode,
        } => {
            let lookup = match found.take(path) {
                Some(l) => l,
                None => root.lookup(path).map_err(|e| e.to_string())?,
            };
            store
                .save_original(root, &lookup, control)
                .map_err(|e| e.to_string())?;
            lookup
                .set_owner_mode(*uid, *gid, *mode)
                .map_err(|e| e.to_string())
        }
        Fix::WriteFile {
            path,
            content,
            uid,
            gid,
            mode,
            ..
        } => {
            let mut lookup = root.lookup(path).map_err(|e| e.to_string())?;
            if !lookup.parent_exists() {
                let created = root.create_parents(path).map_err(|e| e.to_string())?;
                if !created.is_empty() {
                    store
                        .record_created_dirs(root, &created, control)
                        .map_err(|e| e.to_string())?;
                }
                // Someone else may have created the directory meanwhile: look again either way.
                lookup = root.lookup(path).map_err(|e| e.to_string())?;
            }
            store
                .save_original(root, &lookup, control)
                .map_err(|e| e.to_string())?;
            lookup
                .write_atomic(content, *uid, *gid, *mode)
                .map_err(|e| e.to_string())
        }
    }
}
