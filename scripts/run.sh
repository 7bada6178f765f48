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
# A trial installation: rollbacks on (R9's installation switch; each
# deployment still has its own, off by default).
export REWIND_ROLLBACKS_ENABLED=${REWIND_ROLLBACKS_ENABLED:-true}

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping rewind (worker, then Temporal, then the registry)…"
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
  [ -n "${registry_started:-}" ] && scripts/registry.sh stop "$REWIND_DATA_DIR/registry" >/dev/null || true
}
trap stop INT TERM EXIT

"$REWIND_TEMPORAL_CLI" server start-dev --ip 127.0.0.1 --port "$port" --ui-port "$ui" \
  --db-filename "$REWIND_DATA_DIR/temporal.db" --log-level warn \
  --dynamic-config-value history.transferProcessorMaxPollRPS=200 \
  >"$REWIND_DATA_DIR/temporal.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 60); do
  "$REWIND_TEMPORAL_CLI" operator cluster health --address "$REWIND_TEMPORAL_ADDRESS" >/dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "Temporal failed to start; see $REWIND_DATA_DIR/temporal.log" >&2; exit 1; }
  sleep 1
done

# A registry with Airflow stand-in images to deploy (built FROM scratch
# around the project's test program: nothing is pulled from the internet).
if command -v docker-registry >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  registry=$(scripts/registry.sh start "$REWIND_DATA_DIR/registry") && registry_started=1
  scripts/test-images.sh >"$REWIND_DATA_DIR/test-images.log" 2>&1 || echo "could not build the demo images; see $REWIND_DATA_DIR/test-images.log" >&2
else
  echo "note: no docker-registry or Docker Engine here; deploys need images in a registry you run" >&2
fi

bin/rewind-worker >"$REWIND_DATA_DIR/worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 30); do
  grep -q '"worker started"' "$REWIND_DATA_DIR/worker.log" 2>/dev/null && break
  kill -0 "${pids[1]}" 2>/dev/null || { echo "the worker failed to start:" >&2; tail -5 "$REWIND_DATA_DIR/worker.log" >&2; exit 1; }
  sleep 0.5
done

me=${REWIND_USER:-$(id -un)}
demo=${REWIND_DEMO_DEPLOYMENT:-demo}
cat <<MSG

rewind is running.
  Temporal Web UI   http://localhost:$ui   (workflows, retries, search attributes)
  Temporal address  $REWIND_TEMPORAL_ADDRESS, task queue ${REWIND_TASK_QUEUE:-rewind}
  rollbacks         $( [ "$REWIND_ROLLBACKS_ENABLED" = true ] && echo "enabled for this installation (REWIND_ROLLBACKS_ENABLED)" || echo "disabled (REWIND_ROLLBACKS_ENABLED=false)")
  worker metrics    http://$REWIND_METRICS_ADDRESS/metrics (Prometheus)
  data and logs     $REWIND_DATA_DIR (rewind.db, worker.log, temporal.log, logs/events/)

Next, in another terminal in this directory:
  export PATH=\$PWD/bin:\$PATH REWIND_DATA_DIR=$REWIND_DATA_DIR REWIND_TEMPORAL_ADDRESS=$REWIND_TEMPORAL_ADDRESS
  rewind deployment create $demo --rollback-enabled
  rewind grant $me --deployment $demo --role editor
  rewind deploy $demo --image 127.0.0.1:5000/rewind-test/airflow:9.1.0 --description "first deploy" --wait
  rewind deploy $demo --image 127.0.0.1:5000/rewind-test/airflow:9.1.0-sick --description "second deploy" --wait
  rewind history $demo
  rewind rollback $demo --description "the second deploy broke the ETL" --wait
  rewind deploy $demo --image 127.0.0.1:5000/rewind-test/airflow:9.1.0-healthcheck --description "the fix" --wait
  rewind history $demo
  docker ps --filter label=rewind.deployment=$demo
The Deploy History page and HTTP API:
  rewind token create --user $me        # prints a token once
  rewind serve                          # then open http://127.0.0.1:8080 and sign in with the token
or start a deploy with the Temporal CLI:
  $REWIND_TEMPORAL_CLI workflow start --address $REWIND_TEMPORAL_ADDRESS --type DeployWorkflow --task-queue rewind \\
    --workflow-id change/$demo --input '{"deploymentId":"$demo","imageRef":"127.0.0.1:5000/rewind-test/airflow:9.1.0","requestedBy":"$me"}'

Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
echo "a process exited; see $REWIND_DATA_DIR/*.log" >&2
