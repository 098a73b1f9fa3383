//! Journal events: the auditor's record. Every event type has one MESSAGE_ID (explained in
//! `systemd/hardend.catalog`) and a `HARDEND_EVENT` name; the `HARDEND_*` field names are a
//! contract (DESIGN.md) and are defined here only.
//!
//! Events go to journald over its native protocol (tracing-journald, with the field prefix
//! turned off so names arrive exactly as written here). Where no journal socket exists (a
//! container), each event is one readable line on stderr naming the type and the control.

use std::fmt::Write as _;
use std::sync::OnceLock;

use tracing::Level;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    DriftDetected,
    DriftReverted,
    /// A reported drift went away (someone put it back, or a waiver lapsed into compliance).
    DriftResolved,
    RevertFailed,
    Fight,
    Conflict,
    ProfileLoaded,
    ProfileRejected,
    WaiverExpired,
    RestartRequired,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::DriftDetected,
        EventType::DriftReverted,
        EventType::DriftResolved,
        EventType::RevertFailed,
        EventType::Fight,
        EventType::Conflict,
        EventType::ProfileLoaded,
        EventType::ProfileRejected,
        EventType::WaiverExpired,
        EventType::RestartRequired,
    ];

    /// The `HARDEND_EVENT` value.
    pub fn name(self) -> &'static str {
        match self {
            EventType::DriftDetected => "drift-detected",
            EventType::DriftReverted => "drift-reverted",
            EventType::DriftResolved => "drift-resolved",
            EventType::RevertFailed => "revert-failed",
            EventType::Fight => "fight",
            EventType::Conflict => "conflict",
            EventType::ProfileLoaded => "profile-loaded",
            EventType::ProfileRejected => "profile-rejected",
            EventType::WaiverExpired => "waiver-expired",
            EventType::RestartRequired => "restart-required",
        }
    }

    /// The MESSAGE_ID, as in `systemd/hardend.catalog`.
    pub fn message_id(self) -> &'static str {
        match self {
            EventType::DriftDetected => "00414035801b40848b64526802594c54",
            EventType::DriftReverted => "82f4658b5e754e938cace53ca1f0cfd4",
            EventType::DriftResolved => "33117970c7ae47139de54576f1c1e693",
            EventType::RevertFailed => "0ccea41590e64ecc844138c41a0e58ba",
            EventType::Fight => "bd926401df3d4ecfa588b1e82ede02dd",
            EventType::Conflict => "cadb020c40d54673b98720abad444799",
            EventType::ProfileLoaded => "09c79368ed944b9893fa13a625e8171b",
            EventType::ProfileRejected => "f97c775fc16f488c81448361b0c3be37",
            EventType::WaiverExpired => "7cf96a8b2726488c9f7a1338891e7915",
            EventType::RestartRequired => "a5d01ded7baf46f097b546c404c73582",
        }
    }

    fn level(self) -> Level {
        match self {
            EventType::DriftReverted | EventType::DriftResolved | EventType::ProfileLoaded => {
                Level::INFO
            }
            EventType::RevertFailed | EventType::ProfileRejected => Level::ERROR,
            _ => Level::WARN,
        }
    }
}

/// `HARDEND_ACTION`: what hardend did about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Reverted,
    Reported,
    Skipped,
    Failed,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Reverted => "reverted",
            Action::Reported => "reported",
            Action::Skipped => "skipped",
            Action::Failed => "failed",
        }
    }
}

/// One journal entry. Empty fields are left out.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    pub message: String,
    pub control: Option<String>,
    pub control_kind: Option<&'static str>,
    pub target: Option<String>,
    pub expected: Option<String>,
    pub actual: Option<String>,
    pub action: Option<Action>,
    /// From the kernel event to the completed revert.
    pub latency_us: Option<u64>,
    /// The process that wrote, where the kernel can tell it (fights).
    pub writer: Option<String>,
    /// A profile file (profile-loaded, profile-rejected).
    pub file: Option<String>,
}

impl Event {
    pub fn new(kind: EventType, message: impl Into<String>) -> Event {
        Event {
            kind,
            message: message.into(),
            control: None,
            control_kind: None,
            target: None,
            expected: None,
            actual: None,
            action: None,
            latency_us: None,
            writer: None,
            file: None,
        }
    }

    /// The event as one line: the stderr form, and the test's view of the entry.
    pub fn to_line(&self) -> String {
        let mut line = format!("hardend: {}", self.kind.name());
        for (key, value) in self.fields() {
            if key != "HARDEND_EVENT" {
                let _ = write!(
                    line,
                    " {}={value:?}",
                    key.trim_start_matches("HARDEND_").to_lowercase()
                );
            }
        }
        let _ = write!(line, ": {}", self.message);
        line
    }

    /// The `HARDEND_*` fields that apply, by their journal names.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("HARDEND_EVENT", self.kind.name().to_string())];
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                out.push((k, v));
            }
        };
        put("HARDEND_CONTROL", self.control.clone());
        put("HARDEND_KIND", self.control_kind.map(str::to_string));
        put("HARDEND_TARGET", self.target.clone());
        put("HARDEND_EXPECTED", self.expected.clone());
        put("HARDEND_ACTUAL", self.actual.clone());
        put("HARDEND_ACTION", self.action.map(|a| a.name().to_string()));
        put("HARDEND_LATENCY_US", self.latency_us.map(|l| l.to_string()));
        put("HARDEND_WRITER", self.writer.clone());
        put("HARDEND_FILE", self.file.clone());
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Journal,
    Stderr,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sets up logging once: to journald when its socket answers, else to stderr.
pub fn init() -> Sink {
    *SINK.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("hardend".into());
                let subscriber = tracing_subscriber::registry().with(layer);
                let _ = tracing::subscriber::set_global_default(subscriber);
                Sink::Journal
            }
            Err(_) => {
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .without_time()
                    .finish();
                let _ = tracing::subscriber::set_global_default(subscriber);
                Sink::Stderr
            }
        }
    })
}

/// Writes one event.
pub fn emit(event: &Event) {
    match SINK.get().copied().unwrap_or(Sink::Stderr) {
        Sink::Stderr => {
            // One write per line, so lines from several writers never interleave.
            let mut line = event.to_line();
            line.push('\n');
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
        }
        Sink::Journal => {
            let fields = event.fields();
            let f = |k: &str| {
                fields
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.as_str())
            };
            macro_rules! send {
                ($level:expr) => {
                    tracing::event!(
                        $level,
                        message_id = event.kind.message_id(),
                        hardend_event = event.kind.name(),
                        hardend_control = f("HARDEND_CONTROL"),
                        hardend_kind = f("HARDEND_KIND"),
                        hardend_target = f("HARDEND_TARGET"),
                        hardend_expected = f("HARDEND_EXPECTED"),
                        hardend_actual = f("HARDEND_ACTUAL"),
                        hardend_action = f("HARDEND_ACTION"),
                        hardend_latency_us = f("HARDEND_LATENCY_US"),
                        hardend_writer = f("HARDEND_WRITER"),
                        hardend_file = f("HARDEND_FILE"),
                        "{}",
                        event.message
                    )
                };
            }
            match event.kind.level() {
                Level::ERROR => send!(Level::ERROR),
                Level::WARN => send!(Level::WARN),
                _ => send!(Level::INFO),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_are_distinct_128_bit_hex() {
        let mut seen = std::collections::HashSet::new();
        for t in EventType::ALL {
            let id = t.message_id();
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(seen.insert(id), "duplicate MESSAGE_ID for {}", t.name());
        }
    }

    #[test]
    fn catalog_explains_every_message_id() {
        let catalog = include_str!("../systemd/hardend.catalog");
        for t in EventType::ALL {
            assert!(
                catalog.contains(&format!("-- {}", t.message_id())),
                "catalog lacks {}",
                t.name()
            );
        }
    }

    #[test]
    fn stderr_line_names_type_and_control() {
        let mut e = Event::new(EventType::DriftReverted, "mode put back");
        e.control = Some("cis-docker-3.18".into());
        e.action = Some(Action::Reverted);
        assert_eq!(
            e.to_line(),
            "hardend: drift-reverted control=\"cis-docker-3.18\" action=\"reverted\": mode put back"
        );
    }
}
