#!/usr/bin/env bash
# Starts or stops the Elasticsearch stand-in for internal/eslog's failure
# tests: internal/eslog/mockes, a small program around Elastic's mock-es
# library (github.com/elastic/mock-es) that remembers created ids (409 on a
# second create, like Elasticsearch) and takes injected faults (503 on whole
# bulk requests, 429 on items, delayed responses) on /_mock/faults.
#   scripts/mock-es.sh start DIR   binary, address file and log in DIR; prints the URL
#                                  (http://127.0.0.1:PORT, a free port chosen by the server)
#   scripts/mock-es.sh stop DIR    stops the server started with DIR (by PID)
# It builds from this repository in seconds, so there is no cached binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: mock-es.sh start|stop DIR} dir=${2:?usage: mock-es.sh start|stop DIR}
case $cmd in
start)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/mockes.pid" ] && kill -0 "$(cat "$dir/mockes.pid")" 2>/dev/null; then
    echo "mockes already runs for $dir (pid $(cat "$dir/mockes.pid")); stop it first" >&2; exit 1
  fi
  go build -o "$dir/mockes" ./internal/eslog/mockes
  rm -f "$dir/addr"
  nohup "$dir/mockes" -addr 127.0.0.1:0 -addr-file "$dir/addr" >"$dir/mockes.log" 2>&1 &
  echo $! >"$dir/mockes.pid"
  for _ in $(seq 1 100); do
    if [ -s "$dir/addr" ]; then
      echo "http://$(cat "$dir/addr")"; exit 0
    fi
    kill -0 "$(cat "$dir/mockes.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "mockes did not start; log:" >&2
  cat "$dir/mockes.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/mockes.pid" ]; then
    pid=$(cat "$dir/mockes.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$dir/mockes.pid"
  fi
  ;;
*)
  echo "usage: mock-es.sh start|stop DIR" >&2; exit 2
  ;;
esac
