#!/usr/bin/env bash
# Benchmark: one fleet rollback of N deployments (`rewind rollback --fleet
# --image-digest … --yes --wait`, default --parallel 4) against the same N
# rollbacks run one after another (`rewind rollback <dep> --yes --wait`),
# through the real stack (a Temporal dev server, bin/rewind-worker and the
# bin/rewind CLI, all started here). Target: fleet ≤ 0.5 × sequential.
#   bench/fleet.sh [N]        (deployments, default 20)
# Each deployment has one component (the scheduler) on the test image A;
# both sides roll back from image B (same Runtime, one more label) to A,
# so every rollback replaces its container. The sequential side rolls back
# first; B is then deployed again to every deployment for the fleet.
# Needs the registry and test images (scripts/registry.sh start DIR &&
# scripts/test-images.sh, on $REWIND_TEST_REGISTRY) and $REWIND_TEMPORAL_CLI.
# Every process started here is stopped by PID; every container removed.
set -euo pipefail
n=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
reg=${REWIND_TEST_REGISTRY:-127.0.0.1:5000}
temporal=${REWIND_TEMPORAL_CLI:?set REWIND_TEMPORAL_CLI (make bench does)}
rewind=$root/bin/rewind
A=$reg/rewind-test/airflow:9.1.0
B=$reg/rewind-bench/airflow:9.1.0-b
work=$(mktemp -d /tmp/rewind-bench-fleet.XXXXXX)
pids=()
deps=()
cleanup() {
  local i d
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  for d in "${deps[@]}"; do
    docker ps -aq --filter "label=rewind.deployment=$d" | xargs -r docker rm -f >/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
. "$root/bench/stack.sh"
now() { date +%s.%N; }
# The rollbacks' work is CPU (Docker's container starts and stops, the dev
# server's history writes): on a shared machine the wall-clock ratio moves
# with the other tenants' load, so each side also reports the 1-minute load
# average at its end and the CPU seconds the stack itself spent (dockerd,
# containerd, the dev server, the worker; the CLI processes are not counted).
stack_cpu() {
  local p t=0
  for p in $(pgrep -x dockerd) $(pgrep -x containerd) "${pids[@]}"; do
    [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
side() { echo "load $(cut -d' ' -f1 /proc/loadavg), stack CPU $(echo "scale=1; ($(stack_cpu) - $1) / $(getconf CLK_TCK)" | bc)s"; }

docker pull -q "$A" >/dev/null
printf 'FROM %s\nLABEL rewind.bench=b\n' "$A" | DOCKER_BUILDKIT=0 docker build -q -t "$B" - >/dev/null 2>&1
docker push -q "$B" >/dev/null

start_stack

echo "fleet bench: $n single-component deployments; $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, Docker $(docker version --format '{{.Server.Version}}')"
for i in $(seq 1 "$n"); do
  dep=bench-fleet-$i
  deps+=("$dep")
  "$rewind" deployment create "$dep" --dag-source image --rollback-enabled --component "scheduler=airflow scheduler" >/dev/null
  "$rewind" grant bench --deployment "$dep" --role editor >/dev/null
  "$rewind" deploy "$dep" --image "$A" --no-git --description "bench A" --wait >/dev/null
  "$rewind" deploy "$dep" --image "$B" --no-git --description "bench B" --wait >/dev/null
done
bad=$("$rewind" history bench-fleet-1 --output json | jq -r '.[0].imageDigest')

s=$(now) c=$(stack_cpu)
for dep in "${deps[@]}"; do
  "$rewind" rollback "$dep" --description "bench sequential" --yes --wait >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
done
seq_t=$(echo "$(now) - $s" | bc)
echo "$n single rollbacks one after another: ${seq_t}s ($(side "$c"))"

for dep in "${deps[@]}"; do
  "$rewind" deploy "$dep" --image "$B" --no-git --force --description "bench B again (past the guard)" --wait >/dev/null
done
list=$(IFS=,; echo "${deps[*]}")
s=$(now) c=$(stack_cpu)
"$rewind" rollback --fleet --image-digest "$bad" --deployments "$list" --description "bench fleet" \
  --parallel "${REWIND_BENCH_PARALLEL:-4}" --yes --wait >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
fleet_t=$(echo "$(now) - $s" | bc) fleet_side=$(side "$c")
grep -q "$n rolled back, 0 failed" "$work/out" || { cat "$work/out" >&2; exit 1; }
echo "fleet rollback of $n deployments (--parallel ${REWIND_BENCH_PARALLEL:-4}, plan included): ${fleet_t}s ($fleet_side); $n single rollbacks one after another: ${seq_t}s; ratio fleet/sequential $(echo "scale=3; $fleet_t / $seq_t" | bc | sed 's/^\./0./')"
