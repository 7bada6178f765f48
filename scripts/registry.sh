#!/usr/bin/env bash
# Starts or stops a throwaway image registry for the tests: Debian's
# docker-registry (distribution v2), run directly rather than through its
# systemd unit so that its storage is a directory we own and throw away.
#   scripts/registry.sh start DIR   storage and log in DIR; prints the address
#   scripts/registry.sh stop DIR    stops the registry started with DIR (by PID)
# The address is $REWIND_TEST_REGISTRY (default 127.0.0.1:5000). dockerd
# treats 127.0.0.0/8 as an insecure registry by default, so plain HTTP works
# without touching the daemon's configuration. Deletes are enabled so tests
# can remove manifests, and there is no blob descriptor cache so the
# registry always answers from its storage.
# With REWIND_TEST_REGISTRY_HTPASSWD=FILE (bcrypt lines, see
# internal/testregistry/cmd/htpasswd) every request needs HTTP basic
# authentication: the private-registry tests' registry (scripts/registry-auth.sh).
set -euo pipefail
cmd=${1:?usage: registry.sh start|stop DIR} dir=${2:?usage: registry.sh start|stop DIR}
addr=${REWIND_TEST_REGISTRY:-127.0.0.1:5000}
htpasswd=${REWIND_TEST_REGISTRY_HTPASSWD:-}
bin=$(command -v docker-registry || command -v registry || true)
# Up means it answers /v2/: 200 when open, 401 (a challenge) with authentication.
up() {
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' "http://$addr/v2/" 2>/dev/null) || return 1
  [ "$code" = 200 ] || { [ -n "$htpasswd" ] && [ "$code" = 401 ]; }
}
case $cmd in
start)
  [ -n "$bin" ] || { echo "docker-registry is not installed (apt-get install -y docker-registry)" >&2; exit 1; }
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/registry.pid" ] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null && up; then
    echo "$addr"; exit 0
  fi
  if up; then
    echo "something already answers on $addr; not starting another registry" >&2
    echo "$addr"; exit 0
  fi
  cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $addr
YML
  if [ -n "$htpasswd" ]; then
    [ -s "$htpasswd" ] || { echo "REWIND_TEST_REGISTRY_HTPASSWD=$htpasswd is missing or empty" >&2; exit 1; }
    cat >>"$dir/config.yml" <<YML
auth:
  htpasswd:
    realm: rewind-test
    path: $(cd "$(dirname "$htpasswd")" && pwd)/$(basename "$htpasswd")
YML
  fi
  nohup "$bin" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  for _ in $(seq 1 100); do
    up && { echo "$addr"; exit 0; }
    kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "registry did not start on $addr; log:" >&2
  cat "$dir/registry.log" >&2
  exit 1
  ;;
stop)
  if [ -f "$dir/registry.pid" ]; then
    pid=$(cat "$dir/registry.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$dir/registry.pid"
  fi
  ;;
*)
  echo "usage: registry.sh start|stop DIR" >&2; exit 2
  ;;
esac
