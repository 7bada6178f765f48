package workflows

import "go.temporal.io/sdk/workflow"

// startsTogether is the version from which a run makes fewer workflow task
// round trips for its bookkeeping:
//   - it no longer waits for each notification or export child to start
//     before going on: the start goes with its next commands, and the run
//     awaits every pending start together at its end (settle); each wait
//     cost a round trip, about 30 ms on the dev server;
//   - a step that succeeds has its end exported with the next step's
//     start, or by the export child at the end, rather than by an activity
//     of its own (a failed step's still goes at once). The
//     last step's was still running when the run ended, and the server
//     failed the run's last workflow task (UnhandledCommand) for the event
//     of its completion, and again for each child that finished meanwhile:
//     two or three round trips more.
//
// Histories recorded before it replay as they ran.
const startsTogether = "starts-together"

// pendingChild is a started child whose start was not awaited yet.
type pendingChild struct {
	f       workflow.ChildWorkflowFuture
	failure string
	kv      []any
}

// startChild follows the start of a child that outlives this run (parent
// close policy ABANDON): it notes the start since startsTogether, and
// waits for it before.
func (t *tracker) startChild(ctx workflow.Context, f workflow.ChildWorkflowFuture, failure string, kv ...any) {
	t.pending = append(t.pending, pendingChild{f: f, failure: failure, kv: kv})
	if !t.together {
		t.settle(ctx)
	}
}

// settle waits until every pending child has started (or failed to): the
// server never starts a child whose start it had not recorded when the
// parent closed, whatever its close policy, so a run must not end before.
// A child that could not start is logged; it never fails the change.
func (t *tracker) settle(ctx workflow.Context) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	for _, c := range t.pending {
		if err := c.f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			t.logger.Error(c.failure, append(c.kv, "error", err)...)
		}
	}
	t.pending = nil
}
