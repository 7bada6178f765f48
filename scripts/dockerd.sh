#!/usr/bin/env bash
# A private Docker daemon (Debian's docker.io) for the fault suite's
# "restart the Docker daemon during a pull": restarting the machine's own
# daemon would kill every other test's containers.
#   scripts/dockerd.sh start DIR     starts it (again); prints its DOCKER_HOST
#   scripts/dockerd.sh stop DIR      stops it like a daemon restart does (SIGTERM, by PID)
#   scripts/dockerd.sh destroy DIR   stops it for good and removes what it left
# It gets a bridge of its own (rwfaults0, link-local, never sent traffic):
# a daemon started with --bridge=none deletes the host's docker0. Several
# daemons at once (the multi-host test: one per Docker host) each name
# their own bridge and subnet:
#   REWIND_DOCKERD_BRIDGE=rwhosta0 REWIND_DOCKERD_CIDR=169.254.232.1/24 scripts/dockerd.sh start DIR
# The bridge must never be docker0. Pulls from a registry on 127.0.0.1
# work: dockerd treats 127.0.0.0/8 as an insecure registry by default.
set -euo pipefail
cmd=$1 dir=$2
bridge=${REWIND_DOCKERD_BRIDGE:-rwfaults0}
cidr=${REWIND_DOCKERD_CIDR:-169.254.231.1/24}
if [ "$bridge" = docker0 ]; then
  echo "refusing to use the host's docker0 bridge" >&2
  exit 2
fi
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
  if ! ip link show "$bridge" >/dev/null 2>&1; then
    ip link add name "$bridge" type bridge
    ip addr add "$cidr" dev "$bridge"
    ip link set "$bridge" up
  fi
  # The machine daemon's storage driver, remembered: on a restart
  # DOCKER_HOST may name this (stopped) daemon.
  # REWIND_DOCKERD_DRIVER skips asking (a busy machine daemon can take
  # minutes to answer `docker info`); asking is bounded, then the driver
  # whose directory the machine daemon keeps is taken.
  if [ ! -s "$dir/driver" ]; then
    driver=${REWIND_DOCKERD_DRIVER:-$(timeout 15 env -u DOCKER_HOST docker info --format '{{.Driver}}' 2>/dev/null || true)}
    if [ -z "$driver" ]; then
      driver=overlay2
      for d in overlay2 fuse-overlayfs vfs; do [ -d "/var/lib/docker/$d" ] && { driver=$d; break; }; done
    fi
    echo "$driver" >"$dir/driver"
  fi
  driver=$(cat "$dir/driver")
  dockerd --config-file "$dir/daemon.json" --storage-driver "$driver" --iptables=false --ip6tables=false --bridge="$bridge" \
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
  ip link del "$bridge" 2>/dev/null || true
  ;;
esac
