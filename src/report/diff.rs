//! How a fix reads in `plan`: a unified diff for content, "a → b" for owner and mode.

use crate::kinds::Fix;

/// A readable description of a change; for content, a unified diff.
pub fn describe_fix(fix: &Fix) -> String {
    match fix {
        Fix::WriteKernel { path, value } => format!("{}: write {value:?}", path.display()),
        Fix::MergeAuditRule { preview, .. } => describe_fix(preview),
        Fix::LoadAuditRule { rule } => format!("auditctl {rule}"),
        Fix::LoadAppArmor { path, mode, .. } => format!(
            "apparmor_parser -r{} {}",
            if *mode == crate::apparmor::ProfileMode::Complain {
                " -C"
            } else {
                ""
            },
            path.display()
        ),
        Fix::ReloadDocker { pid, key, .. } => {
            format!("send SIGHUP to dockerd (pid {pid}) so that it applies `{key}`")
        }
        Fix::SetOwnerMode {
            path,
            uid,
            gid,
            mode,
        } => {
            let mut what = Vec::new();
            if let Some(u) = uid {
                what.push(format!("owner → uid {u}"));
            }
            if let Some(g) = gid {
                what.push(format!("group → gid {g}"));
            }
            if let Some(m) = mode {
                what.push(format!("mode → {m:04o}"));
            }
            format!("{}: {}", path.display(), what.join(", "))
        }
        Fix::WriteFile {
            path,
            content,
            uid,
            gid,
            mode,
            old,
        } => {
            let header = format!(
                "{}: write {} bytes, uid {uid} gid {gid} mode {mode:04o}",
                path.display(),
                content.len()
            );
            let new_text = std::str::from_utf8(content);
            let old_text = old.as_deref().map(std::str::from_utf8);
            match (old_text, new_text) {
                (Some(Ok(old)), Ok(new)) => {
                    let name = path.display().to_string();
                    let diff = similar::TextDiff::from_lines(old, new)
                        .unified_diff()
                        .context_radius(3)
                        .header(&name, &name)
                        .to_string();
                    format!("{header}\n{diff}")
                }
                (None, Ok(new)) => {
                    let name = path.display().to_string();
                    let diff = similar::TextDiff::from_lines("", new)
                        .unified_diff()
                        .header("/dev/null", &name)
                        .to_string();
                    format!("{header} (new file)\n{diff}")
                }
                _ => format!("{header} (binary content differs)"),
            }
        }
    }
}
