#!/usr/bin/env bash
# `make test`'s run, called by scripts/test.sh once the test services are up
# (their addresses are in the environment):
#   scripts/test-sharded.sh WORKDIR WORKERS
# Every package but internal/cli goes through `go test` as usual. internal/cli
# is compiled once, and WORKERS processes of that binary each take the next
# of its tests from a shared queue until it is empty: the tests stay
# sequential within a process (they share its environment: Setenv, the
# current directory) but no longer wait for each other. The queue is ordered
# longest first by scripts/cli-test-order (measured times; a test missing
# there goes first, a stale line is ignored), so the long ones do not end up
# last. Prints each test's time at the end, to refresh that file.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: test-sharded.sh WORKDIR WORKERS} workers=${2:?usage: test-sharded.sh WORKDIR WORKERS}
dir=$work/cli-shards
mkdir -p "$dir/logs"
bin=$dir/cli.test
go test -c -o "$bin" ./internal/cli

# The queue: tests unknown to the order file first, then known ones by the
# order file's line order.
"$bin" -test.list '^Test' | sort >"$dir/all"
awk '!/^#/ && NF {print $2}' scripts/cli-test-order >"$dir/known"
{
  grep -vxF -f "$dir/known" "$dir/all" || true
  grep -xF -f "$dir/all" "$dir/known" || true
} >"$dir/queue"
echo "internal/cli: $(wc -l <"$dir/queue") tests over $workers processes"

# take prints the next test and removes it from the queue (under a lock).
take() {
  (
    flock 9
    head -n1 "$dir/queue"
    sed -i 1d "$dir/queue"
  ) 9>"$dir/queue.lock"
}
# say prints whole lines under a lock so workers' reports do not interleave.
say() { ( flock 9; cat ) 9>"$dir/out.lock"; }

worker() {
  local t start secs
  while t=$(take) && [ -n "$t" ]; do
    start=$(date +%s)
    if (cd internal/cli && "$bin" -test.run "^$t\$" -test.timeout 30m >"$dir/logs/$t" 2>&1); then
      secs=$(($(date +%s) - start))
      echo "$secs $t" >>"$dir/times"
      echo "ok      internal/cli $t ${secs}s" | say
    else
      secs=$(($(date +%s) - start))
      echo "$secs $t" >>"$dir/times"
      echo "$t" >>"$dir/failed"
      { echo "FAIL    internal/cli $t ${secs}s"; cat "$dir/logs/$t"; } | say
    fi
  done
}

started=$(date +%s)
pids=()
mapfile -t others < <(go list ./... | grep -v '/internal/cli$')
go test -count=1 -timeout 50m "${others[@]}" &
pids+=($!)
for _ in $(seq 1 "$workers"); do
  worker &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

echo "internal/cli test times (seconds; for scripts/cli-test-order):"
sort -rn "$dir/times" | sed 's/^/  /'
echo "wall time $(($(date +%s) - started))s"
if [ -s "$dir/failed" ]; then
  echo "FAIL    internal/cli: $(tr '\n' ' ' <"$dir/failed")"
  status=1
fi
exit $status
