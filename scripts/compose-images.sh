#!/usr/bin/env bash
# Builds the local stand-ins for the images docker-compose.yml names but
# these machines cannot pull, for the compose smoke test
# (internal/composesmoke, deploy/compose/smoke/docker-compose.smoke.yml):
#   rewind-smoke/debian:bookworm    Debian bookworm made here by mmdebstrap from
#                                   Debian's packages: PostgreSQL 15 (postgres),
#                                   docker-registry (registry:2), curl, wget, nc
#   rewind-smoke/postgres:local     that base with an entrypoint that does what
#                                   the official postgres image's does
#   rewind-smoke/registry:local     that base running docker-registry
#   rewind-smoke/temporal:local     that base with the Temporal CLI built from its
#                                   Go module (temporal server start-dev: the
#                                   server, SQLite persistence) for temporalio/server
#                                   and temporalio/admin-tools
#   rewind-smoke/zincsearch:local   that base with ZincSearch (Elasticsearch's API)
# and prints nothing but errors. The root file system is cached as a tarball
# in $CACHE/compose (a minute and ~220 MB, once); images are rebuilt only when
# what goes into them changed.
#   scripts/compose-images.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$HOME/.cache/rewind}
: "${REWIND_TEMPORAL_CLI:?set REWIND_TEMPORAL_CLI (make test does)}"
zinc=$(scripts/zincsearch.sh build)
packages=postgresql-15,docker-registry,curl,wget,netcat-openbsd,ca-certificates
tag=$(printf '%s' "$packages" | sha256sum | cut -c1-12)
rootfs=$CACHE/compose/bookworm-$tag.tar
base=rewind-smoke/debian:bookworm-$tag

if ! docker image inspect "$base" >/dev/null 2>&1; then
  if [ ! -s "$rootfs" ]; then
    command -v mmdebstrap >/dev/null || { echo "mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
    mkdir -p "$CACHE/compose"
    mmdebstrap --quiet --format=tar --variant=apt --include="$packages" \
      --aptopt='APT::Install-Recommends "false"' bookworm "$rootfs.tmp" >&2
    mv "$rootfs.tmp" "$rootfs"
  fi
  docker import "$rootfs" "$base" >/dev/null
fi

work=$(mktemp -d /tmp/rewind-compose-images.XXXXXX)
trap 'rm -rf "$work"' EXIT
# image TAG DOCKERFILE [FILE…]: builds TAG from the files given, unless an
# image with the same inputs (rewind.smoke.build label) is there already.
image() {
  local ref=$1 df=$2; shift 2
  local ctx=$work/${ref//[\/:]/_}
  mkdir -p "$ctx"
  local f
  for f in "$@"; do cp -p "$f" "$ctx/"; done
  local sum
  sum=$( (printf '%s\n' "$df"; cd "$ctx" && for f in *; do [ -e "$f" ] && sha256sum "$f"; done) | sha256sum | cut -c1-16)
  [ "$(docker image inspect --format '{{index .Config.Labels "rewind.smoke.build"}}' "$ref" 2>/dev/null || true)" = "$sum" ] && return 0
  printf '%s\nLABEL rewind.smoke.build="%s"\n' "$df" "$sum" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$ref" "$ctx" >/dev/null 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' -e '^$' >&2)
}

image rewind-smoke/postgres:local "FROM $base
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin PGDATA=/var/lib/postgresql/data
ENTRYPOINT [\"/bin/sh\", \"/usr/local/bin/postgres-entrypoint.sh\"]" deploy/compose/smoke/postgres-entrypoint.sh

image rewind-smoke/registry:local "FROM $base
COPY registry.yml /etc/docker/registry/config.yml
ENTRYPOINT [\"/usr/bin/docker-registry\", \"serve\", \"/etc/docker/registry/config.yml\"]" deploy/compose/smoke/registry.yml

cp "$REWIND_TEMPORAL_CLI" "$work/temporal"
image rewind-smoke/temporal:local "FROM $base
COPY temporal /usr/local/bin/temporal" "$work/temporal"

cp "$zinc" "$work/zincsearch"
image rewind-smoke/zincsearch:local "FROM $base
COPY zincsearch /usr/local/bin/zincsearch
ENTRYPOINT [\"/usr/local/bin/zincsearch\"]" "$work/zincsearch"
