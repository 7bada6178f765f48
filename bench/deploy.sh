#!/usr/bin/env bash
# Benchmark: a deploy of a cached image to a 4-container deployment through
# internal/runtime, against the same Docker operations done directly with the
# docker CLI, in the same run. Prints the mean of each and the ratio.
#   bench/deploy.sh [N]          (N deploys each, default 10)
# Needs the registry and test images (scripts/registry.sh start DIR &&
# scripts/test-images.sh); images are pulled once before timing.
#
# Both sides, per deploy, for each of scheduler, api-server, triggerer and
# dag-processor: check the image is local, create <name>-next from the same
# configuration (env, labels, read-only bundle mount, restart policy), start
# it, check it runs; then stop and remove the old container and rename the
# new one to the stable name. Images A and B alternate so every container is
# replaced every time. The raw script does not read the old container's
# configuration (it knows it), so the ratio includes rewind's inspections.
set -euo pipefail
n=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
reg=${REWIND_TEST_REGISTRY:-127.0.0.1:5000}
A=$reg/rewind-test/airflow:9.1.0 B=$reg/rewind-test/airflow:9.1.0-healthcheck
work=$(mktemp -d)
trap 'docker ps -aq --filter label=rewind.deployment=bench-raw | xargs -r docker rm -f >/dev/null; rm -rf "$work"' EXIT
docker pull -q "$A" >/dev/null; docker pull -q "$B" >/dev/null
mkdir -p "$work/bundles/bench-raw"

(cd "$root" && go build -o "$work/bench-deploy" ./bench/deploy)
"$work/bench-deploy" -n "$n" -a "$A" -b "$B" -bundles "$work/bundles" >"$work/rewind.txt"

comps="scheduler api-server triggerer dag-processor"
raw_deploy() { # image revision
  local img=$1 rev=$2 c
  docker image inspect -f '{{.Id}}' "$img" >/dev/null
  for c in $comps; do
    docker create -q --name "rewind-bench-raw-$c-next" --restart unless-stopped \
      -e BENCH=1 -e AIRFLOW__CORE__DAGS_FOLDER=/usr/local/airflow/dags/current \
      --mount "type=bind,source=$work/bundles/bench-raw,target=/usr/local/airflow/dags,readonly" \
      -l rewind.deployment=bench-raw -l rewind.component="$c" -l rewind.revision="$rev" \
      "$img" airflow "$c" >/dev/null
    docker start "rewind-bench-raw-$c-next" >/dev/null
  done
  for c in $comps; do
    [ "$(docker inspect -f '{{.State.Running}}' "rewind-bench-raw-$c-next")" = true ]
  done
  for c in $comps; do
    docker stop -t 30 "rewind-bench-raw-$c" >/dev/null 2>&1 || true
    docker rm "rewind-bench-raw-$c" >/dev/null 2>&1 || true
    docker rename "rewind-bench-raw-$c-next" "rewind-bench-raw-$c"
  done
}
raw_deploy "$A" 1
: >"$work/raw.txt"
for i in $(seq 1 "$n"); do
  if [ $((i % 2)) = 1 ]; then img=$B; else img=$A; fi
  s=$(date +%s.%N); raw_deploy "$img" $((i + 1)); e=$(date +%s.%N)
  echo "raw $(echo "$e - $s" | bc)" >>"$work/raw.txt"
done

mean() { awk '{s+=$2} END {printf "%.3f", s/NR}' "$1"; }
r=$(mean "$work/rewind.txt") d=$(mean "$work/raw.txt")
echo "deploys: $n each, 4 containers, cached image"
echo "rewind (internal/runtime Pull+Swap): mean ${r}s"
echo "docker CLI script:                   mean ${d}s"
echo "ratio rewind/raw: $(echo "scale=3; $r / $d" | bc)"
