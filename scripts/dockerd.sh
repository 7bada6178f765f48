#!/usr/bin/env bash
# A private Docker daemon (Debian's docker.io) for the fault suite's
# "restart the Docker daemon during a pull": restarting the machine's own
# daemon would kill every other test's containers.
#   scripts/dockerd.sh start DIR     starts it (again); prints its DOCKER_HOST
#   scripts/dockerd.sh stop DIR      stops it like a daemon restart does (SIGTERM, by PID)
#   scripts/dockerd.sh destroy DIR   stops it for good and removes what it left
# It gets a bridge of its own (rwfaults0, link-local, never sent traffic):
# a daemon started with --bridge=none deletes the host's docker0.
set -euo pipefail
cmd=$1 dir=$2
stop() {
  [ -f "$dir/docker.pid" ] || return 0
  pid=$(cat "$dir/docker.pid")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.25; done
  kill -9 "$pid" 2>/dev/null || true
}
case $cmd in
start)
  mkdir -p "$dir"
  echo '{}' >"$dir/daemon.json"
  if ! ip link show rwfaults0 >/dev/null 2>&1; then
    ip link add name rwfaults0 type bridge
    ip addr add 169.254.231.1/24 dev rwfaults0
    ip link set rwfaults0 up
  fi
  # The machine daemon's storage driver, remembered: on a restart
  # DOCKER_HOST may name this (stopped) daemon.
  [ -s "$dir/driver" ] || (env -u DOCKER_HOST docker info --format '{{.Driver}}' 2>/dev/null || echo overlay2) >"$dir/driver"
  driver=$(cat "$dir/driver")
  dockerd --config-file "$dir/daemon.json" --storage-driver "$driver" --iptables=false --ip6tables=false --bridge=rwfaults0 \
    --data-root "$dir/data" --exec-root "$dir/exec" --host "unix://$dir/docker.sock" --pidfile "$dir/docker.pid" \
    >>"$dir/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    DOCKER_HOST="unix://$dir/docker.sock" docker info >/dev/null 2>&1 && { echo "unix://$dir/docker.sock"; exit 0; }
    sleep 0.5
  done
  echo "private dockerd did not start; see $dir/dockerd.log" >&2
  exit 1
  ;;
stop)
  stop
  ;;
destroy)
  stop
  pkill -f -- "$dir/exec" 2>/dev/null || true
  ip link del rwfaults0 2>/dev/null || true
  ;;
esac
