#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2015  # functions run through `step`; `A && B || true` on purpose
# A real Docker engine for this machine (and CI on it), in a network namespace of its own.
#
#   bash compose/engine.sh [install] [start] [images] [wheelhouse] [check] [status] [stop]
#
# Several subcommands may be given at once; they run in order. Every step is idempotent and
# timed. What it does:
#   install     apt-get install docker.io docker-compose debootstrap iproute2 iptables (only
#               what is missing).
#   start       network namespace `archlab-engine` + a veth pair (host 10.213.0.1/30, namespace
#               10.213.0.2/30), Debian's dockerd inside it; writes $RUN/engine.env. Exit code 3
#               and one line on stderr when an engine cannot run here (a test runner skips).
#   images      local/python:3.11 and local/postgres:15, built from debootstrap'ed Debian 12
#               root filesystems (no container registry is reachable); rootfs tarballs are kept
#               in $CACHE so a wiped engine re-imports them without debootstrap.
#   wheelhouse  cp311 manylinux wheels of the runtime dependencies (+ pip, setuptools, wheel)
#               into $CACHE/wheelhouse, then into compose/wheelhouse/ for image builds.
#   check       a throwaway container publishing a port on $ARCHLAB_PUBLISH_ADDRESS, reached
#               from the host with curl (proves engine.env's address).
#   status      one line: running or not, and the socket.
#   stop        stop dockerd (pidfile; TERM, 20 s, KILL), delete the namespace and the veth.
#
# Use the engine with:   set -a; . /run/archlab-engine/engine.env; set +a
#                        /usr/bin/docker ...   /usr/bin/docker-compose ...
# (Debian's docker CLI: the newer one in /usr/local/bin lacks buildx, which docker-compose 1.29
# complains about.) Published ports: publish on $ARCHLAB_PUBLISH_ADDRESS (10.213.0.2), e.g.
# `ports: ["10.213.0.2:5432:5432"]`, and connect to that address from the host.
#
# Environment: ARCHLAB_ENGINE_CACHE (default /var/cache/archlab-engine: docker data root,
# rootfs tarballs, wheelhouse; kept between runs), ARCHLAB_ENGINE_RUN (default
# /run/archlab-engine: socket, pidfile, log, engine.env), ARCHLAB_ENGINE_TIMEOUT (seconds to
# wait for dockerd, default 60).
set -euo pipefail

ORIG_PATH=$PATH
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH   # Debian's docker CLI before /usr/local/bin's

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT=$(dirname "$HERE")
CACHE=${ARCHLAB_ENGINE_CACHE:-/var/cache/archlab-engine}
RUN=${ARCHLAB_ENGINE_RUN:-/run/archlab-engine}
TIMEOUT=${ARCHLAB_ENGINE_TIMEOUT:-60}

NS=archlab-engine
NS_PATH=/var/run/netns/$NS
HOST_IF=alab-eng0
NS_IF=alab-eng1
HOST_ADDR=10.213.0.1
NS_ADDR=10.213.0.2
SOCK=$RUN/docker.sock
PIDFILE=$RUN/dockerd.pid
LOG=$RUN/dockerd.log
ENVFILE=$RUN/engine.env
PACKAGES=(docker.io docker-compose debootstrap iproute2 iptables)
export DOCKER_HOST=unix://$SOCK
export DOCKER_BUILDKIT=0          # the classic builder: FROM local/... never asks a registry

PY_IMAGE=local/python:3.11
PG_IMAGE=local/postgres:15
PG_BASE_IMAGE=local/postgres-rootfs:15
SUITE=bookworm

# ---------------------------------------------------------------------------------- helpers
say() { printf '[engine] %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
die() { printf 'engine.sh: %s\n' "$*" >&2; exit 1; }
# The one line a test runner shows when it skips: exit code 3.
cannot() { printf 'archlab engine unavailable: %s\n' "$*" >&2; exit 3; }

# step NAME CMD...: run a step with a progress line before and its time after.
step() {
    local name=$1 t0
    shift
    say "$name ..."
    t0=$(now)
    "$@"
    say "$name: done in $(elapsed "$t0") s"
}

is_root() { [ "$(id -u)" = 0 ]; }

dockerd_pid() {   # the pid of *our* dockerd, or nothing
    local pid
    [ -s "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    # ... and it is the one serving our socket (a recycled pid of another dockerd is not ours)
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "unix://$SOCK" || return 1
    echo "$pid"
}

engine_answers() { timeout 10 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

need_engine() {
    dockerd_pid >/dev/null && engine_answers \
        || die "the engine is not running (run: bash $0 start)"
}

# ---------------------------------------------------------------------------------- install
missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || echo "$p"
    done
}

cmd_install() {
    local missing
    missing=$(missing_packages | tr '\n' ' ')
    if [ -z "${missing// /}" ]; then
        say "install: all present (${PACKAGES[*]})"
        return 0
    fi
    is_root || die "install: needs root to apt-get install: $missing"
    say "install: missing: $missing"
    local t0
    t0=$(now)
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    say "install: apt-get update in $(elapsed "$t0") s"
    t0=$(now)
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
        >/dev/null
    say "install: apt-get install in $(elapsed "$t0") s"
}

# ---------------------------------------------------------------------------------- network
setup_network() {
    if [ ! -e "$NS_PATH" ]; then
        ip netns add "$NS" 2>/dev/null || cannot "cannot create network namespace $NS (ip netns add failed: no permission?)"
    fi
    ip -n "$NS" link set lo up
    if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
        # a stale namespace end (e.g. after a crash) goes first
        ip -n "$NS" link del "$NS_IF" 2>/dev/null || true
        ip link add "$HOST_IF" type veth peer name "$NS_IF" \
            || cannot "cannot create the veth pair $HOST_IF/$NS_IF"
    fi
    if ! ip -n "$NS" link show "$NS_IF" >/dev/null 2>&1; then
        ip link set "$NS_IF" netns "$NS" || cannot "cannot move $NS_IF into namespace $NS"
    fi
    ip addr replace "$HOST_ADDR/30" dev "$HOST_IF"
    ip link set "$HOST_IF" up
    ip -n "$NS" addr replace "$NS_ADDR/30" dev "$NS_IF"
    ip -n "$NS" link set "$NS_IF" up
    # Forwarding inside the namespace only (dockerd sets it too): container traffic and the
    # DNAT of published ports. The host's own sysctls and iptables are not touched.
    nsenter --net="$NS_PATH" sysctl -qw net.ipv4.ip_forward=1
    say "start: namespace $NS up: host $HOST_IF $HOST_ADDR <-> $NS_IF $NS_ADDR"
}

write_envfile() {
    umask 022
    cat >"$ENVFILE" <<EOF
# The archlab Docker engine (compose/engine.sh). Use: set -a; . $ENVFILE; set +a
# Use Debian's CLIs: /usr/bin/docker and /usr/bin/docker-compose (not /usr/local/bin/docker).
DOCKER_HOST=unix://$SOCK
ARCHLAB_PUBLISH_ADDRESS=$NS_ADDR
EOF
}

cmd_start() {
    is_root || cannot "needs root (network namespace, dockerd); running as $(id -un)"
    if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1 \
        || ! command -v iptables >/dev/null 2>&1; then
        say "start: dockerd/docker-compose/iptables missing: installing"
        ( cmd_install ) || cannot "dockerd is missing and apt-get install docker.io failed"
        command -v dockerd >/dev/null 2>&1 || cannot "dockerd is missing after install"
    fi
    command -v nsenter >/dev/null 2>&1 || cannot "nsenter (util-linux) is missing"
    mkdir -p "$RUN" "$CACHE/docker"

    local pid
    if pid=$(dockerd_pid) && engine_answers; then
        setup_network
        write_envfile
        say "start: already running (pid $pid), socket $SOCK"
        return 0
    fi
    if pid=$(dockerd_pid); then
        # ours, but not answering: give it the timeout below rather than starting a second one
        say "start: dockerd (pid $pid) runs but does not answer yet; waiting"
    else
        # a socket left over from a dockerd that died would make the new one fail
        rm -f "$SOCK" "$PIDFILE"
        setup_network
        local nofile
        nofile=$(ulimit -Hn)
        [ "$nofile" = unlimited ] && nofile=1048576
        say "start: dockerd (data root $CACHE/docker, log $LOG)"
        {
            echo "=== $(date -Is) engine.sh start"
        } >>"$LOG"
        # nsenter --net only: `ip netns exec` remounts /sys and dockerd then finds no cgroups.
        setsid nsenter --net="$NS_PATH" dockerd \
            --data-root "$CACHE/docker" \
            --exec-root "$RUN/exec" \
            -H "unix://$SOCK" \
            --pidfile "$PIDFILE" \
            --default-ulimit "nofile=$nofile:$nofile" \
            >>"$LOG" 2>&1 </dev/null &
        pid=$!
    fi
    local t0 waited
    t0=$(date +%s)
    until engine_answers; do
        waited=$(( $(date +%s) - t0 ))
        if ! kill -0 "$pid" 2>/dev/null; then
            say "start: dockerd exited; the end of $LOG:"
            tail -n 20 "$LOG" | sed 's/^/    /'
            cannot "dockerd exited at start: $(grep -E 'level=(fatal|error)|failed' "$LOG" | tail -n 1 | cut -c1-300)"
        fi
        if [ "$waited" -ge "$TIMEOUT" ]; then
            say "start: dockerd gave no answer in $TIMEOUT s; the end of $LOG:"
            tail -n 20 "$LOG" | sed 's/^/    /'
            cannot "dockerd (pid $pid) did not answer on $SOCK within $TIMEOUT s (log: $LOG)"
        fi
        sleep 0.5
    done
    write_envfile
    say "start: engine up: dockerd $(docker info --format '{{.ServerVersion}}') pid $pid," \
        "storage $(docker info --format '{{.Driver}}'), env in $ENVFILE"
}

# ---------------------------------------------------------------------------------- stop
# wait_gone PID SECONDS: 0 when the process is gone in time
wait_gone() {
    local pid=$1 n=$(( $2 * 10 ))
    while [ "$n" -gt 0 ]; do
        kill -0 "$pid" 2>/dev/null || return 0
        # a zombie of ours counts as gone
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 0
        sleep 0.1
        n=$((n - 1))
    done
    ! kill -0 "$pid" 2>/dev/null
}

# Stop one process by pid (TERM, wait, KILL).
stop_pid() {
    local pid=$1 what=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    if ! wait_gone "$pid" 20; then
        say "stop: $what (pid $pid) still there after 20 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || say "stop: $what (pid $pid) survived SIGKILL"
    fi
}

cmd_stop() {
    local pid
    if pid=$(dockerd_pid); then
        say "stop: dockerd pid $pid (SIGTERM; containers stop with it)"
        stop_pid "$pid" dockerd
    else
        say "stop: no dockerd of ours runs"
    fi
    # What dockerd started and left behind (its containerd, shims, proxies) runs in our
    # namespace: stop those, and only those, by pid.
    if [ -e "$NS_PATH" ]; then
        local p comm
        for p in $(ip netns pids "$NS" 2>/dev/null); do
            comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
            case $comm in
                dockerd|containerd|containerd-shim*|docker-proxy|runc)
                    say "stop: leftover $comm pid $p"
                    stop_pid "$p" "$comm" ;;
                *) say "stop: leaving pid $p ($comm) alone: not the engine's" ;;
            esac
        done
    fi
    # mounts of the engine that a killed dockerd left behind (none after a clean stop)
    if [ -d "$RUN/exec" ]; then
        { grep -F " $RUN/exec/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r \
            | while read -r m; do say "stop: unmounting leftover $m"; umount -l "$m" || true; done
    fi
    ip link del "$HOST_IF" 2>/dev/null && say "stop: veth $HOST_IF removed" || true
    if [ -e "$NS_PATH" ]; then
        ip netns del "$NS" && say "stop: namespace $NS deleted"
    fi
    rm -f "$PIDFILE" "$SOCK" "$ENVFILE"
}

cmd_status() {
    local pid
    if pid=$(dockerd_pid) && engine_answers; then
        echo "archlab engine: running (dockerd pid $pid), DOCKER_HOST=unix://$SOCK, publish on $NS_ADDR, env $ENVFILE"
    elif pid=$(dockerd_pid); then
        echo "archlab engine: dockerd pid $pid runs but does not answer on $SOCK"
    else
        echo "archlab engine: not running (socket would be $SOCK)"
    fi
}

# ---------------------------------------------------------------------------------- images
debian_mirror() {
    # The Debian mirror apt uses here: one-line sources and deb822 .sources files.
    local f m
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) { print $i; break } }' "$f" \
            | { grep -v -e security -e '/debian-' || true; } | head -n 1)
        [ -n "$m" ] && { echo "$m"; return 0; }
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        m=$(awk -v RS= '/(^|\n)Types:[^\n]*deb([ \t\n]|$)/ && /(^|\n)Suites:[^\n]*bookworm([ \t\n]|$)/ {
                  n = split($0, l, "\n")
                  for (i = 1; i <= n; i++) if (l[i] ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", l[i]); split(l[i], u, /[ \t]+/); print u[1] }
              }' "$f" | { grep -v -e security -e '/debian-' || true; } | head -n 1)
        [ -n "$m" ] && { echo "$m"; return 0; }
    done
    echo http://deb.debian.org/debian
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# rootfs_tarball NAME INCLUDE: $CACHE/rootfs/NAME.tar, debootstrapping it when absent.
rootfs_tarball() {
    local name=$1 include=$2 tar=$CACHE/rootfs/$1.tar
    if [ -s "$tar" ]; then
        say "images: rootfs $tar cached ($(du -h "$tar" | cut -f1))"
        return 0
    fi
    command -v debootstrap >/dev/null 2>&1 || die "debootstrap missing (run: bash $0 install)"
    local mirror root t0
    mirror=$(debian_mirror)
    root=$CACHE/rootfs/$name.root
    mkdir -p "$CACHE/rootfs" "$CACHE/debootstrap-debs"
    rm -rf "$root"
    say "images: debootstrap $SUITE ($include) from $mirror ..."
    t0=$(now)
    if ! debootstrap --variant=minbase --include="$include" \
            --cache-dir="$CACHE/debootstrap-debs" \
            "$SUITE" "$root" "$mirror" >"$CACHE/rootfs/$name.debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/rootfs/$name.debootstrap.log" | sed 's/^/    /'
        die "debootstrap of $name failed (log: $CACHE/rootfs/$name.debootstrap.log)"
    fi
    say "images: debootstrap $name in $(elapsed "$t0") s"
    # Slim it: package caches and lists are not needed in an image.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/* \
        "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/*.log "$root"/var/log/apt/*
    # The image resolves names through the engine, as the official images do.
    : >"$root/etc/resolv.conf"
    echo "$name" >"$root/etc/hostname"
    t0=$(now)
    tar --numeric-owner --xattrs -C "$root" -cf "$tar.part" .
    mv "$tar.part" "$tar"
    rm -rf "$root"
    say "images: rootfs tarball $tar ($(du -h "$tar" | cut -f1)) in $(elapsed "$t0") s"
}

import_rootfs() {   # import_rootfs TARBALL IMAGE
    docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' \
        -c 'CMD ["bash"]' \
        -m "debootstrap --variant=minbase $SUITE ($(basename "$1"))" \
        "$1" "$2" >/dev/null
}

build_python_image() {
    rootfs_tarball python-3.11 python3,python3-venv,python3-pip,ca-certificates
    import_rootfs "$CACHE/rootfs/python-3.11.tar" "$PY_IMAGE"
    local v
    v=$(docker run --rm --network none "$PY_IMAGE" python3 --version)
    case $v in
        "Python 3.11."*) say "images: $PY_IMAGE has $v" ;;
        *) docker rmi "$PY_IMAGE" >/dev/null; die "$PY_IMAGE has '$v', not Python 3.11" ;;
    esac
}

cmd_images() {
    need_engine
    local t0
    t0=$(now)
    if image_exists "$PY_IMAGE"; then
        say "images: $PY_IMAGE present"
    else
        build_python_image
        say "images: $PY_IMAGE in $(elapsed "$t0") s"
    fi
    t0=$(now)
    # rebuilt when compose/postgres/ changed since the image was built
    local want have
    want=$(cat "$HERE/postgres/Dockerfile" "$HERE/postgres/docker-entrypoint.sh" | sha256sum | cut -c1-16)
    have=$(docker image inspect -f '{{index .Config.Labels "archlab.recipe"}}' "$PG_IMAGE" 2>/dev/null || true)
    if [ "$have" = "$want" ]; then
        say "images: $PG_IMAGE present"
    else
        [ -n "$have" ] && say "images: compose/postgres/ changed: rebuilding $PG_IMAGE"
        PG_RECIPE=$want build_postgres_image
        say "images: $PG_IMAGE in $(elapsed "$t0") s"
    fi
}

build_postgres_image() {
    if ! image_exists "$PG_BASE_IMAGE"; then
        rootfs_tarball postgres-15 postgresql,ca-certificates
        import_rootfs "$CACHE/rootfs/postgres-15.tar" "$PG_BASE_IMAGE"
    fi
    local old
    old=$(docker image inspect -f '{{.Id}}' "$PG_IMAGE" 2>/dev/null || true)
    docker build -q --build-arg "BASE=$PG_BASE_IMAGE" --label "archlab.recipe=$PG_RECIPE" \
        -t "$PG_IMAGE" "$HERE/postgres" >/dev/null
    local v
    v=$(docker run --rm --network none --entrypoint postgres "$PG_IMAGE" --version)
    case $v in
        *" 15."*) say "images: $PG_IMAGE has $v" ;;
        *) docker rmi "$PG_IMAGE" >/dev/null; die "$PG_IMAGE has '$v', not PostgreSQL 15" ;;
    esac
    # the earlier build of it, now untagged (only that one: the engine is shared)
    if [ -n "$old" ] && [ "$old" != "$(docker image inspect -f '{{.Id}}' "$PG_IMAGE")" ]; then
        docker rmi "$old" >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------------------------- wheels
pip_python() {   # a Python 3 with pip, for `pip download` on the host
    local c
    for c in "$PROJECT/.venv/bin/python" $(PATH=$ORIG_PATH command -v python3 || true) /usr/bin/python3; do
        [ -x "$c" ] && "$c" -m pip --version >/dev/null 2>&1 && { echo "$c"; return 0; }
    done
    return 1
}

runtime_requirements() {   # the base dependencies of pyproject.toml, one a line
    "$1" - "$PROJECT/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["dependencies"]))
EOF
}

cmd_wheelhouse() {
    local py wh=$CACHE/wheelhouse dest=$HERE/wheelhouse
    py=$(pip_python) || die "wheelhouse: no Python 3 with pip found"
    mkdir -p "$wh" "$dest"
    local reqs=$CACHE/wheelhouse.requirements.txt
    {
        runtime_requirements "$py"
        printf '%s\n' pip setuptools wheel
    } >"$reqs"
    local args=(-m pip download --disable-pip-version-check --progress-bar off
        -d "$wh" -r "$reqs" -c "$PROJECT/requirements.lock"
        --only-binary=:all: --implementation cp --python-version 3.11
        --platform manylinux2014_x86_64 --platform manylinux_2_36_x86_64)
    local out=$CACHE/wheelhouse.log t0
    t0=$(now)
    # Everything there already? Resolve from the wheelhouse alone, without the network.
    if "$py" "${args[@]}" --no-index --find-links "$wh" >"$out" 2>&1; then
        say "wheelhouse: complete already ($wh), resolved offline in $(elapsed "$t0") s"
    else
        say "wheelhouse: downloading into $wh ($(grep -c . "$reqs") requirements, pinned by requirements.lock) ..."
        t0=$(now)
        "$py" "${args[@]}" >"$out" 2>&1 || { tail -n 20 "$out" | sed 's/^/    /'; die "pip download failed (log: $out)"; }
        say "wheelhouse: downloaded in $(elapsed "$t0") s"
    fi
    # The exact set this resolution uses (older versions may linger in the cache).
    local files
    files=$(sed -nE 's/^[[:space:]]*(Saved|File was already downloaded) (.*)$/\2/p' "$out" | xargs -r -n1 basename | sort -u)
    [ -n "$files" ] || die "wheelhouse: pip named no files (log: $out)"
    local f n=0
    for f in "$dest"/*.whl; do
        [ -e "$f" ] || continue
        grep -qxF "$(basename "$f")" <<<"$files" || rm -f "$f"
    done
    while read -r f; do
        [ -e "$dest/$f" ] && continue
        ln -f "$wh/$f" "$dest/$f" 2>/dev/null || cp -f "$wh/$f" "$dest/$f"
        n=$((n + 1))
    done <<<"$files"
    say "wheelhouse: compose/wheelhouse/ holds $(grep -c . <<<"$files") wheels ($n new, $(du -sh "$dest" | cut -f1))"
}

# ---------------------------------------------------------------------------------- check
cmd_check() {
    need_engine
    image_exists "$PY_IMAGE" || die "check: $PY_IMAGE missing (run: bash $0 images)"
    local name=archlab-engine-check port=18199 t0 ok=
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --rm --name "$name" -p "$NS_ADDR:$port:8000" "$PY_IMAGE" \
        sh -c 'mkdir -p /srv && cd /srv && echo engine-ok >index.txt && exec python3 -m http.server 8000' >/dev/null
    t0=$(date +%s)
    while [ $(( $(date +%s) - t0 )) -lt 20 ]; do
        if [ "$(curl -fsS --max-time 2 "http://$NS_ADDR:$port/index.txt" 2>/dev/null)" = engine-ok ]; then
            ok=1; break
        fi
        sleep 0.3
    done
    docker rm -f "$name" >/dev/null 2>&1 || true
    [ -n "$ok" ] || die "check: http://$NS_ADDR:$port/ not reachable from the host"
    say "check: a container's port published on $NS_ADDR:$port answers the host's curl"
}

# ---------------------------------------------------------------------------------- main
[ $# -gt 0 ] || { awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0"; exit 2; }
for c in "$@"; do
    case $c in
        install|start|images|wheelhouse|stop|status|check) ;;
        *) die "unknown subcommand '$c' (install start images wheelhouse check status stop)" ;;
    esac
done
T_ALL=$(now)
for c in "$@"; do
    case $c in
        status) cmd_status ;;
        *) step "$c" "cmd_$c" ;;
    esac
done
[ $# -gt 1 ] && say "all ($*): $(elapsed "$T_ALL") s"
exit 0
