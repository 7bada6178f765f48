package action

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// sqliteStore is an empty store on SQLite, closed when the test ends.
func sqliteStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// A store on SQLite with one deployment and its revisions: r1 DEPLOYED
// long ago, r2 FAILED, r3 DEPLOYED now (current).
func historyStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st := sqliteStore(t)
	if err := st.CreateDeployment(ctx, NewDeployment("d1")); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-200 * 24 * time.Hour)
	for i, c := range []struct {
		at     time.Time
		status domain.Status
	}{{old, domain.StatusDeployed}, {time.Now().Add(-time.Hour), domain.StatusFailed}, {time.Now(), domain.StatusDeployed}} {
		r, err := st.CreateRevision(ctx, domain.Revision{DeploymentID: "d1", CreatedAt: c.at, CreatedBy: "alice", Description: "r", Type: domain.DeployImageOnly,
			ImageRef: "reg/airflow:" + string(rune('1'+i)), WorkflowID: "change/d1", RunID: "run-" + string(rune('1'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetImage(ctx, "d1", r.Number, "sha256:"+strings.Repeat(string(rune('a'+i)), 64), "9.1.0", "2.9.3"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.FinishRevision(ctx, store.Finish{DeploymentID: "d1", Number: r.Number, Status: c.status, At: c.at, Reason: "boom"}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// ShowRevision refuses what is not there, and without Temporal shows the
// stored revision whole, saying why the change is missing.
func TestShowRevision(t *testing.T) {
	st := historyStore(t)
	env := Env{Store: st}
	for _, c := range []struct {
		dep  string
		n    int
		want domain.ErrorType
	}{
		{"d1", 2, ""},
		{"d1", 0, domain.InvalidInput},
		{"d1", 9, domain.NotFound},
		{"nope", 1, domain.NotFound},
		{"Bad/Id", 1, domain.InvalidInput},
	} {
		d, err := Run(context.Background(), env, Actor{User: "alice"}, UseCase[RevisionDetail](ShowRevision{Deployment: c.dep, Number: c.n}))
		if domain.TypeOf(err) != c.want {
			t.Errorf("%s %d: %v, want %q", c.dep, c.n, err, c.want)
		}
		if c.want == "" && (d.Number != 2 || d.Status != domain.StatusFailed || d.FailureReason != "boom" || d.Change != nil || d.ChangeUnavailable == "") {
			t.Errorf("%s %d: %+v", c.dep, c.n, d)
		}
	}
}

// WithTargets decides each row's rollback target with the window given:
// the current revision is not one, a FAILED one is not, one outside the
// window is not.
func TestWithTargets(t *testing.T) {
	st := historyStore(t)
	revs, err := (&History{Store: st, Limit: 10}).Run(context.Background(), "d1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := WithTargets(context.Background(), st, "d1", revs, time.Now(), 90*24*time.Hour)
	if err != nil || p.CurrentRevision != 3 || len(p.Deploys) != 3 {
		t.Fatalf("%+v %v", p, err)
	}
	want := map[int]bool{3: false, 2: false, 1: false}
	for _, r := range p.Deploys {
		if r.RollbackTarget.Eligible != want[r.Number] {
			t.Errorf("r%d: target %+v", r.Number, r.RollbackTarget)
		}
	}
	// With a window that reaches r1, r1 is a target.
	p, _ = WithTargets(context.Background(), st, "d1", revs, time.Now(), 365*24*time.Hour)
	if got := p.Deploys[2]; got.Number != 1 || !got.RollbackTarget.Eligible {
		t.Errorf("r1 within a year's window: %+v", got)
	}
}

// Detail is the one classifier: SPEC §3 refusals, a change in progress
// with its ids, a workflow's application error; nothing else is named.
func TestDetailClassifiesOnce(t *testing.T) {
	for _, c := range []struct {
		err  error
		typ  string
		wfID string
	}{
		{domain.Errorf(domain.PermissionDenied, "no"), "PermissionDenied", ""},
		{&ChangeInProgressError{WorkflowID: "change/d1", RunID: "r", DeploymentID: "d1"}, "ChangeInProgress", "change/d1"},
		{temporal.NewNonRetryableApplicationError("plan moved", "PlanChanged", nil), "PlanChanged", ""},
		{errors.New("disk on fire"), "", ""},
	} {
		d := Detail(c.err)
		if d.Type != c.typ || d.WorkflowID != c.wfID {
			t.Errorf("%v: %+v", c.err, d)
		}
	}
}
