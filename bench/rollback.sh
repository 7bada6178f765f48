#!/usr/bin/env bash
# Benchmark: `rewind rollback <dep> --to N --description … --yes --wait`
# through the real stack (a Temporal dev server, bin/rewind-worker and the
# bin/rewind CLI, all started here) against a bash script doing the raw
# Docker work a rollback replaces, in alternating pairs in one run.
#   bench/rollback.sh [PAIRS]      (pairs per size, default 7)
# REWIND_BENCH_SIZES="4 10" chooses the rollback sizes ("" for none) and
# REWIND_BENCH_COLD=0 leaves the cold pull out, to measure one part alone.
# Needs the registry and test images (scripts/registry.sh start DIR &&
# scripts/test-images.sh, on $REWIND_TEST_REGISTRY) and $REWIND_TEMPORAL_CLI.
#
# rewind, per rollback: plan and validate on the worker, record revision
# N+1, pull the target image by its recorded digest (cached), preflight it,
# swap the DAG bundle, replace every component (create, start, health-wait
# the replacements, then stop and remove the old ones), verify, finish.
# The raw script, per rollback, sequentially: `docker pull repo@digest`
# (cached), for each component `docker rm -f` + `docker run -d` with the same
# env, labels, bundle mount and restart policy, then repoint the DAG
# bundle's `current` symlink. Both sides alternate between two images of
# the same Runtime and two DAG bundles, so every rollback replaces every
# container.
#
# Also: the time from the command to the first container of the new
# revision running (State.StartedAt), and a cold pull: a rewind deploy of
# an image not on the Engine against `docker pull` + the same script, each
# side with its own never-pulled image per pair.
# Every process started here is stopped by PID; every container removed.
set -euo pipefail
pairs=${1:-7}
root=$(cd "$(dirname "$0")/.." && pwd)
reg=${REWIND_TEST_REGISTRY:-127.0.0.1:5000}
temporal=${REWIND_TEMPORAL_CLI:?set REWIND_TEMPORAL_CLI (make bench does)}
rewind=$root/bin/rewind
A=$reg/rewind-test/airflow:9.1.0
B=$reg/rewind-bench/airflow:9.1.0-b
work=$(mktemp -d /tmp/rewind-bench.XXXXXX)
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
  docker images -q --filter "reference=$reg/rewind-bench/cold" | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
. "$root/bench/stack.sh"
now() { date +%s.%N; }
# started_after T DEP: seconds from T to the earliest StartedAt of DEP's
# running containers created after T.
first_started() {
  local t=$1 dep=$2
  docker ps -q --filter "label=rewind.deployment=$dep" | xargs -r docker inspect -f '{{.State.StartedAt}}' |
    while read -r s; do date -d "$s" +%s.%N; done |
    awk -v t="$t" '$1 > t { if (m == "" || $1 < m) m = $1 } END { printf "%.3f", m - t }'
}

# Image B: A with one more label, so both are the same Runtime and a swap
# between them replaces every container.
docker pull -q "$A" >/dev/null
printf 'FROM %s\nLABEL rewind.bench=b\n' "$A" | DOCKER_BUILDKIT=0 docker build -q -t "$B" - >/dev/null 2>&1
docker push -q "$B" >/dev/null
# The image's digest reference in this registry: the same image may also be
# known from other registries on this Engine.
digest() {
  docker image inspect -f '{{range .RepoDigests}}{{println .}}{{end}}' "$1" | grep -m1 "^${1%:*}@"
}
Ad=$(digest "$A") Bd=$(digest "$B")

start_stack
mkdir -p "$work/dags1" "$work/dags2"
echo 'print("dags 1")' >"$work/dags1/a.py"
echo 'print("dags 2")' >"$work/dags2/a.py"

comps_for() { # n: the component names of an n-component deployment
  local all=(scheduler api-server triggerer dag-processor scheduler-2 api-server-2 triggerer-2 dag-processor-2 api-server-3 triggerer-3)
  echo "${all[@]:0:$1}"
}
cmd_of() { echo "airflow ${1%-[0-9]}"; }
ENV=(BENCH_SETTING=1 AIRFLOW__CORE__LOAD_EXAMPLES=False)

# The raw side's deployment: its own containers and bundle directory.
raw_dir() { echo "$work/raw-$1"; }
raw_setup() { # dep n
  local dep=$1 n=$2 d c
  d=$(raw_dir "$dep")
  mkdir -p "$d/bundles/v1" "$d/bundles/v2"
  ln -sfn bundles/v1 "$d/current"
  for c in $(comps_for "$n"); do
    docker run -d -q --name "raw-$dep-$c" --restart unless-stopped "${ENV[@]/#/-e}" \
      -e AIRFLOW__CORE__DAGS_FOLDER=/usr/local/airflow/dags/current \
      --mount "type=bind,source=$d,target=/usr/local/airflow/dags,readonly" \
      -l "rewind.deployment=$dep" -l "rewind.component=$c" "$Ad" $(cmd_of "$c") >/dev/null
  done
}
# The script a rollback replaces: pull by digest, rm -f + run -d each
# container with the same env, repoint the bundle symlink.
raw_rollback() { # dep n image-by-digest bundle
  local dep=$1 n=$2 img=$3 bundle=$4 d c
  d=$(raw_dir "$dep")
  docker pull -q "$img" >/dev/null
  for c in $(comps_for "$n"); do
    docker rm -f "raw-$dep-$c" >/dev/null
    docker run -d -q --name "raw-$dep-$c" --restart unless-stopped "${ENV[@]/#/-e}" \
      -e AIRFLOW__CORE__DAGS_FOLDER=/usr/local/airflow/dags/current \
      --mount "type=bind,source=$d,target=/usr/local/airflow/dags,readonly" \
      -l "rewind.deployment=$dep" -l "rewind.component=$c" "$img" $(cmd_of "$c") >/dev/null
  done
  ln -sfn "bundles/$bundle" "$d/current.new" && mv -T "$d/current.new" "$d/current"
}

rw_setup() { # dep n: a bundle deployment at revisions 1 (A, dags1) and 2 (B, dags2)
  local dep=$1 n=$2 c args=()
  for c in $(comps_for "$n"); do args+=(--component "$c=$(cmd_of "$c")"); done
  "$rewind" deployment create "$dep" --dag-source bundle --rollback-enabled --executor LocalExecutor \
    "${ENV[@]/#/--env=}" "${args[@]}" >/dev/null
  "$rewind" grant bench --deployment "$dep" --role editor >/dev/null
  "$rewind" deploy "$dep" --image "$A" --dags "$work/dags1" --no-git --description "bench revision 1" --wait >/dev/null
  "$rewind" deploy "$dep" --image "$B" --dags "$work/dags2" --no-git --description "bench revision 2" --wait >/dev/null
}

# profile DEP: the last change's history as offsets from the command's
# start, so the CLI's share shows too (REWIND_BENCH_PROFILE=1). With --yes
# --wait a rollback plans inside its one workflow: there is no other.
profile() {
  "$temporal" workflow show --address "$REWIND_TEMPORAL_ADDRESS" -w "change/$1" -o json |
    jq -r '.events[] | [.eventTime, .eventType, (.activityTaskScheduledEventAttributes.activityType.name // .markerRecordedEventAttributes.markerName // "")] | @tsv' |
    awk -F'\t' -v t0="$(cat "$work/last_start")" '{ cmd = "date -d " $1 " +%s.%N"; cmd | getline t; close(cmd); printf "  %+.3f %s %s\n", t - t0, $2, $3 }'
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) printf "%.3f", a[(NR+1)/2]; else printf "%.3f", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { echo "scale=3; $1 / $2" | bc | sed 's/^\./0./'; }

echo "rollback bench: $pairs alternating pairs per size; $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, Docker $(docker version --format '{{.Server.Version}}')"
for n in ${REWIND_BENCH_SIZES-4 10}; do
  dep=bench-rw$n raw=bench-raw$n
  deps+=("$dep" "$raw")
  rw_setup "$dep" "$n"
  raw_setup "$raw" "$n"
  : >"$work/rw$n" && : >"$work/raw$n" && : >"$work/rwfirst$n" && : >"$work/rawfirst$n"
  rev=2
  for i in $(seq 1 "$pairs"); do
    # Odd pairs go back to revision 1 (A, dags1), even ones to 2 (B, dags2).
    if [ $((i % 2)) = 1 ]; then to=1 img=$Ad bundle=v1; else to=2 img=$Bd bundle=v2; fi
    # Alternate which side goes first, so neither always runs on a quieter Engine.
    for side in $(if [ $((i % 2)) = 1 ]; then echo rw raw; else echo raw rw; fi); do
      s=$(now)
      if [ "$side" = rw ]; then
        echo "$s" >"$work/last_start"
        "$rewind" rollback "$dep" --to "$to" --description "bench pair $i" --yes --wait >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
        rev=$((rev + 1))
        e=$(now); echo "$e - $s" | bc >>"$work/rw$n"; first_started "$s" "$dep" >>"$work/rwfirst$n"; echo >>"$work/rwfirst$n"
      else
        raw_rollback "$raw" "$n" "$img" "$bundle"
        e=$(now); echo "$e - $s" | bc >>"$work/raw$n"; first_started "$s" "$raw" >>"$work/rawfirst$n"; echo >>"$work/rawfirst$n"
      fi
    done
  done
  if [ -n "${REWIND_BENCH_PROFILE:-}" ]; then profile "$dep"; fi
  r=$(median <"$work/rw$n") d=$(median <"$work/raw$n")
  rf=$(median <"$work/rwfirst$n") df=$(median <"$work/rawfirst$n")
  echo "rollback, $n components: rewind median ${r}s, script median ${d}s, ratio rewind/script $(ratio "$r" "$d")"
  echo "  first new container running after the command: rewind median ${rf}s, script median ${df}s"
  echo "  rewind: $(tr '\n' ' ' <"$work/rw$n")"
  echo "  script: $(tr '\n' ' ' <"$work/raw$n")"
done

[ "${REWIND_BENCH_COLD:-1}" = 0 ] && exit 0
# Cold pull: each side deploys an image the Engine has never had (its own
# 16 MiB layer), to the 4-component deployments.
n=4 dep=bench-rw4 raw=bench-raw4
if [[ " ${deps[*]} " != *" $dep "* ]]; then
  deps+=("$dep" "$raw")
  rw_setup "$dep" "$n"
  raw_setup "$raw" "$n"
fi
cold_image() { # tag: build, push and forget an image with a unique layer
  local ctx=$work/cold-$1
  mkdir -p "$ctx"
  head -c 16777216 /dev/urandom >"$ctx/blob"
  printf 'FROM %s\nCOPY blob /blob\n' "$A" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$reg/rewind-bench/cold:$1" "$ctx" >/dev/null 2>&1
  docker push -q "$reg/rewind-bench/cold:$1" >/dev/null
  docker rmi -f "$reg/rewind-bench/cold:$1" >/dev/null
}
: >"$work/coldrw" && : >"$work/coldraw"
for i in $(seq 1 "$pairs"); do
  cold_image "rw$i" && cold_image "raw$i"
  for side in $(if [ $((i % 2)) = 1 ]; then echo rw raw; else echo raw rw; fi); do
    s=$(now)
    if [ "$side" = rw ]; then
      echo "$s" >"$work/last_start"
      "$rewind" deploy "$dep" --image "$reg/rewind-bench/cold:rw$i" --no-git --description "bench cold $i" --wait >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
      e=$(now); echo "$e - $s" | bc >>"$work/coldrw"
    else
      docker pull -q "$reg/rewind-bench/cold:raw$i" >/dev/null
      raw_rollback "$raw" "$n" "$(digest "$reg/rewind-bench/cold:raw$i")" v1
      e=$(now); echo "$e - $s" | bc >>"$work/coldraw"
    fi
  done
done
if [ -n "${REWIND_BENCH_PROFILE:-}" ]; then profile "$dep"; fi
r=$(median <"$work/coldrw") d=$(median <"$work/coldraw")
echo "cold pull, $n components: rewind deploy median ${r}s, docker pull + script median ${d}s, ratio rewind/script $(ratio "$r" "$d")"
