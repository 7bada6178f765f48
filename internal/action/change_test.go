package action

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/workflows"
)

// The changes' actions on a fake Temporal client (mocks.Client: a call it
// was not told to expect fails the test) and a store on SQLite: a refusal
// starts nothing; a change starts under change/<deployment> on the
// configured queue; a dry run under its own plan/ id; Temporal's "already
// started" is R14's ChangeInProgress with the running change's ids.
func TestChangesStartOnlyWhatIsPermitted(t *testing.T) {
	ctx := context.Background()
	st := doorStore(t)
	if err := st.AddGrant(ctx, domain.Grant{User: "ed", DeploymentID: "d1", Role: "editor"}); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{TaskQueue: "rewind-q", Namespace: "default"}
	deploy := workflows.DeployInput{DeploymentID: "d1", Type: domain.DeployImageOnly, ImageRef: "reg:5000/airflow:2", Description: "fix"}
	rollback := workflows.RollbackInput{DeploymentID: "d1", Revision: 1, Scope: policy.ScopeAll, Description: "bad deploy"}

	started := func(tc *mocks.Client, id string) {
		run := &mocks.WorkflowRun{}
		run.On("GetID").Return(id).Maybe()
		tc.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
			return o.TaskQueue == "rewind-q" && strings.HasPrefix(o.ID, id)
		}), mock.Anything, mock.Anything).Return(run, nil).Once()
	}
	for _, c := range []struct {
		name   string
		run    func(tc client.Client) (client.WorkflowRun, error)
		expect func(tc *mocks.Client)
		want   domain.ErrorType
	}{
		{"a viewer's deploy starts nothing", func(tc client.Client) (client.WorkflowRun, error) {
			in := deploy
			in.RequestedBy = "vic"
			return (&Deploy{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
		}, func(*mocks.Client) {}, domain.PermissionDenied},
		{"a stranger's rollback of a missing deployment starts nothing and says nothing of it", func(tc client.Client) (client.WorkflowRun, error) {
			in := rollback
			in.RequestedBy, in.DeploymentID = "nobody", "gone"
			return (&Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
		}, func(*mocks.Client) {}, domain.PermissionDenied},
		{"an invalid input starts nothing", func(tc client.Client) (client.WorkflowRun, error) {
			in := deploy
			in.RequestedBy, in.ImageRef = "ed", "not a ref"
			return (&Deploy{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
		}, func(*mocks.Client) {}, domain.InvalidInput},
		{"an editor's deploy starts under change/d1", func(tc client.Client) (client.WorkflowRun, error) {
			in := deploy
			in.RequestedBy = "ed"
			return (&Deploy{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
		}, func(tc *mocks.Client) { started(tc, "change/d1") }, ""},
		{"an editor's rollback plan starts under plan/d1/", func(tc client.Client) (client.WorkflowRun, error) {
			in := rollback
			in.RequestedBy, in.DryRun = "ed", true
			return (&Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
		}, func(tc *mocks.Client) { started(tc, "plan/d1/") }, ""},
		{"a rollback while a change runs is ChangeInProgress", func(tc client.Client) (client.WorkflowRun, error) {
			in := rollback
			in.RequestedBy = "ed"
			_, err := (&Rollback{Config: cfg, Store: st, Temporal: tc, Input: in}).Run(ctx)
			var cip *ChangeInProgressError
			if !errors.As(err, &cip) || cip.WorkflowID != "change/d1" || cip.RunID != "run-9" {
				t.Errorf("in progress: %v", err)
			}
			return nil, err
		}, func(tc *mocks.Client) {
			tc.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
				Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("running", "", "run-9")).Once()
		}, domain.ChangeInProgress},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc := &mocks.Client{}
			c.expect(tc)
			_, err := c.run(tc)
			if domain.ErrorType(ErrorType(err)) != c.want {
				t.Fatalf("%v, want %q", err, c.want)
			}
			tc.AssertExpectations(t)
		})
	}
}
