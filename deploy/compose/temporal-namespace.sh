#!/bin/sh
# Runs in temporalio/admin-tools once the server is healthy: makes sure the
# namespace rewind uses exists (the server image creates none).
set -eu
ns=${NAMESPACE:-default}
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  temporal operator cluster health --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 && break
  echo "temporal not serving yet (attempt $attempt)"; sleep 3
done
temporal operator namespace describe -n "$ns" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1 ||
  temporal operator namespace create -n "$ns" --address "$TEMPORAL_ADDRESS"
echo "namespace $ns ready"
