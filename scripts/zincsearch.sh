#!/usr/bin/env bash
# Builds, starts or stops ZincSearch v0.4.10, a server that speaks enough of
# the Elasticsearch HTTP API (under the /es path prefix) for internal/eslog's
# end-to-end test. No Elasticsearch can be installed here, and ZincSearch
# builds from the Go module proxy.
#   scripts/zincsearch.sh build              builds once into $CACHE/bin (prints the path)
#   scripts/zincsearch.sh start DIR [PORT]   data and log in DIR; prints the ES base URL,
#                                            credentials included:
#                                            http://admin:rewind-test@127.0.0.1:PORT/es
#   scripts/zincsearch.sh stop DIR           stops the server started with DIR (by PID)
# Building needs two patches to the module's source (copied out of the
# read-only module cache first):
#   - web/dist/index.html: the UI is embedded with //go:embed web/dist, and
#     the built UI is not part of the Go module; a stub page is enough.
#   - the optional pyroscope profiler is removed from cmd/zincsearch: its
#     client (pyroscope-io/client v0.6.0) does not compile on current Go.
# Telemetry and Sentry are switched off at start.
set -euo pipefail
version=v0.4.10
CACHE=${CACHE:-$HOME/.cache/rewind}
bin=$CACHE/bin/zincsearch-$version
user=admin password=rewind-test
cmd=${1:?usage: zincsearch.sh build|start DIR [PORT]|stop DIR}

build() {
  [ -x "$bin" ] && { echo "$bin"; return 0; }
  echo "building ZincSearch $version (a few minutes, once; cached at $bin)" >&2
  local src tmp
  src=$(go mod download -json "github.com/zincsearch/zincsearch@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$src" ] || { echo "go mod download did not give a source directory for zincsearch@$version" >&2; exit 1; }
  tmp=$(mktemp -d)
  trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' RETURN
  cp -r "$src" "$tmp/zincsearch"
  chmod -R u+w "$tmp/zincsearch"
  cd "$tmp/zincsearch"
  mkdir -p web/dist
  printf '<!doctype html><title>ZincSearch</title><p>UI not built (rewind test build)</p>\n' >web/dist/index.html
  # Drop the pyroscope import and make profiling() a no-op.
  awk '
    /"github.com\/pyroscope-io\/client\/pyroscope"/ { next }
    /^func profiling\(\) \{/ { print "func profiling() { _ = strings.ToLower } // profiler removed (rewind test build)"; skip = 1; next }
    skip && /^}/ { skip = 0; next }
    skip { next }
    { print }
  ' cmd/zincsearch/main.go >main.go.new
  mv main.go.new cmd/zincsearch/main.go
  grep -q pyroscope cmd/zincsearch/main.go && { echo "patching out pyroscope failed" >&2; exit 1; }
  mkdir -p "$(dirname "$bin")"
  # The strings left in go.mod for pyroscope are harmless: unused requirements.
  GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$bin.tmp" ./cmd/zincsearch
  mv "$bin.tmp" "$bin"
  cd - >/dev/null
  echo "$bin"
}

up() { curl -fsS -o /dev/null "http://127.0.0.1:$1/healthz" 2>/dev/null; }

case $cmd in
build)
  build
  ;;
start)
  dir=${2:?usage: zincsearch.sh start DIR [PORT]}
  port=${3:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  build >/dev/null
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/zincsearch.pid" ] && kill -0 "$(cat "$dir/zincsearch.pid")" 2>/dev/null; then
    echo "zincsearch already runs for $dir (pid $(cat "$dir/zincsearch.pid")); stop it first" >&2; exit 1
  fi
  (
    cd "$dir"
    ZINC_SERVER_ADDRESS=127.0.0.1 ZINC_SERVER_PORT=$port ZINC_DATA_PATH=$dir/data \
    ZINC_FIRST_ADMIN_USER=$user ZINC_FIRST_ADMIN_PASSWORD=$password \
    ZINC_TELEMETRY=false ZINC_SENTRY=false ZINC_PROFILER=false ZINC_PLUGIN_ES_VERSION=8.11.0 \
    GIN_MODE=release ZINC_WAL_SYNC_INTERVAL=10ms \
      nohup "$bin" >"$dir/zincsearch.log" 2>&1 &
    echo $! >"$dir/zincsearch.pid"
  )
  for _ in $(seq 1 150); do
    up "$port" && { echo "http://$user:$password@127.0.0.1:$port/es"; exit 0; }
    kill -0 "$(cat "$dir/zincsearch.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "zincsearch did not start on 127.0.0.1:$port; log:" >&2
  cat "$dir/zincsearch.log" >&2
  exit 1
  ;;
stop)
  dir=${2:?usage: zincsearch.sh stop DIR}
  if [ -f "$dir/zincsearch.pid" ]; then
    pid=$(cat "$dir/zincsearch.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$dir/zincsearch.pid"
  fi
  ;;
*)
  echo "usage: zincsearch.sh build|start DIR [PORT]|stop DIR" >&2; exit 2
  ;;
esac
