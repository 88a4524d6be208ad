#!/usr/bin/env bash
# Run a command and say how long it took, whatever its outcome: `make check` and `make test` report their time.
#   scripts/timed.sh LABEL COMMAND [ARG...]
set -uo pipefail
label=$1
shift
start=$SECONDS
"$@"
status=$?
elapsed=$((SECONDS - start))
outcome=$([[ $status -eq 0 ]] && echo "passed" || echo "FAILED (exit $status)")
printf '>> %s %s in %dm%02ds\n' "$label" "$outcome" $((elapsed / 60)) $((elapsed % 60)) >&2
exit "$status"
