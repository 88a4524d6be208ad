#!/usr/bin/env bash
# Make sure Debian's docker-registry (the distribution registry, `docker-registry serve CONFIG`) is installed:
# the registry push test starts private registries with it on loopback. Idempotent; quick when it is there.
# Installing needs root and apt (scripts/ensure-tool.sh; apt's output in build/logs/apt-docker-registry.log).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/../ensure-tool.sh" docker-registry
