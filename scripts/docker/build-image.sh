#!/usr/bin/env bash
# Usage: scripts/docker/build-image.sh NAME [TAG]
#
# Builds containers/NAME/Dockerfile with build context containers/ (so an image
# can COPY sm_contract/ and NAME/; BuildKit reads containers/NAME/Dockerfile.dockerignore).
# TAG is a full image reference (default byoc/NAME:latest); a bare tag such as
# "dev" means byoc/NAME:dev. Extra `docker build` flags come from BUILD_ARGS
# (word-split). The CA bundle ($CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt)
# is handed to the build as the BuildKit secret "ca" (RUN --mount=type=secret,id=ca),
# never copied into the image. The base image comes as the build argument BASE_IMAGE:
# debian at its pinned digest, or the local debootstrap build of it (what
# ensure-docker.sh --print-base-ref answers). BuildKit's log goes to BUILD_LOG (default
# build/logs/build-NAME.log; VERBOSE=1 puts it on the console instead). Prints the built tag on stdout.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

[[ $# -ge 1 && $# -le 2 && -n $1 ]] || die "usage: $0 NAME [TAG]"
name=$1
tag=${2:-byoc/$name:latest}
[[ $tag == *[:/@]* ]] || tag="byoc/$name:$tag"

context=$(cd "$here/../../containers" && pwd)
dockerfile=$context/$name/Dockerfile
[[ -f $dockerfile ]] || die "no Dockerfile at containers/$name/Dockerfile"

base=$("$here/ensure-docker.sh" --print-base-ref)
pick_docker_cli # docker may have just been installed

args=(--network host -f "$dockerfile" -t "$tag" --build-arg "BASE_IMAGE=$base")
bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $bundle ]]; then
  args+=(--secret "id=ca,src=$bundle")
else
  log "no CA bundle at $bundle; building without the 'ca' secret"
fi
if [[ -n ${BUILD_ARGS:-} ]]; then
  read -r -a extra <<<"$BUILD_ARGS"
  args+=("${extra[@]}")
fi

# BuildKit's step-by-step log goes to a file (VERBOSE=1: to the console), its tail to the console on failure.
build_log=${BUILD_LOG:-$context/../build/logs/build-$name.log}
mkdir -p "$(dirname "$build_log")"
build_log=$(cd "$(dirname "$build_log")" && pwd)/$(basename "$build_log")
t0=$SECONDS
if [[ ${VERBOSE:-0} == 1 ]]; then
  log "building $tag from containers/$name/Dockerfile on $base"
  DOCKER_BUILDKIT=1 "$DOCKER_CLI" build "${args[@]}" "$context" >&2
else
  log "building $tag from containers/$name/Dockerfile on $base (log: ${build_log#"$PWD"/})"
  if ! DOCKER_BUILDKIT=1 BUILDKIT_PROGRESS=plain "$DOCKER_CLI" build "${args[@]}" "$context" >"$build_log" 2>&1; then
    tail -n 30 "$build_log" >&2
    die "building $tag failed (full log: $build_log)"
  fi
fi
log "built $tag in $((SECONDS - t0))s"
echo "$tag"
