# Sourced by the rollback benches (rollback.sh, fleet.sh): free_port, and
# start_stack, which starts a Temporal dev server (in memory, with the
# transfer-queue setting rewind runs one with: docs/temporal-server.md) and
# a worker on SQLite in $work, and exports the settings the CLI then uses.
# Needs $root, $temporal, $work and the array pids (stopped by the caller's
# cleanup) set by the caller.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_stack() {
  local port
  port=$(free_port)
  "$temporal" server start-dev --ip 127.0.0.1 --port "$port" --headless --log-level error \
    --dynamic-config-value history.transferProcessorMaxPollRPS=200 >"$work/temporal.log" 2>&1 &
  pids+=($!)
  export REWIND_TEMPORAL_ADDRESS=127.0.0.1:$port REWIND_TASK_QUEUE=rewind-bench REWIND_DATA_DIR=$work/data \
    REWIND_DATABASE_URL= REWIND_ROLLBACKS_ENABLED=true REWIND_METRICS_ADDRESS= REWIND_USER=bench \
    REWIND_BUNDLE_REPOSITORY= REWIND_ELASTICSEARCH_ADDRESSES=
  mkdir -p "$REWIND_DATA_DIR"
  for _ in $(seq 1 60); do
    "$temporal" operator cluster health --address "$REWIND_TEMPORAL_ADDRESS" >/dev/null 2>&1 && break
    sleep 1
  done
  "$root/bin/rewind-worker" >"$work/worker.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 60); do
    grep -q '"worker started"' "$work/worker.log" && break
    kill -0 "${pids[-1]}" || { cat "$work/worker.log" >&2; exit 1; }
    sleep 0.5
  done
}
