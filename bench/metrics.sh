#!/usr/bin/env bash
# Benchmark: the delivery metrics (issue 30, docs/metrics.md) over a
# database of 120,000 revisions, a deployment with 100,000 of them, on
# SQLite and on a throwaway PostgreSQL started here and stopped by PID at the
# end (or the one REWIND_TEST_POSTGRES_URL names). Prints ms per call; the
# target is under 200 ms on each store for the 30-day window.
#   bench/metrics.sh [N]   (N calls each, default 10)
set -euo pipefail
n=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
work=$(mktemp -d /tmp/rewind-bench-metrics.XXXXXX)
chmod 755 "$work"
trap '[ -n "${pg_dir:-}" ] && scripts/postgres.sh stop "$pg_dir"; rm -rf "$work"' EXIT
if [ -z "${REWIND_TEST_POSTGRES_URL:-}" ]; then
  pg_dir=$work/pg
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  REWIND_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pg_dir" "$port")
  export REWIND_TEST_POSTGRES_URL
fi
go test ./internal/store/ -run '^$' -bench BenchmarkMetricsAt100k -benchtime "${n}x" -timeout 30m | tee "$work/out.txt"
echo
echo "delivery metrics at 100,000 revisions (ms per call; one: one deployment, 30 days; all: every deployment, 30 days; year: every deployment, 365 days):"
awk '/^BenchmarkMetricsAt100k/ { split($1, p, "/"); sub(/-[0-9]+$/, "", p[3]); printf "  %-8s %-5s %8.1f ms\n", p[2], p[3], $3/1e6 }' "$work/out.txt"
