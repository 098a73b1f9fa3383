//! What hardend knows about the kubelet: its command line (running, or as its systemd unit
//! would start it), the flags that override config-file fields, and a minimal-edit YAML
//! editor for its KubeletConfiguration files.
//!
//! The kubelet reads, from lowest to highest precedence: `--feature-gates` from the command
//! line, the `--config` file, the drop-ins of `--config-dir` (`*.conf`, sorted, each a JSON
//! merge patch), then every other command-line flag. It never reloads: every change needs a
//! restart, which hardend flags but never performs.

#![forbid(unsafe_code)]

pub mod flags;
pub mod process;
pub mod yaml_edit;

pub use process::Kubelet;

/// Where the kubelet's config file is when nothing says otherwise (kubeadm's path).
pub const DEFAULT_CONFIG: &str = "/var/lib/kubelet/config.yaml";

/// hardend's own drop-in in the kubelet's `--config-dir`: it sorts after the usual ones, so
/// its settings win over theirs.
pub const DROP_IN_NAME: &str = "99-zz-hardend.conf";

pub const API_VERSION: &str = "kubelet.config.k8s.io/v1beta1";
pub const KIND: &str = "KubeletConfiguration";
