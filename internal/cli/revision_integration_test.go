package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// `rewind revision show <deployment> <N>` (issue 29): one revision whole,
// store-direct and through rewind serve alike — what it ran, who asked,
// how it ended, and the change's steps with times and attempts, with a
// rollback's plan. A bad number is a usage error; a user without a grant
// on the deployment learns nothing.
func TestRevisionShowIsOneRevisionWhole(t *testing.T) {
	startStack(t)
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("rshow")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--rollback-enabled", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--wait", "--description", "first")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0-healthcheck"), "--wait", "--description", "second")
		if r := m.as("alice", "deploy", dep, "--image", itest.Image(t, "broken"), "--wait"); r.code != ExitRefused {
			t.Fatalf("the broken image must fail: %d %s", r.code, r.stderr)
		}
		m.mustAs("alice", "rollback", dep, "--to", "1", "--description", "back to the first", "--yes", "--wait")

		var rb action.RevisionDetail
		if err := json.Unmarshal([]byte(m.mustRewind("revision", "show", dep, "4", "-o", "json")), &rb); err != nil {
			t.Fatal(err)
		}
		c := rb.Change
		if rb.Number != 4 || rb.RollbackOf != 1 || rb.Status != domain.StatusDeployed || c == nil || c.Status != "COMPLETED" || len(c.Plan) == 0 {
			t.Fatalf("the rollback: %+v %+v", rb.Revision, c)
		}
		ran := map[string]bool{}
		for _, st := range c.Steps {
			ran[st.Name] = st.State == "done" && st.StartedAt != nil && st.EndedAt != nil && st.Attempts >= 1
		}
		for _, step := range []string{"validate", "record revision", "pull image", "swap components", "verify"} {
			if !ran[step] {
				t.Errorf("the rollback's %s step without its times and attempts: %+v", step, c.Steps)
			}
		}
		text := m.mustRewind("revision", "show", dep, "3")
		for _, want := range []string{"3 of " + dep + ": FAILED", "failure", "preflight", "ATTEMPTS", "TOOK", "by alice"} {
			if !strings.Contains(text, want) {
				t.Fatalf("revision show %s 2 lacks %q:\n%s", dep, want, text)
			}
		}
		if r := m.rewind("revision", "show", dep, "two"); r.code != ExitUsage {
			t.Fatalf("a revision that is no number: %d %s", r.code, r.stderr)
		}
		if r := m.rewind("revision", "show", dep, "99"); r.code != ExitRefused || !strings.Contains(r.stderr, "NotFound") {
			t.Fatalf("a revision that does not exist: %d %s", r.code, r.stderr)
		}
		if m.remote {
			if r := m.as("mallory", "revision", "show", dep, "1"); r.code != ExitRefused || !strings.Contains(r.stderr, "PermissionDenied") {
				t.Fatalf("a user without a grant: %d %s", r.code, r.stderr)
			}
		}
	})
}
