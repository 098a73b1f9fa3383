# Shared by the set-up scripts: install what is missing, never more.

# ensure_packages PKG...: apt-get install the Debian packages that are not installed yet.
ensure_packages() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        # Installing must not start services (dockerd, auditd): the tests start their own.
        # A policy-rc.d that refuses is put in place only when there is none, and removed after.
        local policy=/usr/sbin/policy-rc.d own_policy=""
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
        fi
        local rc=0
        apt-get update -qq || rc=$?
        if [ "$rc" = 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
        fi
        if [ -n "$own_policy" ]; then
            rm -f "$policy"
        fi
        return "$rc"
    fi
}

# ensure_rust: cargo with rustfmt and clippy. Debian's own cargo is too old for the crates
# hardend uses, so a rustup toolchain is expected; this says so clearly when there is none.
ensure_rust() {
    if [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install a Rust toolchain (rustup, Rust 1.80 or newer) first" >&2
        exit 2
    fi
    if command -v rustup >/dev/null 2>&1; then
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
    fi
}

# Build tools every script needs; libseccomp-dev for the libseccomp crate (seccomp profiles,
# and the filter `hardend run` puts on itself).
BUILD_PACKAGES=(gcc libc6-dev pkg-config libseccomp-dev)

# What packaging/build and its end-to-end test packaging/test/e2e use: dpkg-shlibdeps
# (dpkg-dev) for cargo-deb, debootstrap and systemd-nspawn (systemd-container) for the Debian
# container with systemd as PID 1, rpm to query the .rpm.
PACKAGE_TEST_PACKAGES=(dpkg-dev debootstrap systemd-container rpm)

# What the tests drive for real: dockerd and the docker client (docker.io), auditctl (auditd),
# unshare/nsenter/mount (util-linux, mount), mkfifo (coreutils), apparmor_parser (apparmor),
# promtool for the metrics file
# (prometheus; installing it starts no service, see ensure_packages), python3 and its venv
# module for kubernetes-validate (ensure_kubernetes_validate), and the packaging tools above.
TEST_PACKAGES=(docker.io auditd util-linux mount coreutils apparmor prometheus python3 python3-venv
    "${PACKAGE_TEST_PACKAGES[@]}")

# ensure_kubernetes_validate: kubernetes-validate from PyPI in target/tools/k8s-venv, for
# tests/kubernetes_manifests.rs. It bundles the Kubernetes JSON schemas, so validating needs no
# network (the test runs it in a network namespace of its own); only installing it does.
KUBERNETES_VALIDATE_VERSION=1.37.0
ensure_kubernetes_validate() {
    local venv=target/tools/k8s-venv
    if [ "$("$venv/bin/kubernetes-validate" --version 2>/dev/null)" != "$KUBERNETES_VALIDATE_VERSION" ]; then
        echo "installing: kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv" >&2
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    fi
}
