# shellcheck shell=bash
# Shared helpers for scripts/docker/*.sh (source it, don't run it).

# DOCKER_CLI: the caller's choice if set, else Debian's docker.io client
# (/usr/bin/docker builds with DOCKER_BUILDKIT=1 without the buildx plugin),
# else whatever `docker` is on PATH.
DOCKER_CLI_WANTED=${DOCKER_CLI:-}
pick_docker_cli() {
  if [[ -n "$DOCKER_CLI_WANTED" ]]; then DOCKER_CLI=$DOCKER_CLI_WANTED
  elif [[ -x /usr/bin/docker ]]; then DOCKER_CLI=/usr/bin/docker
  else DOCKER_CLI=docker
  fi
}
pick_docker_cli

log() { printf '>> %s\n' "$*" >&2; }
die() { printf '>> ERROR: %s\n' "$*" >&2; exit 1; }
