// Package hostile is the hostile-input battery of issue 9 (item 3): table
// driven cases against the three entry points — DeployWorkflow and
// RollbackWorkflow started with the Temporal CLI, the `rewind` CLI and the
// HTTP API of `rewind serve` — each of which must be refused with its SPEC §3
// type (and, over HTTP, the status of docs/api.md) and change nothing: the
// store, the deployments' containers and the bundle root are compared
// before and after every case. The package has only tests; see
// docs/hostile.md.
package hostile
