#!/usr/bin/env bash
# Make sure COMMAND exists, installing Debian's PACKAGE (default: COMMAND) with apt-get if it does not.
# Idempotent and quick when the command is there; apt's output goes to build/logs/apt-PACKAGE.log.
#   scripts/ensure-tool.sh COMMAND [PACKAGE]      e.g. scripts/ensure-tool.sh dot graphviz
set -euo pipefail
command=$1 package=${2:-$1}
command -v "$command" >/dev/null 2>&1 && exit 0
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo ">> ERROR: $command is missing: install Debian's $package package (needs root and apt-get)" >&2
  exit 1
fi
log=$root/build/logs/apt-$package.log
mkdir -p "$(dirname "$log")"
echo ">> installing $package (apt-get; log: ${log#"$root"/})" >&2
export DEBIAN_FRONTEND=noninteractive
install=(apt-get install -y -q --no-install-recommends "$package")
# Stale or missing package lists: update once and try again.
if ! "${install[@]}" >"$log" 2>&1; then
  apt-get update -q >>"$log" 2>&1 && "${install[@]}" >>"$log" 2>&1 || { tail -n 20 "$log" >&2; exit 1; }
fi
command -v "$command" >/dev/null 2>&1 || { echo ">> ERROR: $command still missing after installing $package" >&2; exit 1; }
