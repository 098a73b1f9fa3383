//! What dockerd does with each daemon.json key: whether this dockerd knows it, whether SIGHUP
//! applies it, and which command-line flag sets the same option (dockerd refuses to start when
//! an option is given both ways). Sources: moby `daemon/config`, `daemon/reload.go`,
//! `cmd/dockerd` flag definitions (Engine 20.10 to 27).

/// Keys dockerd (20.10 and later) accepts in daemon.json. Any other key makes it refuse to start.
pub const KNOWN_KEYS: &[&str] = &[
    "allow-nondistributable-artifacts",
    "api-cors-header",
    "authorization-plugins",
    "bip",
    "bip6",
    "bridge",
    "builder",
    "cdi-spec-dirs",
    "cgroup-parent",
    "cluster-advertise",
    "cluster-store",
    "cluster-store-opts",
    "containerd",
    "containerd-namespace",
    "containerd-plugins-namespace",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "data-root",
    "debug",
    "default-address-pools",
    "default-cgroupns-mode",
    "default-gateway",
    "default-gateway-v6",
    "default-ipc-mode",
    "default-network-opts",
    "default-runtime",
    "default-shm-size",
    "default-ulimits",
    "dns",
    "dns-opts",
    "dns-search",
    "exec-opts",
    "exec-root",
    "experimental",
    "features",
    "fixed-cidr",
    "fixed-cidr-v6",
    "group",
    "hosts",
    "host-gateway-ip",
    "icc",
    "init",
    "init-path",
    "insecure-registries",
    "ip",
    "ip-forward",
    "ip-masq",
    "ip6tables",
    "iptables",
    "ipv6",
    "labels",
    "live-restore",
    "log-driver",
    "log-format",
    "log-level",
    "log-opts",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "metrics-addr",
    "min-api-version",
    "mtu",
    "network-control-plane-mtu",
    "network-diagnostic-port",
    "no-new-privileges",
    "node-generic-resources",
    "oom-score-adjust",
    "pidfile",
    "proxies",
    "raw-logs",
    "registry-mirrors",
    "rootless",
    "runtimes",
    "seccomp-profile",
    "selinux-enabled",
    "shutdown-timeout",
    "storage-driver",
    "storage-opts",
    "swarm-default-advertise-addr",
    "tls",
    "tlscacert",
    "tlscert",
    "tlskey",
    "tlsverify",
    "userland-proxy",
    "userland-proxy-path",
    "userns-remap",
];

/// Keys that dockerd applies on SIGHUP; every other key is read only at start.
pub const RELOADABLE: &[&str] = &[
    "allow-nondistributable-artifacts",
    "authorization-plugins",
    "debug",
    "default-cgroupns-mode",
    "default-ipc-mode",
    "default-runtime",
    "default-shm-size",
    "features",
    "insecure-registries",
    "labels",
    "live-restore",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "network-diagnostic-port",
    "registry-mirrors",
    "runtimes",
    "shutdown-timeout",
];

pub fn is_known(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
}

pub fn is_reloadable(key: &str) -> bool {
    RELOADABLE.contains(&key)
}

/// The long flag names that set the same option as a daemon.json key.
pub fn flags_for(key: &str) -> Vec<&str> {
    let singular = match key {
        "hosts" => "host",
        "insecure-registries" => "insecure-registry",
        "registry-mirrors" => "registry-mirror",
        "labels" => "label",
        "log-opts" => "log-opt",
        "storage-opts" => "storage-opt",
        "default-ulimits" => "default-ulimit",
        "authorization-plugins" => "authorization-plugin",
        "exec-opts" => "exec-opt",
        "dns-opts" => "dns-opt",
        "runtimes" => "add-runtime",
        "default-address-pools" => "default-address-pool",
        "cluster-store-opts" => "cluster-store-opt",
        "node-generic-resources" => "node-generic-resource",
        "cdi-spec-dirs" => "cdi-spec-dir",
        "default-network-opts" => "default-network-opt",
        other => other,
    };
    vec![singular]
}

/// The long name of a short flag dockerd accepts.
pub fn long_name(short: &str) -> Option<&'static str> {
    Some(match short {
        "H" => "host",
        "D" => "debug",
        "l" => "log-level",
        "G" => "group",
        "p" => "pidfile",
        "g" => "data-root",
        "b" => "bridge",
        _ => return None,
    })
}
