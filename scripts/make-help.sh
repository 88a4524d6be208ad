#!/usr/bin/env bash
# `make help`: the public targets (lines `target: ... ## what it does`) of each makefile given, under the file's
# first comment line. A static pattern rule (`$(LIST): family/%: ...`) is listed as `family/%`.
#   scripts/make-help.sh Makefile make/*.mk
set -euo pipefail
for file in "$@"; do
  awk '
    FNR == 1 { heading = ($0 ~ /^# /) ? substr($0, 3) : FILENAME; shown = 0 }
    /^[^#\t ][^=]*:.*## / {
      split($0, parts, " ## "); help = parts[2]
      name = parts[1]; sub(/^\$\([^)]*\): */, "", name); sub(/:.*/, "", name)
      if (!shown) { printf "\n\033[1m%s\033[0m\n", heading; shown = 1 }
      printf "  \033[36m%-22s\033[0m %s\n", name, help
    }' "$file"
done
