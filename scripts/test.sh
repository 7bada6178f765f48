#!/usr/bin/env bash
# Runs go test with the real services the tests need, started here and
# stopped by PID at the end: PostgreSQL (unless REWIND_TEST_POSTGRES_URL
# already names one), an image registry holding the test runtime images, and
# two servers speaking Elasticsearch's API: mock-es (fault injection) and
# ZincSearch (stores and searches).
# The Docker Engine is the machine's (DOCKER_HOST); the Temporal dev server
# is started by the tests themselves from $REWIND_TEMPORAL_CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/rewind-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -n "${pg_dir:-}" ] && scripts/postgres.sh stop "$pg_dir" || true
  [ -n "${registry_dir:-}" ] && scripts/registry.sh stop "$registry_dir" || true
  [ -n "${mockes_dir:-}" ] && scripts/mock-es.sh stop "$mockes_dir" || true
  [ -n "${zinc_dir:-}" ] && scripts/zincsearch.sh stop "$zinc_dir" || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ -z "${REWIND_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$work/pg
  REWIND_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pg_dir" "$(free_port)")
  export REWIND_TEST_POSTGRES_URL
fi

registry_dir=$work/registry
REWIND_TEST_REGISTRY=$(scripts/registry.sh start "$registry_dir")
export REWIND_TEST_REGISTRY
scripts/test-images.sh >"$work/test-images.log" 2>&1 || { cat "$work/test-images.log" >&2; exit 1; }

mockes_dir=$work/mockes
REWIND_TEST_MOCKES_URL=$(scripts/mock-es.sh start "$mockes_dir")
export REWIND_TEST_MOCKES_URL
zinc_dir=$work/zincsearch
REWIND_TEST_ZINCSEARCH_URL=$(scripts/zincsearch.sh start "$zinc_dir" "$(free_port)")
export REWIND_TEST_ZINCSEARCH_URL

: "${REWIND_TEMPORAL_CLI:?set REWIND_TEMPORAL_CLI (make test does)}"
echo "test services: PostgreSQL $REWIND_TEST_POSTGRES_URL, registry $REWIND_TEST_REGISTRY, mock-es $REWIND_TEST_MOCKES_URL, ZincSearch ${REWIND_TEST_ZINCSEARCH_URL#*@}, Docker $(docker version --format '{{.Server.Version}}'), Temporal CLI $REWIND_TEMPORAL_CLI"
# The full stack's compose file must stay valid with and without the smoke
# test's override (internal/composesmoke starts it with local stand-ins).
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
"${compose[@]}" -f docker-compose.yml config -q
REWIND_SMOKE_REWIND_CONTEXT=. "${compose[@]}" -f docker-compose.yml -f deploy/compose/smoke/docker-compose.smoke.yml config -q
echo "docker-compose.yml: valid (${compose[*]} config)"

# The browser test keeps its screenshots here.
export REWIND_TEST_ARTIFACTS=${REWIND_TEST_ARTIFACTS:-$PWD/.test-artifacts}
mkdir -p "$REWIND_TEST_ARTIFACTS"

# `./...` (make test): one `go test` ran internal/cli's integration tests one
# after another (they share the process environment) for 20 minutes on 2
# cores while the rest had long finished. scripts/test-sharded.sh spreads
# packages and the single tests of the long packages over
# REWIND_TEST_WORKERS processes, longest first. Anything else (a -run, one
# package) is plain `go test`.
if [ "$*" = "./..." ] && [ "${REWIND_TEST_WORKERS:-3}" -gt 1 ]; then
  scripts/test-sharded.sh "$work" "${REWIND_TEST_WORKERS:-3}"
  exit $?
fi
go test -count=1 -timeout 50m "$@"
