#!/usr/bin/env bash
# Prints a go test -run pattern of every internal/cli test that runs its
# CLI through the mode helpers (a call of eachMode or eachHeavyMode in its
# body), read from the source so a new mode test is never left out of
# `make test-remote`. Tests that do not use the helpers are not in it:
# under REWIND_TEST_REMOTE=only they would run store-direct again.
set -euo pipefail
cd "$(dirname "$0")/.."
names=$(awk 'FNR == 1 { name = "" }
  /^func Test/ { name = $2; sub(/\(.*/, "", name) }
  /^\t+each(Heavy)?Mode\(t, / && name != "" { print name }' internal/cli/*_test.go | sort -u)
[ -n "$names" ] || { echo "mode-tests.sh: no test calls eachMode or eachHeavyMode" >&2; exit 1; }
echo "^($(echo "$names" | paste -sd'|'))\$"
