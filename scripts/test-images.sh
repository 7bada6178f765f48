#!/usr/bin/env bash
# Builds rewind's test runtime images and pushes them to the test registry.
#   scripts/test-images.sh            (registry: $REWIND_TEST_REGISTRY, default 127.0.0.1:5000)
# Each image is FROM scratch around the static test program
# internal/testruntime/cmd/airflow (nothing can be pulled from the internet),
# labelled like Astronomer Runtime images unless its tag says otherwise:
#   rewind-test/airflow:9.1.0              Runtime 9.1.0, Airflow 3.0.2
#   rewind-test/airflow:8.0.0              Runtime 8.0.0, Airflow 2.9.3
#   rewind-test/airflow:4.2.0              Runtime 4.2.0, Airflow 2.2.5 (below the R7 floor)
#   rewind-test/airflow:9.1.0-healthcheck  9.1.0 with a 1s HEALTHCHECK (`airflow health`)
#   rewind-test/airflow:broken             9.1.0 whose components exit 1 at start
#   rewind-test/airflow:8.0.0-broken       8.0.0 that no longer starts: components exit 1, start checks fail
#   rewind-test/airflow:8.0.0-unhealthy    8.0.0 that passes the start checks but whose HEALTHCHECK fails
#   rewind-test/airflow:9.1.0-sick         9.1.0 whose scheduler fails `airflow jobs check` (no HEALTHCHECK: it deploys)
#   rewind-test/airflow:9.1.0-crashloop    9.1.0 whose scheduler exits 1 three seconds after each start (passes the deploy's checks, then crash-loops)
#   rewind-test/airflow:9.1.0-labelled     hostile: 9.1.0 with rewind.* labels baked in
#   rewind-test/airflow:9.1.0-badversion   hostile: 9.1.0 whose Airflow version label injects arguments
#   rewind-test/airflow:official-2.9.3     like apache/airflow:2.9.3: only org.apache.airflow.version, no Runtime
#   rewind-test/airflow:official-3.0.2     like apache/airflow:3.0.2
#   rewind-test/airflow:official-2.2.5     like apache/airflow:2.2.5 (below the R7 floor)
#   rewind-test/airflow:official-3.0.2-failmigrate  3.0.2 whose `airflow db migrate` fails half-way
#   rewind-test/airflow:plain-2.9.3        no label at all: only `airflow version` says 2.9.3
#   rewind-test/airflow:plain-3.0.2        no label at all, Airflow 3.0.2
# Every image keeps a schema version in a PostgreSQL metadata database
# (internal/testruntime/cmd/airflow/schema.go): its components start only
# on a schema `airflow db migrate` brought to their version.
# Idempotent and fast when nothing changed: an image carrying the same
# rewind.test.build hash is not rebuilt, and one the registry already serves
# with the same digest is not pushed again.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
registry=${REWIND_TEST_REGISTRY:-127.0.0.1:5000}
work=${REWIND_TEST_IMAGES_DIR:-${TMPDIR:-/tmp}/rewind-test-images}
mkdir -p "$work/ctx"

# The binary: go build is itself cached, so this is quick on a re-run.
(cd "$repo_root" && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' \
  -o "$work/ctx/airflow.new" ./internal/testruntime/cmd/airflow)
if cmp -s "$work/ctx/airflow.new" "$work/ctx/airflow"; then rm "$work/ctx/airflow.new"; else mv "$work/ctx/airflow.new" "$work/ctx/airflow"; fi
binsum=$(sha256sum "$work/ctx/airflow" | cut -c1-16)

# tag runtime airflow extra-dockerfile-lines [astronomer|official|plain|runtime-only]
build() {
  local tag=$1 rt=$2 af=$3 extra=$4 kind=${5:-astronomer}
  local ref="$registry/rewind-test/airflow:$tag"
  local envs labels
  case $kind in
  astronomer)
    envs="ASTRONOMER_RUNTIME_VERSION=$rt AIRFLOW_VERSION=$af"
    labels="LABEL io.astronomer.docker.runtime.version=\"$rt\" io.astronomer.docker.airflow.version=\"$af\" io.astronomer.docker=\"true\"" ;;
  official)
    envs="AIRFLOW_VERSION=$af"
    labels="LABEL org.apache.airflow.version=\"$af\"" ;;
  plain)
    envs="AIRFLOW_VERSION=$af"
    labels="" ;;
  runtime-only) # a Runtime label and nothing that says the Airflow version
    envs="ASTRONOMER_RUNTIME_VERSION=$rt"
    labels="LABEL io.astronomer.docker.runtime.version=\"$rt\" io.astronomer.docker=\"true\"" ;;
  esac
  local df="FROM scratch
COPY airflow /usr/local/bin/airflow
ENV PATH=/usr/local/bin $envs
$labels
$extra
CMD [\"airflow\", \"scheduler\"]"
  local hash
  hash=$(printf '%s\n%s\n' "$binsum" "$df" | sha256sum | cut -c1-16)
  # The build hash is an environment variable, not a label, so an image
  # meant to carry no label carries none.
  local have
  have=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$ref" 2>/dev/null | sed -n 's/^REWIND_TEST_BUILD=//p' || true)
  if [ "$have" != "$hash" ]; then
    printf '%s\nENV REWIND_TEST_BUILD=%s\n' "$df" "$hash" >"$work/ctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$ref" "$work/ctx" 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' -e '^$' >&2) >/dev/null
    echo "built $ref"
  fi
  # Push unless the registry already serves this image's digest for the tag.
  local local_digest remote_digest
  local_digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$ref" | sed -n "s|^$registry/rewind-test/airflow@||p" || true)
  remote_digest=$(curl -fsSI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$registry/v2/rewind-test/airflow/manifests/$tag" 2>/dev/null | tr -d '\r' | sed -n 's/^[Dd]ocker-[Cc]ontent-[Dd]igest: //p' || true)
  if [ -z "$remote_digest" ] || ! grep -qx "$remote_digest" <<<"$local_digest"; then
    docker push -q "$ref" >/dev/null
    echo "pushed $ref"
  fi
}

build 9.1.0 9.1.0 3.0.2 ""
build 8.0.0 8.0.0 2.9.3 ""
build 4.2.0 4.2.0 2.2.5 ""
build 9.1.0-healthcheck 9.1.0 3.0.2 'HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["airflow", "health"]'
build 9.1.0-sick 9.1.0 3.0.2 'ENV REWIND_TEST_UNHEALTHY=1'
build 9.1.0-crashloop 9.1.0 3.0.2 'ENV REWIND_TEST_SCHEDULER_EXIT_AFTER=3'
build 9.1.0-labelled 9.1.0 3.0.2 'LABEL rewind.oneoff="x" rewind.deployment="someone-else" rewind.component="scheduler" rewind.revision="999"'
build 9.1.0-badversion 9.1.0 3.0.2 'LABEL io.astronomer.docker.airflow.version="2.9.0 --to-version 2.3.0"'
build broken 9.1.0 3.0.2 'ENV REWIND_TEST_FAIL_START=1'
build 8.0.0-broken 8.0.0 2.9.3 'ENV REWIND_TEST_FAIL_START=1'
build 8.0.0-unhealthy 8.0.0 2.9.3 'ENV REWIND_TEST_UNHEALTHY=1
HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["airflow", "health"]'
build official-2.9.3 "" 2.9.3 "" official
build official-3.0.2 "" 3.0.2 "" official
build official-2.2.5 "" 2.2.5 "" official
build official-3.0.2-failmigrate "" 3.0.2 'ENV REWIND_TEST_FAIL_MIGRATE=1' official
build 8.0.0-noairflow 8.0.0 "" "" runtime-only
build plain-2.9.3 "" 2.9.3 "" plain
build plain-3.0.2 "" 3.0.2 "" plain
# The PostgreSQL client image metadata snapshots run in
# (REWIND_PG_CLIENT_IMAGE): FROM scratch around this machine's Debian
# pg_dump and pg_restore and the shared libraries ldd names for them, as
# nothing can be pulled here. Tests pin it by the digest the registry
# serves for rewind-test/pgclient:<major>.
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$pgbin" ] && [ -x "$pgbin/pg_dump" ]; then
  major=$(basename "$(dirname "$pgbin")")
  pgctx="$work/pgclient"
  rm -rf "$pgctx" && mkdir -p "$pgctx/root/usr/bin" "$pgctx/root/etc"
  cp "$pgbin/pg_dump" "$pgbin/pg_restore" "$pgctx/root/usr/bin/"
  for lib in $(ldd "$pgbin/pg_dump" "$pgbin/pg_restore" | grep -v ':$' | grep -o '/[^ ]*' | sort -u); do
    mkdir -p "$pgctx/root$(dirname "$lib")"
    cp -L "$lib" "$pgctx/root$lib"
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$pgctx/root/etc/passwd"
  printf 'FROM scratch\nCOPY root/ /\nENV PATH=/usr/bin\nENTRYPOINT []\n' >"$pgctx/Dockerfile"
  pgref="$registry/rewind-test/pgclient:$major"
  pghash=$( (cd "$pgctx" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)
  have=$(docker image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$pgref" 2>/dev/null | sed -n 's/^REWIND_TEST_BUILD=//p' || true)
  if [ "$have" != "$pghash" ]; then
    printf 'ENV REWIND_TEST_BUILD=%s\n' "$pghash" >>"$pgctx/Dockerfile"
    DOCKER_BUILDKIT=0 docker build -q -t "$pgref" "$pgctx" 2> >(grep -v -e DEPRECATED -e 'legacy builder' -e BuildKit -e 'environment-variable' -e '^$' >&2) >/dev/null
    echo "built $pgref"
  fi
  docker push -q "$pgref" >/dev/null
  echo "pushed $pgref"
fi
echo "test images ready on $registry/rewind-test/airflow"
