#!/usr/bin/env bash
# Make sure a Docker daemon answers `docker info` and that the base image is
# here: debian:bookworm-slim at the pinned digest, or our own debootstrap build of
# it (never just anything tagged debian:bookworm-slim). Idempotent; quick when both
# are there. With --print-base-ref it then prints the reference images build FROM
# (scripts/docker/build-image.sh passes it as the build argument BASE_IMAGE):
# debian@<digest>, or the tag of the debootstrap build, checked to be that build.
#
# When something is missing (needs root, Debian/apt):
#   - installs docker.io, docker-compose (v1) and debootstrap,
#   - starts dockerd detached (log: /var/log/dockerd.log) unless a daemon is
#     already there: a running dockerd, or a socket that accepts connections,
#     is waited for, never replaced; files it did not create are never deleted
#     (dockerd itself replaces a stale socket, and a pid file held by another
#     live process makes this script give its daemon a pid file of its own),
#   - pulls debian:bookworm-slim by digest ($BASE_IMAGE_DIGEST), or, when no registry is reachable, builds it
#     with debootstrap from the host's Debian mirror, checking the Release
#     signatures against Debian's archive keyring, and imports it.
#
# Environment:
#   DOCKERD_OPTS            extra dockerd flags (word-split), e.g. "--storage-driver vfs"
#   DOCKERD_PIDFILE         pid file of the daemon started here (/var/run/docker.pid)
#   DOCKERD_OWN_PIDFILE     the one used instead when that names a live process (/var/run/byoc-dockerd.pid)
#   DOCKERD_LOG             its log (/var/log/dockerd.log)
#   DOCKERD_WAIT_S          seconds to wait for a daemon to answer (60)
#   DOCKER_HOST             a unix:// socket here is where the started daemon listens
#   PULL_TIMEOUT            seconds to try `docker pull` of the base image (20)
#   DEBIAN_MIRROR           mirror for debootstrap (default: from host apt sources)
#   DEBIAN_SECURITY_MIRROR  security mirror written into the image (idem)
#   DEBIAN_SNAPSHOT         1: the mirrors are frozen snapshots whose signed Release
#                           files have expired, so the image's apt sources skip the
#                           Valid-Until check (signatures are still checked). Only this
#                           switch does that: expired Release files otherwise stop the
#                           build, since they can mean a mirror serving stale packages.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

trap 'log "ensure-docker.sh failed (line $LINENO)"' ERR

BASE_IMAGE=debian:bookworm-slim
BASE_REPOSITORY=debian
# Pulled by digest, so a registry can never hand over something else under the tag (override to move it on:
# `docker buildx imagetools inspect debian:bookworm-slim` prints the current one).
BASE_IMAGE_DIGEST=${BASE_IMAGE_DIGEST:-sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251}
SUITE=bookworm
IMPORT_MESSAGE="debootstrap --variant=minbase $SUITE" # the start of the imported image's comment: ours
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}
DOCKERD_PID=${DOCKERD_PIDFILE:-/var/run/docker.pid}
OWN_PIDFILE=${DOCKERD_OWN_PIDFILE:-/var/run/byoc-dockerd.pid} # if DOCKERD_PID names a live process not ours
ARCHIVE_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DOCKERD_SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
case $DOCKERD_SOCK in
  unix://*) DOCKERD_SOCK=${DOCKERD_SOCK#unix://} ;;
  *) DOCKERD_SOCK=remote ;; # tcp:// or ssh://: never started here
esac

docker_ok() { timeout "${1:-15}" "$DOCKER_CLI" info >/dev/null 2>&1; }
# The reference builds use: the pinned digest when it is here, else our debootstrap import if the tag is that.
# Anything else under the tag (pulled by tag, another digest) does not count.
base_ref() {
  local comment
  if "$DOCKER_CLI" image inspect "$BASE_REPOSITORY@$BASE_IMAGE_DIGEST" >/dev/null 2>&1; then
    echo "$BASE_REPOSITORY@$BASE_IMAGE_DIGEST"
    return 0
  fi
  comment=$("$DOCKER_CLI" image inspect --format '{{.Comment}}' "$BASE_IMAGE" 2>/dev/null) || return 1
  [[ $comment == "$IMPORT_MESSAGE "* ]] || return 1
  echo "$BASE_IMAGE"
}
image_ok() { base_ref >/dev/null; }

# Dockerfiles that still say FROM debian:bookworm-slim get the pinned image too: the tag is pointed at it.
tag_pinned() {
  local pinned tagged
  pinned=$("$DOCKER_CLI" image inspect --format '{{.Id}}' "$BASE_REPOSITORY@$BASE_IMAGE_DIGEST" 2>/dev/null) || return 0
  tagged=$("$DOCKER_CLI" image inspect --format '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
  [[ $tagged == "$pinned" ]] && return 0
  log "pointing $BASE_IMAGE at $BASE_REPOSITORY@$BASE_IMAGE_DIGEST"
  "$DOCKER_CLI" tag "$BASE_REPOSITORY@$BASE_IMAGE_DIGEST" "$BASE_IMAGE"
}
is_root() { [[ $(id -u) -eq 0 ]]; }

# apt's output goes to $APT_LOG (default build/logs/apt.log), shown only when it fails.
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install $* by hand"
  local t0=$SECONDS apt_log=${APT_LOG:-$here/../../build/logs/apt.log}
  mkdir -p "$(dirname "$apt_log")"
  log "installing $* (apt-get; log: $apt_log)"
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; } \
    >>"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get could not install $* (full log: $apt_log)"
  fi
  log "installed $* in $((SECONDS - t0))s"
}

# Wait until `docker info` answers; give up early if process $1 (when given) dies.
wait_for_daemon() {
  local pid=$1 i
  for ((i = 0; i < ${DOCKERD_WAIT_S:-60}; i++)); do
    docker_ok 5 && return 0
    [[ -z $pid ]] || kill -0 "$pid" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}

# Is something listening on unix socket $1? (python3 connects; without it, assume yes and never take it over.)
socket_in_use() {
  [[ -S $1 ]] || return 1
  command -v python3 >/dev/null || return 0
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
try:
    s.connect(sys.argv[1])
except OSError:
    sys.exit(1)' "$1"
}

# pid of a running dockerd (any: a service manager's, an earlier run of this script), if there is one.
running_dockerd() { pgrep -x dockerd | sed -n 1p; }

start_dockerd() {
  local pid
  [[ $DOCKERD_SOCK != remote ]] || die "DOCKER_HOST=$DOCKER_HOST does not answer; start that daemon"
  # A daemon that is there but slow (busy, or still starting) is waited for, never replaced or cleaned up after.
  pid=$(running_dockerd || true)
  if [[ -n $pid ]] || socket_in_use "$DOCKERD_SOCK"; then
    log "a Docker daemon is there (${pid:+dockerd pid $pid, }socket $DOCKERD_SOCK) but does not answer yet; waiting"
    wait_for_daemon "$pid" && return 0
    die "the Docker daemon on $DOCKERD_SOCK does not answer 'docker info'; see its log (e.g. $DOCKERD_LOG)"
  fi
  # No daemon: start ours. dockerd replaces a stale socket itself and overwrites a pid file whose process is
  # gone; a pid file naming another live process (pid reuse after a restart) stays, and ours goes elsewhere.
  if [[ -s $DOCKERD_PID ]] && kill -0 "$(<"$DOCKERD_PID")" 2>/dev/null; then
    log "$DOCKERD_PID names a live process that is not dockerd; leaving it, using $OWN_PIDFILE"
    DOCKERD_PID=$OWN_PIDFILE
  fi

  local -a opts=() extra=()
  [[ $DOCKERD_PID == /var/run/docker.pid ]] || opts+=(--pidfile "$DOCKERD_PID")
  [[ $DOCKERD_SOCK == /var/run/docker.sock ]] || opts+=(-H "unix://$DOCKERD_SOCK")
  read -r -a extra <<<"${DOCKERD_OPTS:-}"
  opts+=("${extra[@]}")
  log "starting dockerd${opts[*]:+ ${opts[*]}} (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # 9>&-: the daemon must not inherit the lock below, or it would hold it for its whole life.
  setsid nohup dockerd "${opts[@]}" >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &
  pid=$!
  if ! wait_for_daemon "$pid"; then
    tail -n 15 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not come up within ${DOCKERD_WAIT_S:-60}s; see $DOCKERD_LOG"
  fi
  log "dockerd is up (pid $pid, storage driver: $("$DOCKER_CLI" info --format '{{.Driver}}' 2>/dev/null))"
}

ensure_daemon() {
  docker_ok && return 0
  if ! command -v dockerd >/dev/null; then
    is_root || die "Docker is not running and dockerd is not installed; install Docker (Debian: apt-get install docker.io) or re-run as root"
    apt_install docker.io docker-compose debootstrap
    pick_docker_cli
    docker_ok && return 0 # a service manager may have started it already
  fi
  is_root || die "'$DOCKER_CLI info' fails: start the Docker daemon or fix access to its socket (starting it here needs root)"
  start_dockerd
}

# URI of the first apt source of the host that serves suite $1 (deb822 or one-line format).
host_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; hit = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { split(substr($i, 6), u, " "); uri = u[1] }
          if ($i ~ /^Suites:/) { n = split(substr($i, 8), w, " "); for (j = 1; j <= n; j++) if (w[j] == s) hit = 1 }
        }
        if (hit && uri != "") { print uri; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk -v s="$suite" '$1 == "deb" { i = 2; if ($i ~ /^\[/) while ($i !~ /\]$/) i++; if ($i ~ /^\[/ || $i ~ /\]$/) i++; if ($(i + 1) == s) print $i }' "$f"
  done
  return 0
}

# Write the image's apt sources: main and security suites, signed by Debian's archive keyring, plus option $4.
write_sources() {
  local root=$1 mirror=$2 security=$3 option=$4
  printf '%s\n' \
    "Types: deb" "URIs: $mirror" "Suites: $SUITE $SUITE-updates" "Components: main" \
    "Signed-By: $ARCHIVE_KEYRING" ${option:+"$option"} "" \
    "Types: deb" "URIs: $security" "Suites: $SUITE-security" "Components: main" \
    "Signed-By: $ARCHIVE_KEYRING" ${option:+"$option"} >"$root/etc/apt/sources.list.d/debian.sources"
}

# The image's own apt sources, never the host's settings: signed by Debian's keyring, and the freshness check of
# the signed Release files (Valid-Until) kept unless DEBIAN_SNAPSHOT=1 says the mirror is a frozen snapshot.
# Expired Release files otherwise stop here, with what to do, rather than later in every image build.
configure_sources() {
  local root=$1 mirror=$2 security=$3 out
  rm -f "$root/etc/apt/sources.list"
  if [[ ${DEBIAN_SNAPSHOT:-0} == 1 ]]; then
    log "DEBIAN_SNAPSHOT=1: the image's sources skip the Valid-Until check (signatures still checked)"
    write_sources "$root" "$mirror" "$security" "Check-Valid-Until: no"
    return 0
  fi
  write_sources "$root" "$mirror" "$security" ""
  out=$(chroot "$root" apt-get update 2>&1) && return 0
  if grep -q 'is expired' <<<"$out"; then
    die "apt refuses $mirror: its signed Release files have expired; if it is a frozen snapshot, run again with DEBIAN_SNAPSHOT=1"
  fi
  log "apt-get update in the new root filesystem failed ($(tail -n 1 <<<"$out")); going on"
}

# Build $BASE_IMAGE with debootstrap (no registry needed) and `docker import` it.
build_base_image() {
  command -v debootstrap >/dev/null || apt_install debootstrap
  [[ -s $ARCHIVE_KEYRING ]] || apt_install debian-archive-keyring
  local mirror security root t0=$SECONDS
  mirror=${DEBIAN_MIRROR:-$(host_mirror "$SUITE" | sed -n 1p)}
  mirror=${mirror:-http://deb.debian.org/debian}
  security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$SUITE-security" | sed -n 1p)}
  security=${security:-http://deb.debian.org/debian-security}

  root=$(mktemp -d "${TMPDIR:-/var/tmp}/bookworm-rootfs.XXXXXX")
  # shellcheck disable=SC2064
  trap "cleanup_rootfs '$root'" EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror, signatures checked (takes a few minutes)"
  # --force-check-gpg: stop instead of going on unchecked when a Release signature cannot be verified.
  if ! debootstrap --variant=minbase --force-check-gpg --keyring="$ARCHIVE_KEYRING" \
    "$SUITE" "$root" "$mirror" >"$root.log" 2>&1; then
    tail -n 20 "$root.log" >&2
    die "debootstrap failed (full log: $root.log)"
  fi
  rm -f "$root.log"

  log "slimming the root filesystem"
  configure_sources "$root" "$mirror" "$security"

  # Keep the image slim now and after later `apt-get install`s.
  cat >"$root/etc/apt/apt.conf.d/99slim" <<'EOF'
Acquire::Languages "none";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT::Keep-Downloaded-Packages "false";
EOF
  cat >"$root/etc/dpkg/dpkg.cfg.d/99slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/var/lib/dpkg/*-old "$root"/var/log/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/groff/* "$root"/usr/share/lintian/* "$root"/tmp/* "$root"/root/.[!.]*
  find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
  : >"$root/etc/resolv.conf"
  : >"$root/etc/hostname"

  log "importing the root filesystem as $BASE_IMAGE"
  tar --numeric-owner -C "$root" -c . |
    "$DOCKER_CLI" import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' \
      --message "$IMPORT_MESSAGE $mirror" - "$BASE_IMAGE" >/dev/null
  log "built $BASE_IMAGE in $((SECONDS - t0))s ($("$DOCKER_CLI" image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes)"
}

cleanup_rootfs() {
  local root=$1 m
  # debootstrap may leave /proc etc. mounted inside the target when it fails.
  awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}

ensure_base_image() {
  image_ok && return 0
  log "pulling $BASE_IMAGE@$BASE_IMAGE_DIGEST (up to ${PULL_TIMEOUT:-20}s)"
  if timeout "${PULL_TIMEOUT:-20}" "$DOCKER_CLI" pull -q "$BASE_IMAGE@$BASE_IMAGE_DIGEST" >/dev/null 2>&1 \
    && "$DOCKER_CLI" tag "$BASE_IMAGE@$BASE_IMAGE_DIGEST" "$BASE_IMAGE" && image_ok; then
    return 0
  fi
  is_root || die "cannot pull $BASE_IMAGE and building it with debootstrap needs root"
  log "pull failed; building $BASE_IMAGE with debootstrap"
  build_base_image
}

main() {
  local print_ref=
  case ${1:-} in
    --print-base-ref) print_ref=1 ;;
    "") ;;
    *) die "usage: $0 [--print-base-ref]" ;;
  esac
  # Fast path: nothing to do.
  if ! { docker_ok && image_ok; }; then
    # Serialise the slow path (parallel make may run several builds at once).
    if is_root; then
      mkdir -p /run/lock
      exec 9>/run/lock/ensure-docker.lock
      flock 9
    fi
    ensure_daemon
    ensure_base_image
    log "docker is ready ($DOCKER_CLI, $BASE_IMAGE present)"
  fi
  tag_pinned
  [[ -z $print_ref ]] || base_ref
}

# Run unless sourced (the tests source it to call one function).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
