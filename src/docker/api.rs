//! The Docker Engine API over its unix socket, for the one thing hardend asks: `GET /info`,
//! the settings dockerd actually runs with. HTTP/1.0, so the answer is one plain body.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// `GET /info` as JSON.
pub fn info(socket: &Path) -> Result<serde_json::Value, String> {
    let fail = |e: std::io::Error| format!("docker API at {}: {e}", socket.display());
    let mut stream = UnixStream::connect(socket).map_err(fail)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    stream
        .write_all(b"GET /info HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n")
        .map_err(fail)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(fail)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("docker API at {}: malformed response", socket.display()))?;
    let head = String::from_utf8_lossy(&response[..split]);
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        let first = head.lines().next().unwrap_or("").to_string();
        return Err(format!("docker API at {}: {first}", socket.display()));
    }
    serde_json::from_slice(&response[split + 4..])
        .map_err(|e| format!("docker API at {}: {e}", socket.display()))
}

/// The value dockerd runs with for a daemon.json key, where `/info` shows it; `None` when
/// `/info` does not report that key (then only the file can be checked).
pub fn live_value(info: &serde_json::Value, key: &str) -> Option<serde_json::Value> {
    use serde_json::Value;
    Some(match key {
        "live-restore" => info["LiveRestoreEnabled"].clone(),
        "debug" => info["Debug"].clone(),
        "log-driver" => info["LoggingDriver"].clone(),
        "experimental" => info["ExperimentalBuild"].clone(),
        "default-runtime" => info["DefaultRuntime"].clone(),
        "labels" => info["Labels"].clone(),
        // dockerd 20.10 does not list no-new-privileges in SecurityOptions, so its absence
        // there proves nothing: the key is judged from the file alone.
        "registry-mirrors" => info["RegistryConfig"]["Mirrors"].clone(),
        "insecure-registries" => {
            // 127.0.0.0/8 is always insecure to dockerd; it is not a setting.
            let cidrs = info["RegistryConfig"]["InsecureRegistryCIDRs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.as_str() != Some("127.0.0.0/8"));
            let names = info["RegistryConfig"]["IndexConfigs"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| v["Secure"] == Value::Bool(false))
                        .map(|(k, _)| Value::String(k.clone()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            Value::Array(cidrs.chain(names).collect())
        }
        _ => return None,
    })
}

/// Whether a live value matches what daemon.json asks for (lists compare as sets; mirrors
/// without the trailing slash dockerd adds).
pub fn live_matches(key: &str, live: &serde_json::Value, wanted: &serde_json::Value) -> bool {
    use serde_json::Value;
    let norm = |v: &Value| -> Vec<String> {
        let mut items: Vec<String> = match v {
            Value::Array(a) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                .map(|s| {
                    if key == "registry-mirrors" {
                        s.trim_end_matches('/').to_string()
                    } else {
                        s
                    }
                })
                .collect(),
            Value::Null => Vec::new(),
            other => vec![other.to_string()],
        };
        items.sort();
        items
    };
    match (live, wanted) {
        (Value::Array(_) | Value::Null, Value::Array(_)) => norm(live) == norm(wanted),
        _ => live == wanted,
    }
}
