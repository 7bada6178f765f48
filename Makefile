# rewind — `make run` to try it on one machine, `make test` for every test.
SHELL := /bin/bash
CACHE ?= $(HOME)/.cache/rewind
TEMPORAL_VERSION := v1.5.1
# The Temporal CLI (dev server) takes minutes to build on 2 cores: it is
# built once into the cache, outside the clone, and reused.
TEMPORAL := $(CACHE)/bin/temporal-$(TEMPORAL_VERSION)
export REWIND_TEMPORAL_CLI := $(TEMPORAL)
GO_PACKAGES := ./...

.PHONY: all build test test-remote test-unit run temporal clean record-histories faults soak bench

all: build

# `rewind version` says which build it is: git describe of the work tree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X github.com/rewindhq/rewind/internal/cli.Version=$(VERSION)

build:
	go build -ldflags "$(LDFLAGS)" -o bin/rewind ./starter
	go build -ldflags "$(LDFLAGS)" -o bin/rewind-worker ./worker

temporal: $(TEMPORAL)
$(TEMPORAL):
	scripts/temporal-cli.sh $(TEMPORAL_VERSION) $@

# Every test, integration tests included: starts PostgreSQL (and, as they
# land, the registry), runs go test against the real services, stops them.
test: build $(TEMPORAL)
	scripts/test.sh $(GO_PACKAGES)

# The CLI integration tests through a real `rewind serve` with tokens (the
# remote CLI, issue 14), the remote half only (REWIND_TEST_REMOTE=only), the
# long ones included: `make test` already runs the short ones in both modes
# and the long ones store-direct. The -run list is every internal/cli test
# that calls eachMode or eachHeavyMode, read from the source by
# scripts/mode-tests.sh, so a new mode test is never forgotten and tests
# without the helpers (which would only run store-direct again) stay out.
test-remote: build $(TEMPORAL)
	REWIND_TEST_REMOTE=only scripts/test.sh -timeout 90m -run "$$(scripts/mode-tests.sh)" ./internal/cli

# Fast feedback: tests that need no server.
test-unit:
	go test -count=1 ./internal/config ./internal/domain ./internal/policy ./workflows

# The whole fault-injection suite: SIGKILL of the worker before and after
# every activity of a deploy and of a downgrading rollback, the registry
# stopped during a pull, the bundle root read-only during a swap, PostgreSQL
# stopped for a minute. Prints a table (also in out/faults.txt). `make test`
# runs a short form.
faults: build $(TEMPORAL)
	mkdir -p out
	REWIND_FAULTS_SUITE=full REWIND_FAULTS_TABLE=$(CURDIR)/out/faults.txt scripts/test.sh -timeout 90m -v -run TestFaults ./internal/faults

# The concurrency soak at full size: 200 deployments, racing deploys and
# rollbacks from 16 clients, two workers on PostgreSQL; bounded at 15
# minutes plus a drain, loopback only. `make test` runs its short form.
soak: build $(TEMPORAL)
	REWIND_SOAK_DEPLOYMENTS=200 REWIND_SOAK_CHANGES=5 REWIND_SOAK_CLIENTS=16 REWIND_SOAK_WORKERS=2 \
	REWIND_SOAK_DATABASE=postgres REWIND_SOAK_TIMEOUT=15m \
	scripts/test.sh -timeout 60m -run '^TestSoak$$' -v ./internal/soak

# Record the workflow histories the replay tests read into the folder of
# the current release (historyRelease in internal/cli/record_test.go; files
# already there are kept). After changing a workflow on purpose, guard the
# change with workflow.GetVersion, bump the release and record.
record-histories: build $(TEMPORAL)
	REWIND_RECORD_HISTORIES=$(CURDIR)/workflows/testdata/histories scripts/test.sh \
	  -run 'TestRollbackThrough|TestFailedRollback|TestDeployTwiceThroughTheDevServer|TestMissingImageFailsFast|TestDagOnlyDeploy|TestGitProvenanceGuard|TestCleanupContinuesAsNew|TestDrainDeadlineSurvivesAWorkerRestart|TestFailedDowngradeRestoresTheMetadataSnapshot|TestWebhooksReceiveEveryNotificationOnce|TestStoredConfigurationReachesTheContainers|TestTwoDockerHostsOneWorkerEach|TestAutomaticRollbackOfACrashLoopingScheduler|TestBakeDuringOtherChanges|TestAContinuedBakeStillDecides|TestFleetRollbackByImageDigest|TestFleetRollbackRetriesAHeldChangeLock|TestFleetRollbackCancelled|TestFleetRollbackCancelledPastThePointOfNoReturn' ./internal/cli

# Benchmarks against the raw Docker work they replace, ratios measured in
# one run (docs/performance.md): a deploy through internal/runtime, and a
# rollback through the real stack (dev server, worker, CLI) in alternating
# pairs with a cold-pull comparison; a fleet rollback of 20 deployments
# against 20 single rollbacks one after another. Starts its own registry with the test
# images ($$REWIND_TEST_REGISTRY, default 127.0.0.1:5000) and stops it.
# Then the delivery metrics over 100,000 revisions on SQLite and PostgreSQL
# (bench/metrics.sh, its own throwaway PostgreSQL).
#   make bench [BENCH_PAIRS=7]
BENCH_PAIRS ?= 7
bench: build $(TEMPORAL)
	@set -euo pipefail; dir=$$(mktemp -d /tmp/rewind-bench-registry.XXXXXX); \
	trap 'scripts/registry.sh stop "$$dir"; rm -rf "$$dir"' EXIT; \
	export REWIND_TEST_REGISTRY=$$(scripts/registry.sh start "$$dir"); \
	scripts/test-images.sh >"$$dir/test-images.log" 2>&1 || { cat "$$dir/test-images.log" >&2; exit 1; }; \
	status=0; bench/deploy.sh || status=$$?; \
	bench/rollback.sh $(BENCH_PAIRS) || status=$$?; \
	bench/metrics.sh || status=$$?; \
	bench/fleet.sh || status=$$?; \
	exit $$status

# Dev server + worker on the embedded defaults (SQLite under ./.rewind).
run: build $(TEMPORAL)
	scripts/run.sh

clean:
	rm -rf bin .rewind
