# A Debian root file system booted with systemd as PID 1 (systemd-nspawn), for the end-to-end
# package test. Sourced by packaging/test/e2e; needs root.
#
# The tree is debootstrapped once into $E2E_ROOT (a cache kept across runs) and booted with
# --volatile=overlay, so every boot starts from the pristine tree and nothing the test does
# persists. The host has no systemd or machined of its own, hence --register=no and
# --keep-unit (without them nspawn asks the host's D-Bus, which is not there).
#
# The container has its own network namespace (--private-network): the built-in profiles'
# net.* sysctls that hardend enforces there must never reach the host's. The rest of /proc/sys
# is read-only inside, there is no AppArmor, and the capability bounding set lacks
# CAP_MAC_ADMIN: kernel-state controls are tested elsewhere.

E2E_ROOT=${E2E_ROOT:-/var/tmp/hardend-e2e-root}
E2E_STATE=${E2E_STATE:-$E2E_ROOT.state}
E2E_NAME=${E2E_NAME:-hardend-e2e}
E2E_SUITE=bookworm
# man-db: `systemd-analyze verify` runs `man` for the unit's Documentation=man: entry, so the
# installed man page is checked too. procps: `kill` for ExecReload.
E2E_PACKAGES=systemd,systemd-sysv,dbus,procps,man-db
# Own cgroup for nspawn (in both the named systemd hierarchy and the unified one): with
# --keep-unit it creates its payload/ and supervisor/ cgroups below the one it runs in, and they
# must not collide with another nspawn on the same host.
E2E_CGROUP=hardend-e2e-$$

container_log() { printf 'e2e: %s\n' "$*" >&2; }

# The Debian mirror this host's apt already uses for $E2E_SUITE (deb822 or one-line format).
container_mirror() {
    local f m
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        m=$(awk -v suite="$E2E_SUITE" 'BEGIN { RS = "" }
            { uri = ""; ok = 0; n = split($0, l, "\n")
              for (i = 1; i <= n; i++) {
                  if (l[i] ~ /^URIs:/) { split(l[i], a, " "); uri = a[2] }
                  if (l[i] ~ /^Suites:/) { k = split(l[i], s, " "); for (j = 2; j <= k; j++) if (s[j] == suite) ok = 1 }
                  if (l[i] ~ /^Enabled:[ \t]*no/) { ok = 0; break }
              }
              if (ok && uri != "") { print uri; exit } }' "$f")
        [ -n "$m" ] && { echo "$m"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        m=$(sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$E2E_SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
        [ -n "$m" ] && { echo "$m"; return; }
    done
    echo http://deb.debian.org/debian
}

# Debootstraps the tree unless the cached one was made from the same package list.
container_ensure_tree() {
    local marker=$E2E_ROOT/.hardend-e2e-packages
    if [ -x "$E2E_ROOT/usr/lib/systemd/systemd" ] && [ "$(cat "$marker" 2>/dev/null)" = "$E2E_PACKAGES" ]; then
        return 0
    fi
    local mirror tmp=$E2E_ROOT.partial
    mirror=$(container_mirror)
    container_log "debootstrap $E2E_SUITE ($E2E_PACKAGES) from $mirror into $E2E_ROOT"
    rm -rf --one-file-system "$tmp" "$E2E_ROOT"
    if ! debootstrap --variant=minbase --include="$E2E_PACKAGES" "$E2E_SUITE" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
        tail -20 "$tmp.log" >&2
        container_log "debootstrap failed (log: $tmp.log)"
        return 1
    fi
    echo "$E2E_NAME" >"$tmp/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$E2E_NAME" >"$tmp/etc/hosts"
    echo "$E2E_PACKAGES" >"$tmp/.hardend-e2e-packages"
    rm -f "$tmp.log"
    mv "$tmp" "$E2E_ROOT"
}

# container_alive PID [COMM]: PID runs (and is not a zombie), with that command name if given.
# nspawn is this shell's own child, so its pid cannot be reused before it is waited for: it is
# checked without COMM (its name is "bash" until the exec).
container_alive() {
    local st
    [ -n "${1:-}" ] && [ "$1" != 1 ] || return 1
    [ -z "${2:-}" ] || [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# Boots the tree and waits until the container's systemd is running (or degraded).
# Sets E2E_NSPAWN (nspawn's pid) and E2E_LEADER (host pid of the container's PID 1).
container_boot() {
    mkdir -p "$E2E_STATE"
    local h
    for h in systemd unified; do
        mkdir -p "/sys/fs/cgroup/$h/$E2E_CGROUP" 2>/dev/null || true
    done
    # setsid: a ^C in the caller's terminal must not reach the container; the subshell moves
    # itself into the test's own cgroup before it becomes nspawn.
    setsid bash -c '
        for h in systemd unified; do
            [ -w "/sys/fs/cgroup/$h/$1/cgroup.procs" ] && echo $$ >"/sys/fs/cgroup/$h/$1/cgroup.procs"
        done
        shift
        exec "$@"' _ "$E2E_CGROUP" \
        systemd-nspawn --boot --directory="$E2E_ROOT" --machine="$E2E_NAME" --volatile=overlay --private-network \
        --register=no --keep-unit --console=read-only \
        </dev/null >"$E2E_STATE/console.log" 2>&1 &
    E2E_NSPAWN=$!
    E2E_LEADER=
    local deadline=$(($(date +%s) + 60)) state=
    while :; do
        if ! container_alive "$E2E_NSPAWN"; then
            tail -30 "$E2E_STATE/console.log" >&2
            container_log "systemd-nspawn exited during boot"
            return 1
        fi
        [ -n "$E2E_LEADER" ] || E2E_LEADER=$(pgrep -P "$E2E_NSPAWN" -x systemd | head -1 || true)
        if [ -n "$E2E_LEADER" ]; then
            state=$(nsenter -t "$E2E_LEADER" -a systemctl is-system-running 2>/dev/null || true)
            case "$state" in
                running | degraded) return 0 ;;
                maintenance | stopping)
                    container_log "container systemd is $state"
                    return 1
                    ;;
            esac
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            container_log "container did not boot in 60 s (state '$state', log $E2E_STATE/console.log)"
            return 1
        fi
        sleep 0.1
    done
}

# in_container CMD...: runs CMD inside the container with a clean environment; stdin, stdout
# and the exit status pass through.
in_container() {
    nsenter -t "$E2E_LEADER" -a env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= DEBIAN_FRONTEND=noninteractive \
        "$@"
}

# container_wait_gone PID COMM SECONDS (COMM may be empty, as for container_alive)
container_wait_gone() {
    local end=$(($(date +%s) + $3))
    while container_alive "$1" "$2"; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# Halts the container (SIGTERM to nspawn = orderly shutdown of its systemd), escalating only
# when that hangs, and removes the cgroups the boot made. Safe to call when nothing runs.
container_stop() {
    if container_alive "${E2E_NSPAWN:-}"; then
        kill -TERM "$E2E_NSPAWN" 2>/dev/null || true
        if ! container_wait_gone "$E2E_NSPAWN" "" 30; then
            container_log "no clean shutdown in 30 s; killing nspawn"
            kill -KILL "$E2E_NSPAWN" 2>/dev/null || true
        fi
    fi
    if container_alive "${E2E_LEADER:-}" systemd; then
        kill -s SIGRTMIN+3 "$E2E_LEADER" 2>/dev/null || true
        container_wait_gone "$E2E_LEADER" systemd 30 || kill -KILL "$E2E_LEADER" 2>/dev/null || true
    fi
    wait "${E2E_NSPAWN:-}" 2>/dev/null || true
    local h d
    for h in systemd unified; do
        d=/sys/fs/cgroup/$h/$E2E_CGROUP
        [ -d "$d" ] || continue
        # Children first (payload/…, supervisor); the kernel refuses while a process is inside.
        find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
        rmdir "$d" 2>/dev/null || true
    done
}
