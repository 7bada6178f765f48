#!/usr/bin/env bash
# `make test`'s run, called by scripts/test.sh once the test services are up
# (their addresses are in the environment):
#   scripts/test-sharded.sh WORKDIR WORKERS
# One queue of units, WORKERS processes taking the next unit until it is
# empty. A unit is `go vet ./...`, a whole package (`go test PKG`), or, for the packages of
# long integration tests (SPLIT), one test of the package's compiled binary:
# their tests stay sequential within a process (they share its environment:
# Setenv, the current directory) but no longer wait for each other, and the
# longest no longer decides the run alone. The queue is longest first by
# scripts/test-order (measured seconds; a unit missing there goes first, a
# stale line is ignored). Prints every unit's time at the end, to refresh
# that file.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: test-sharded.sh WORKDIR WORKERS} workers=${2:?usage: test-sharded.sh WORKDIR WORKERS}
SPLIT=(internal/cli internal/runtime)
dir=$work/shards
mkdir -p "$dir/logs" "$dir/bin"
module=$(go list -m)

# The units: "PKG" or "PKG TEST", PKG relative to the module root.
: >"$dir/all"
echo vet >>"$dir/all"
for pkg in $(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do
  rel=${pkg#"$module"/}
  [ "$rel" = "$module" ] && rel=.
  split=false
  for s in "${SPLIT[@]}"; do [ "$rel" = "$s" ] && split=true; done
  if $split; then
    go test -c -o "$dir/bin/${rel//\//_}.test" "./$rel"
    "$dir/bin/${rel//\//_}.test" -test.list '^Test' | sed "s|^|$rel |" >>"$dir/all"
  else
    echo "$rel" >>"$dir/all"
  fi
done
sed -E '/^#/d; /^\s*$/d; s/^[0-9]+ //' scripts/test-order >"$dir/known"
{
  grep -vxF -f "$dir/known" "$dir/all" || true
  grep -xF -f "$dir/all" "$dir/known" || true
} >"$dir/queue"
echo "$(wc -l <"$dir/queue") units (packages, and the tests of ${SPLIT[*]}) over $workers processes"

# take prints the next unit and removes it from the queue (under a lock).
take() {
  (
    flock 9
    head -n1 "$dir/queue"
    sed -i 1d "$dir/queue"
  ) 9>"$dir/queue.lock"
}
# say prints whole reports under a lock so that workers do not interleave.
say() { (flock 9 && cat) 9>"$dir/out.lock"; }

run_unit() {
  local pkg=$1 test=${2:-}
  if [ "$pkg" = vet ]; then
    go vet ./... # every package builds and vets, those without tests too
  elif [ -z "$test" ]; then
    go test -count=1 -timeout 50m "./$pkg"
  else
    (cd "$pkg" && "$dir/bin/${pkg//\//_}.test" -test.run "^$test\$" -test.timeout 30m)
  fi
}

worker() {
  local unit start secs log
  while unit=$(take) && [ -n "$unit" ]; do
    start=$(date +%s)
    log=$dir/logs/${unit//[\/ ]/_}
    # shellcheck disable=SC2086 # the unit is "PKG" or "PKG TEST"
    if run_unit $unit >"$log" 2>&1; then
      secs=$(($(date +%s) - start))
      echo "$secs $unit" >>"$dir/times"
      echo "ok      $unit ${secs}s" | say
    else
      secs=$(($(date +%s) - start))
      echo "$secs $unit" >>"$dir/times"
      echo "$unit" >>"$dir/failed"
      { echo "FAIL    $unit ${secs}s"; cat "$log"; } | say
    fi
  done
}

# Docker Engine 20.10 (Debian's 20.10.24) can deadlock in libnetwork when
# containers come and go concurrently (moby/moby#46661; the fix,
# moby/libnetwork#2679, came after): every API call then hangs, and the
# tests would sit out their timeouts. The watchdog ends the run within
# minutes, saying so; the Engine needs a restart.
killtree() {
  local c
  for c in $(pgrep -P "$1"); do killtree "$c"; done
  kill "$1" 2>/dev/null || true
}
watchdog() {
  local silent=0
  while sleep 20; do
    if timeout 30 docker info --format '{{.ID}}' >/dev/null 2>&1; then silent=0; else silent=$((silent + 1)); fi
    if [ "$silent" -ge 5 ]; then
      echo "the Docker Engine has not answered \`docker info\` for 4 minutes: likely the libnetwork deadlock of 20.10 (moby/moby#46661); restart the Engine. Stopping the run." >"$dir/docker-hung"
      cat "$dir/docker-hung" | say
      for pid in "$@"; do killtree "$pid"; done
      return
    fi
  done
}

started=$(date +%s)
pids=()
for _ in $(seq 1 "$workers"); do
  worker &
  pids+=($!)
done
watchdog "${pids[@]}" &
dog=$!
for pid in "${pids[@]}"; do wait "$pid" || true; done
kill "$dog" 2>/dev/null || true
wait "$dog" 2>/dev/null || true

echo "unit times (seconds; for scripts/test-order):"
sort -rn "$dir/times" | sed 's/^/  /'
echo "wall time $(($(date +%s) - started))s over $workers processes"
if [ -s "$dir/docker-hung" ]; then
  cat "$dir/docker-hung"
  exit 1
fi
if [ -s "$dir/failed" ]; then
  echo "FAILED: $(wc -l <"$dir/failed") units:"
  sed 's/^/  /' "$dir/failed"
  exit 1
fi
