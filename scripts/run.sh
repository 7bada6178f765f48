#!/usr/bin/env bash
# `make run`: a Temporal dev server (Web UI on :8233) and a rewind worker on
# the embedded defaults — SQLite and the bundle root under ./.rewind — for
# trying rewind on one machine. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${REWIND_TEMPORAL_CLI:?set REWIND_TEMPORAL_CLI (make run does)}"
export REWIND_DATA_DIR=${REWIND_DATA_DIR:-$PWD/.rewind}
mkdir -p "$REWIND_DATA_DIR"
port=${REWIND_DEV_PORT:-7233} ui=${REWIND_DEV_UI_PORT:-8233}
export REWIND_TEMPORAL_ADDRESS=${REWIND_TEMPORAL_ADDRESS:-127.0.0.1:$port}
export REWIND_METRICS_ADDRESS=${REWIND_METRICS_ADDRESS:-127.0.0.1:9464}

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping rewind (worker, then Temporal)…"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
}
trap stop INT TERM EXIT

"$REWIND_TEMPORAL_CLI" server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui" \
  --db-filename "$REWIND_DATA_DIR/temporal.db" --log-level warn \
  >"$REWIND_DATA_DIR/temporal.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  "$REWIND_TEMPORAL_CLI" operator cluster health --address "$REWIND_TEMPORAL_ADDRESS" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "Temporal failed to start; see $REWIND_DATA_DIR/temporal.log" >&2; exit 1; }
  sleep 1
done

bin/rewind-worker >"$REWIND_DATA_DIR/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 30); do
  grep -q '"worker started"' "$REWIND_DATA_DIR/worker.log" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "the worker failed to start:" >&2; tail -5 "$REWIND_DATA_DIR/worker.log" >&2; exit 1; }
  sleep 0.5
done

me=${REWIND_USER:-$(id -un)}
cat <<MSG

rewind is running.
  Temporal Web UI   http://localhost:$ui   (workflows, retries, search attributes)
  Temporal address  $REWIND_TEMPORAL_ADDRESS, task queue ${REWIND_TASK_QUEUE:-rewind}
  worker metrics    http://$REWIND_METRICS_ADDRESS/metrics (Prometheus)
  data and logs     $REWIND_DATA_DIR (rewind.db, worker.log, temporal.log, logs/events/)

Next, in another terminal in this directory:
  export PATH=\$PWD/bin:\$PATH REWIND_DATA_DIR=$REWIND_DATA_DIR REWIND_TEMPORAL_ADDRESS=$REWIND_TEMPORAL_ADDRESS
  rewind deployment create demo --rollback-enabled
  rewind grant $me --deployment demo --role editor
  rewind deploy demo --image 127.0.0.1:5000/rewind-test/airflow:9.1.0 --description "first deploy" --wait
  rewind history demo
or start a deploy with the Temporal CLI:
  $REWIND_TEMPORAL_CLI workflow start --address $REWIND_TEMPORAL_ADDRESS --type DeployWorkflow --task-queue rewind \\
    --workflow-id change/demo --input '{"deploymentId":"demo","imageRef":"127.0.0.1:5000/rewind-test/airflow:9.1.0","requestedBy":"$me"}'

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "a process exited; see $REWIND_DATA_DIR/*.log" >&2
