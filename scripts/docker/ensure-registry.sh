#!/usr/bin/env bash
# Make sure Debian's docker-registry (the distribution registry, `docker-registry serve CONFIG`) is installed:
# the registry push test starts private registries with it on loopback. Idempotent; quick when it is there.
# Installing needs root and apt; without them it says what to install and fails.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

if command -v docker-registry >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  die "docker-registry is missing: install Debian's docker-registry package (needs root and apt-get)"
fi
log "installing docker-registry"
export DEBIAN_FRONTEND=noninteractive
install=(apt-get install -y -qq --no-install-recommends docker-registry)
# Stale or missing package lists: update once and try again.
"${install[@]}" >/dev/null || { apt-get update -qq && "${install[@]}" >/dev/null; }
command -v docker-registry >/dev/null 2>&1 || die "docker-registry still missing after apt-get install"
