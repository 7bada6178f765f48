#!/usr/bin/env bash
# Builds the Temporal CLI (dev server included) from the Go module proxy
# into the given path. Later tags carry a `replace` and do not `go install`.
set -euo pipefail
version=$1 dest=$2
echo "building the Temporal CLI $version (a few minutes, once; cached at $dest)" >&2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN=$tmp go install "github.com/temporalio/cli/cmd/temporal@$version"
mkdir -p "$(dirname "$dest")"
mv "$tmp/temporal" "$dest"
