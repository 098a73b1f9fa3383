//! `hardend.toml`: the main settings. A missing file means the defaults; a present one must be
//! owned by root and writable only by root, like a profile.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::ImDocument;

use crate::diag::{Diagnostics, Source};
use crate::fs::{read_trusted, TrustPolicy};
use crate::profile::reader::TableReader;

pub const DEFAULT_CONFIG: &str = "/etc/hardend/hardend.toml";
pub const DEFAULT_PROFILES: &str = "/etc/hardend/profiles.d";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/hardend";
pub const INSTALLED_BUILTIN_DIR: &str = "/usr/share/hardend/profiles";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `run` changes enforce-policy controls only when this is true.
    pub enforce: bool,
    /// Enabled built-in profiles (file stems); `None` = every shipped profile.
    pub builtin_profiles: Option<Vec<String>>,
    pub poll_interval: Duration,
    /// Re-drifts of one target within `fight_window` that make a fight; 0 turns detection off.
    pub fight_limit: u32,
    pub fight_window: Duration,
    /// The Prometheus text file `run` keeps current (a host path, even under `--root`: it is
    /// node_exporter's, not a managed target); `None` = no metrics.
    pub metrics_file: Option<PathBuf>,
    /// `run` drops the capabilities its controls do not need, sets no_new_privs and installs
    /// its seccomp filter; read at start only.
    pub sandbox: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enforce: false,
            builtin_profiles: None,
            poll_interval: Duration::from_secs(1),
            fight_limit: 5,
            fight_window: Duration::from_secs(10),
            metrics_file: None,
            sandbox: true,
        }
    }
}

impl Settings {
    /// Reads the settings file; a missing file gives the defaults.
    pub fn load(path: &Path, trust: &TrustPolicy) -> Result<Settings, Diagnostics> {
        let mut diags = Diagnostics::default();
        let bytes = match read_trusted(path, trust) {
            Ok(b) => b,
            Err(e) if e.errno() == Some(libc::ENOENT) => return Ok(Settings::default()),
            Err(e) => {
                diags.file_error(path, e.to_string());
                return Err(diags);
            }
        };
        let Ok(text) = String::from_utf8(bytes) else {
            diags.file_error(path, "not UTF-8 text");
            return Err(diags);
        };
        let settings = Settings::parse(path, &text, &mut diags);
        match settings {
            Some(s) if !diags.has_errors() => Ok(s),
            _ => Err(diags),
        }
    }

    pub fn parse(path: &Path, text: &str, diags: &mut Diagnostics) -> Option<Settings> {
        let source = Source::new(path, text);
        let doc = match ImDocument::parse(text) {
            Ok(d) => d,
            Err(e) => {
                let location = source.location(e.span().map_or(0, |s| s.start));
                let message = e.message().lines().next().unwrap_or("invalid TOML").trim();
                diags.error(location, format!("TOML syntax: {message}"));
                return None;
            }
        };
        let mut s = Settings::default();
        let mut r = TableReader::new(&source, doc.as_table(), Some(0..0), "the settings", diags);
        if let Some(v) = r.bool("enforce") {
            s.enforce = v.value;
        }
        if let Some(v) = r.bool("sandbox") {
            s.sandbox = v.value;
        }
        if r.has("builtin_profiles") {
            s.builtin_profiles = Some(
                r.str_list("builtin_profiles")
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| n.value)
                    .collect(),
            );
        }
        for (key, slot) in [
            ("poll_interval", &mut s.poll_interval),
            ("fight_window", &mut s.fight_window),
        ] {
            if let Some(v) = r.str(key) {
                match parse_duration(&v.value) {
                    Some(d) if !d.is_zero() => *slot = d,
                    _ => r.error(
                        v.location,
                        format!(
                            "`{key}` = {:?} is not a duration (e.g. \"500ms\", \"1s\", \"2m\")",
                            v.value
                        ),
                    ),
                }
            }
        }
        if let Some(v) = r.integer("fight_limit") {
            match u32::try_from(v.value) {
                Ok(n) => s.fight_limit = n,
                Err(_) => r.error(v.location, "`fight_limit` must be 0 or a positive integer"),
            }
        }
        if let Some(v) = r.str("metrics_file") {
            let path = PathBuf::from(&v.value);
            if !path.is_absolute() || path.file_name().is_none() || v.value.ends_with('/') {
                r.error(
                    v.location,
                    format!(
                        "`metrics_file` = {:?} must be the absolute path of a file (e.g. \"/var/lib/node_exporter/textfile_collector/hardend.prom\")",
                        v.value
                    ),
                );
            } else {
                s.metrics_file = Some(path);
            }
        }
        r.finish();
        Some(s)
    }
}

/// "250ms", "1s", "2m", "1h" → Duration.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// Where the built-in profiles are: next to the source tree for a development build run from
/// its `target/` directory, else the installed location.
pub fn builtin_profiles_dir() -> PathBuf {
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR"));
    let in_dev_build = std::env::current_exe()
        .map(|exe| exe.starts_with(source_tree.join("target")))
        .unwrap_or(false);
    if in_dev_build {
        source_tree.join("profiles")
    } else {
        PathBuf::from(INSTALLED_BUILTIN_DIR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), None);
        assert_eq!(parse_duration("s"), None);
    }

    #[test]
    fn shipped_settings_parse_and_unknown_keys_are_errors() {
        let mut d = Diagnostics::default();
        let s = Settings::parse(
            Path::new("h.toml"),
            "enforce = false\nbuiltin_profiles = [\"cis-docker\"]\npoll_interval = \"2s\"\n",
            &mut d,
        )
        .unwrap();
        assert!(!d.has_errors());
        assert_eq!(s.poll_interval, Duration::from_secs(2));
        assert_eq!(s.builtin_profiles, Some(vec!["cis-docker".to_string()]));
        let mut d = Diagnostics::default();
        Settings::parse(Path::new("h.toml"), "enforse = true\n", &mut d);
        let e = d.errors().next().unwrap().to_string();
        assert_eq!(
            e,
            "h.toml:1:1: error: unknown key `enforse` in the settings (did you mean `enforce`?)"
        );
    }

    #[test]
    fn metrics_file_is_an_absolute_file_path() {
        let mut d = Diagnostics::default();
        let s = Settings::parse(
            Path::new("h.toml"),
            "metrics_file = \"/var/lib/node_exporter/textfile_collector/hardend.prom\"\n",
            &mut d,
        )
        .unwrap();
        assert!(!d.has_errors());
        assert_eq!(
            s.metrics_file.as_deref(),
            Some(Path::new(
                "/var/lib/node_exporter/textfile_collector/hardend.prom"
            ))
        );
        for (text, message) in [
            (
                "enforce = true\nmetrics_file = \"hardend.prom\"\n",
                "h.toml:2:16: error: `metrics_file` = \"hardend.prom\" must be the absolute path of a file",
            ),
            (
                "metrics_file = \"/var/lib/\"\n",
                "h.toml:1:16: error: `metrics_file` = \"/var/lib/\" must be the absolute path of a file",
            ),
            (
                "metrics_file = true\n",
                "h.toml:1:16: error: `metrics_file`",
            ),
        ] {
            let mut d = Diagnostics::default();
            Settings::parse(Path::new("h.toml"), text, &mut d);
            let e = d.errors().next().expect("an error").to_string();
            assert!(e.starts_with(message), "{e}");
        }
    }

    #[test]
    fn sandbox_is_on_unless_turned_off_and_must_be_a_boolean() {
        let parse = |text: &str| {
            let mut d = Diagnostics::default();
            let s = Settings::parse(Path::new("h.toml"), text, &mut d);
            (s, d.errors().map(|e| e.to_string()).collect::<Vec<_>>())
        };
        assert!(parse("").0.unwrap().sandbox);
        assert!(!parse("sandbox = false\n").0.unwrap().sandbox);
        let (_, errors) = parse("enforce = true\nsandbox = \"no\"\n");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("h.toml:2:11: error:"), "{errors:?}");
        assert!(errors[0].contains("`sandbox`"), "{errors:?}");
    }
}
