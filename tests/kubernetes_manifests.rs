//! `packaging/kubernetes/`: the manifests pass the Kubernetes API schemas offline
//! (`kubernetes-validate --strict`, from PyPI, which bundles the schemas; `scripts/test` installs
//! it under `target/tools/`), the ConfigMaps hold settings and profiles that hardend accepts, and
//! the DaemonSet is wired to them as hardend needs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_hardend");

/// Kubernetes versions the manifests must pass: the oldest still common, and the newest bundled.
const VERSIONS: [&str; 2] = ["1.29.0", "1.37.0"];

fn manifest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/kubernetes")
}

fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(manifest_dir())
        .expect("packaging/kubernetes")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "{files:?}");
    files
}

/// Every document of every manifest, by `kind/name`.
fn documents() -> Vec<Yaml> {
    manifests()
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

fn find<'a>(docs: &'a [Yaml], kind: &str, name: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in packaging/kubernetes"))
}

fn kubernetes_validate() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBERNETES_VALIDATE") {
        return p.into();
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/k8s-venv/bin/kubernetes-validate");
    assert!(
        venv.exists(),
        "{} is missing: scripts/test installs it (ensure_kubernetes_validate in scripts/lib.sh)",
        venv.display()
    );
    venv
}

/// Runs the validator in a network namespace of its own: it must not fetch anything.
fn validate(files: &[PathBuf], version: &str) -> std::process::Output {
    Command::new("unshare")
        .arg("-n")
        .arg(kubernetes_validate())
        .args(["--strict", "--quiet", "--kubernetes-version", version])
        .args(files)
        .output()
        .expect("unshare (util-linux) and kubernetes-validate")
}

#[test]
fn schemas_accept_the_manifests_offline() {
    for version in VERSIONS {
        let out = validate(&manifests(), version);
        assert!(
            out.status.success(),
            "kubernetes-validate {version}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn schemas_reject_a_broken_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(manifest_dir().join("hardend-daemonset.yaml")).unwrap();
    for (what, from, to) in [
        ("a misspelt field", "hostPID: false", "hostPid: false"),
        (
            "a mode as a string",
            "defaultMode: 420",
            "defaultMode: \"0644\"",
        ),
        (
            "a list where an object goes",
            "hostPath:\n",
            "hostPath: []\n",
        ),
    ] {
        assert!(text.contains(from), "{from:?} not in the manifest");
        let bad = tmp.path().join("bad.yaml");
        std::fs::write(&bad, text.replacen(from, to, 1)).unwrap();
        let out = validate(&[bad], VERSIONS[1]);
        assert!(
            !out.status.success(),
            "{what} passed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A root-owned 0644 file (as the kubelet projects a ConfigMap key with defaultMode 420).
fn write_root_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::chown(path, Some(0), Some(0)).unwrap();
}

#[test]
fn configmaps_hold_settings_and_profiles_that_hardend_accepts() {
    let docs = documents();
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    std::fs::set_permissions(base, std::fs::Permissions::from_mode(0o755)).unwrap();
    let profiles = base.join("profiles.d");
    std::fs::create_dir(&profiles).unwrap();
    let settings = find(&docs, "ConfigMap", "hardend-settings")["data"]["hardend.toml"]
        .as_str()
        .expect("hardend-settings has hardend.toml");
    write_root_file(&base.join("hardend.toml"), settings);
    let data = find(&docs, "ConfigMap", "hardend-profiles")["data"]
        .as_hash()
        .expect("hardend-profiles has data");
    assert!(!data.is_empty());
    for (name, text) in data {
        let name = name.as_str().unwrap();
        assert!(name.ends_with(".toml"), "{name}: hardend reads only *.toml");
        write_root_file(&profiles.join(name), text.as_str().unwrap());
    }
    // The settings enable built-in profiles, which the site profile's waiver refers to.
    let out = Command::new(BIN)
        .arg("validate")
        .arg("--config")
        .arg(base.join("hardend.toml"))
        .arg("--profiles")
        .arg(&profiles)
        .arg("--state-dir")
        .arg(base.join("state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hardend validate:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_daemonset_is_wired_to_its_configmaps_and_the_metrics_directory() {
    let docs = documents();
    let ds = find(&docs, "DaemonSet", "hardend");
    let pod = &ds["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let volumes = pod["volumes"].as_vec().expect("volumes");
    let mounts = container["volumeMounts"].as_vec().expect("volumeMounts");
    let volume = |name: &str| {
        volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount_of = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };

    // Managed targets resolve under the host's root.
    let args: Vec<&str> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let root = args
        .windows(2)
        .find(|w| w[0] == "--root")
        .map(|w| w[1])
        .expect("--root");
    assert_eq!(args[0], "run");
    let host_root = volume(mount_of(root)["name"].as_str().unwrap());
    assert_eq!(host_root["hostPath"]["path"].as_str(), Some("/"));

    // Profiles and settings come from the ConfigMaps that the manifests define, root-owned 0644.
    for (path, configmap) in [
        ("/etc/hardend/profiles.d", "hardend-profiles"),
        ("/etc/hardend/hardend.toml", "hardend-settings"),
    ] {
        let v = volume(mount_of(path)["name"].as_str().unwrap());
        assert_eq!(v["configMap"]["name"].as_str(), Some(configmap));
        assert_eq!(v["configMap"]["defaultMode"].as_i64(), Some(0o644));
        find(&docs, "ConfigMap", configmap);
    }
    assert!(
        pod["securityContext"]["fsGroup"].is_badvalue(),
        "an fsGroup makes profiles group-owned and writable: hardend refuses them"
    );

    // The metrics file lies in a mounted host directory (node_exporter's textfile directory).
    let settings = find(&docs, "ConfigMap", "hardend-settings")["data"]["hardend.toml"]
        .as_str()
        .unwrap();
    let metrics_file = settings
        .lines()
        .find_map(|l| l.strip_prefix("metrics_file = "))
        .expect("metrics_file in the settings")
        .trim_matches('"');
    let dir = Path::new(metrics_file).parent().unwrap().to_str().unwrap();
    let textfile = volume(mount_of(dir)["name"].as_str().unwrap());
    assert_eq!(textfile["hostPath"]["path"].as_str(), Some(dir));

    // Least privilege: no privileged mode, every capability dropped but the listed ones.
    let sc = &container["securityContext"];
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    let dropped: Vec<&str> = sc["capabilities"]["drop"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(dropped, ["ALL"]);
    // Each added capability is explained in the manifest; a new one must be a decision.
    let added: Vec<&str> = sc["capabilities"]["add"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        added,
        [
            "CHOWN",
            "FOWNER",
            "FSETID",
            "DAC_OVERRIDE",
            "SYS_ADMIN",
            "SYS_PTRACE"
        ]
    );
    assert_eq!(pod["hostPID"].as_bool(), Some(false));
}
