//! Which kubelet command-line flag overrides a KubeletConfiguration field, and whether a
//! flag's value is the one a control wants.

use serde_json::Value;

/// Fields whose flag is not the kebab-case of the field (or that are nested).
const FLAGS: &[(&str, &str)] = &[
    ("authentication.anonymous.enabled", "anonymous-auth"),
    (
        "authentication.webhook.enabled",
        "authentication-token-webhook",
    ),
    (
        "authentication.webhook.cacheTTL",
        "authentication-token-webhook-cache-ttl",
    ),
    ("authentication.x509.clientCAFile", "client-ca-file"),
    ("authorization.mode", "authorization-mode"),
    (
        "authorization.webhook.cacheAuthorizedTTL",
        "authorization-webhook-cache-authorized-ttl",
    ),
    (
        "authorization.webhook.cacheUnauthorizedTTL",
        "authorization-webhook-cache-unauthorized-ttl",
    ),
    ("readOnlyPort", "read-only-port"),
    (
        "streamingConnectionIdleTimeout",
        "streaming-connection-idle-timeout",
    ),
    ("makeIPTablesUtilChains", "make-iptables-util-chains"),
    ("eventRecordQPS", "event-qps"),
    ("tlsCertFile", "tls-cert-file"),
    ("tlsPrivateKeyFile", "tls-private-key-file"),
    ("rotateCertificates", "rotate-certificates"),
    ("tlsCipherSuites", "tls-cipher-suites"),
    ("podPidsLimit", "pod-max-pids"),
    ("seccompDefault", "seccomp-default"),
    ("protectKernelDefaults", "protect-kernel-defaults"),
    ("staticPodPath", "pod-manifest-path"),
    ("staticPodURL", "manifest-url"),
    ("kubeAPIQPS", "kube-api-qps"),
    ("kubeAPIBurst", "kube-api-burst"),
    ("registryPullQPS", "registry-qps"),
    ("imageGCHighThresholdPercent", "image-gc-high-threshold"),
    ("imageGCLowThresholdPercent", "image-gc-low-threshold"),
];

/// Boolean flags: given alone they mean `true` and never take the next argument.
pub const BOOL_FLAGS: &[&str] = &[
    "anonymous-auth",
    "authentication-token-webhook",
    "make-iptables-util-chains",
    "rotate-certificates",
    "rotate-server-certificates",
    "seccomp-default",
    "protect-kernel-defaults",
    "fail-swap-on",
    "enable-server",
    "enable-debugging-handlers",
    "serialize-image-pulls",
    "cgroups-per-qos",
    "enforce-node-allocatable",
    "register-node",
    "register-schedulable",
    "enable-controller-attach-detach",
    "exit-on-lock-contention",
    "keep-terminated-pod-volumes",
    "kernel-memcg-notification",
    "local-storage-capacity-isolation",
    "logtostderr",
    "alsologtostderr",
    "one-output",
    "skip-headers",
    "skip-log-headers",
    "help",
    "version",
];

/// The flag that overrides the dotted field `key`, if it has one. `featureGates` has none that
/// matters: the file's `featureGates` overrides `--feature-gates`.
pub fn flag_for(key: &str) -> Option<String> {
    if key == "featureGates" || key.starts_with("featureGates.") {
        return None;
    }
    if let Some((_, f)) = FLAGS.iter().find(|(k, _)| *k == key) {
        return Some((*f).to_string());
    }
    (!key.contains('.')).then(|| kebab(key))
}

/// camelCase → kebab-case, acronyms kept together: `clusterDNS` → `cluster-dns`,
/// `providerID` → `provider-id`.
pub fn kebab(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if prev.is_ascii_lowercase()
                || prev.is_ascii_digit()
                || (prev.is_ascii_uppercase() && next_lower)
            {
                out.push('-');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Whether the flag's values (in command-line order; `None` for a bare flag) give the field
/// the wanted value. Values the kubelet parses differently (durations `5m` and `5m0s`, maps)
/// are compared as text, so a match may be missed, never invented.
pub fn flag_matches(values: &[Option<String>], want: &Value) -> bool {
    let last = values.last().cloned().flatten();
    match want {
        Value::Bool(b) => last.as_deref().map_or(Some(true), go_bool) == Some(*b),
        Value::Number(n) => last.is_some_and(|v| {
            let v = v.trim();
            match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => v.parse::<i64>().ok() == Some(i),
                (None, Some(f)) => v.parse::<f64>().ok() == Some(f),
                _ => false,
            }
        }),
        Value::String(s) => last.as_deref() == Some(s.as_str()),
        Value::Array(items) => {
            // A list flag accumulates: `--x=a,b --x=c` is [a, b, c].
            let given: Vec<&str> = values
                .iter()
                .flatten()
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            let wanted: Vec<Option<&str>> = items.iter().map(Value::as_str).collect();
            given.len() == wanted.len() && given.iter().zip(&wanted).all(|(g, w)| Some(*g) == *w)
        }
        _ => false,
    }
}

/// How a flag shows on the command line: `--name=value` or `--name`.
pub fn show(name: &str, value: Option<&str>) -> String {
    match value {
        Some(v) => format!("--{name}={v}"),
        None => format!("--{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_from_the_table_or_kebab_case() {
        assert_eq!(
            flag_for("authentication.anonymous.enabled").as_deref(),
            Some("anonymous-auth")
        );
        assert_eq!(flag_for("podPidsLimit").as_deref(), Some("pod-max-pids"));
        assert_eq!(flag_for("clusterDNS").as_deref(), Some("cluster-dns"));
        assert_eq!(flag_for("maxPods").as_deref(), Some("max-pods"));
        assert_eq!(flag_for("providerID").as_deref(), Some("provider-id"));
        assert_eq!(
            flag_for("featureGates.RotateKubeletServerCertificate"),
            None
        );
        assert_eq!(flag_for("logging.format"), None);
    }

    #[test]
    fn flag_values_compare_by_type() {
        assert!(flag_matches(&[None], &json!(true)));
        assert!(flag_matches(&[Some("false".into())], &json!(false)));
        assert!(!flag_matches(&[Some("true".into())], &json!(false)));
        assert!(flag_matches(&[Some("0".into())], &json!(0)));
        assert!(!flag_matches(&[Some("10255".into())], &json!(0)));
        assert!(flag_matches(&[Some("Webhook".into())], &json!("Webhook")));
        assert!(flag_matches(
            &[Some("A,B".into()), Some("C".into())],
            &json!(["A", "B", "C"])
        ));
        assert!(!flag_matches(&[Some("A".into())], &json!(["A", "B"])));
    }
}
