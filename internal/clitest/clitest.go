// Package clitest runs the rewind CLI in process for the suites outside
// internal/cli (faults, the hostile battery, the soak): one helper instead
// of a copy in each. internal/cli's own tests keep theirs (importing this
// from there would be a cycle).
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/cli"
	"github.com/rewindhq/rewind/internal/domain"
)

// Result is one run of the CLI: its exit code and what it printed.
type Result struct {
	Code        int
	Out, Stderr string
}

// Run runs `rewind args…` with stdin.
func Run(stdin string, args ...string) Result {
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return Result{code, out.String(), errb.String()}
}

// Must runs `rewind args…` and fails the test unless it exits 0; its
// standard output.
func Must(t testing.TB, args ...string) string {
	t.Helper()
	r := Run("", args...)
	if r.Code != 0 {
		t.Fatalf("rewind %s: exit %d: %s", strings.Join(args, " "), r.Code, r.Stderr)
	}
	return r.Out
}

// History is a deployment's whole history, newest first.
func History(t testing.TB, dep string) []domain.Revision {
	t.Helper()
	var revs []domain.Revision
	if err := json.Unmarshal([]byte(Must(t, "history", dep, "-o", "json", "--limit", "1000")), &revs); err != nil {
		t.Fatal(err)
	}
	return revs
}
