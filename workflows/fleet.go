package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

const (
	FleetRollbackWorkflowName = activities.FleetRollbackWorkflowName
	// FleetQuery returns a FleetProgress (the fleet has no steps of its own:
	// its progress is its children's).
	FleetQuery = "fleet"
	KindFleet  = "fleet"
	// MaxFleetSize bounds a fleet so that one run's history stays far below
	// Temporal's limits without continue-as-new: a child costs about a
	// dozen events (a signing activity, the start, the end, a few lock
	// retries), so 500 stay under 10,000.
	MaxFleetSize = 500
	// MaxFleetParallel bounds --parallel: each child holds a worker's slots.
	MaxFleetParallel = 32
	// FleetLockWait is how long a deployment whose change lock is held is
	// retried before it is reported as not rolled back (never skipped
	// silently). The fleet holds no lock while it waits.
	FleetLockWait = 10 * time.Minute
	// MaxFleetLockWait bounds a requested lock wait: a fleet is not meant
	// to sit for days behind one deployment's change.
	MaxFleetLockWait = 24 * time.Hour
)

// FleetWorkflowID is the id of one fleet rollback.
func FleetWorkflowID(nonce string) string { return "fleet/" + nonce }

// FleetItem is one deployment of a confirmed fleet plan: the target its own
// dry run chose and what that plan's digest and starting revision were, so
// that its child rollback runs what was confirmed or is refused with
// PlanChanged (R15).
type FleetItem struct {
	DeploymentID            string       `json:"deploymentId"`
	Revision                int          `json:"revision"`
	ExpectedCurrentRevision int          `json:"expectedCurrentRevision"`
	PlanDigest              string       `json:"planDigest"`
	Scope                   policy.Scope `json:"scope,omitempty"`
}

// FleetRollbackInput is FleetRollbackWorkflow's input.
type FleetRollbackInput struct {
	Description string      `json:"description"`
	RequestedBy string      `json:"requestedBy"`
	Selector    string      `json:"selector"`
	Items       []FleetItem `json:"items"`
	Parallel    int         `json:"parallel,omitempty"`
	// Waves are the sizes of the successive waves (0: all the rest); empty
	// is one wave of everything.
	Waves []int `json:"waves,omitempty"`
	// MaxFailureRate stops the fleet after a wave whose share of failed
	// rollbacks exceeds it (0 to 1; default 0.5).
	MaxFailureRate float64 `json:"maxFailureRate,omitempty"`
	// LockWait bounds how long a deployment whose change lock is held is
	// retried before it is reported (0: FleetLockWait).
	LockWait           time.Duration `json:"lockWait,omitempty"`
	RequesterSignature string        `json:"requesterSignature,omitempty"`
}

// Validate refuses what a hostile caller could send.
func (in *FleetRollbackInput) Validate() error {
	if err := domain.CheckUser(in.RequestedBy); err != nil {
		return domain.Errorf(domain.InvalidInput, "requestedBy: %v", err)
	}
	if d := strings.TrimSpace(in.Description); d == "" || len(in.Description) > 400 {
		return domain.Errorf(domain.InvalidInput, "a fleet rollback needs a description of 1-400 characters (its children's name the fleet too, R2)")
	}
	if len(in.Items) == 0 || len(in.Items) > MaxFleetSize {
		return domain.Errorf(domain.InvalidInput, "a fleet rollback takes 1 to %d deployments, not %d", MaxFleetSize, len(in.Items))
	}
	seen := map[string]bool{}
	for _, it := range in.Items {
		if err := domain.CheckDeploymentID(it.DeploymentID); err != nil {
			return err
		}
		if seen[it.DeploymentID] {
			return domain.Errorf(domain.InvalidInput, "deployment %s is twice in the fleet", it.DeploymentID)
		}
		seen[it.DeploymentID] = true
		if it.Revision < 1 || it.ExpectedCurrentRevision < 1 || it.PlanDigest == "" {
			return domain.Errorf(domain.InvalidInput, "deployment %s: a fleet runs confirmed plans only (revision, expectedCurrentRevision, planDigest)", it.DeploymentID)
		}
	}
	if in.Parallel == 0 {
		in.Parallel = 4
	}
	if in.Parallel < 1 || in.Parallel > MaxFleetParallel {
		return domain.Errorf(domain.InvalidInput, "parallel must be 1 to %d, not %d", MaxFleetParallel, in.Parallel)
	}
	if len(in.Waves) > 20 {
		return domain.Errorf(domain.InvalidInput, "at most 20 waves")
	}
	for i, w := range in.Waves {
		if w < 0 || (w == 0 && i != len(in.Waves)-1) {
			return domain.Errorf(domain.InvalidInput, "waves are positive sizes, with \"rest\" only last")
		}
	}
	if in.MaxFailureRate == 0 {
		in.MaxFailureRate = 0.5
	}
	if in.MaxFailureRate < 0 || in.MaxFailureRate > 1 {
		return domain.Errorf(domain.InvalidInput, "max failure rate must be between 0 and 1")
	}
	// No default is written into the input: the digest of an input from
	// before LockWait existed (signed without it) stays what was signed.
	if in.LockWait != 0 && (in.LockWait < time.Second || in.LockWait > MaxFleetLockWait) {
		return domain.Errorf(domain.InvalidInput, "lock wait must be 1s to %s, not %s", MaxFleetLockWait, in.LockWait)
	}
	return nil
}

func (in FleetRollbackInput) lockWait() time.Duration {
	if in.LockWait == 0 {
		return FleetLockWait
	}
	return in.LockWait
}

// Digest of the fleet's canonical input, which its signature covers.
func (in FleetRollbackInput) Digest() string {
	in.RequesterSignature = ""
	_ = in.Validate()
	return canonicalDigest(in)
}

// FleetChildDescription is the description each child's revision gets: it
// names the fleet, which is how the history links a revision to its fleet.
func FleetChildDescription(fleetID, description string) string {
	return "fleet " + strings.TrimPrefix(fleetID, "fleet/") + ": " + description
}

// Fleet item states.
const (
	FleetPending    = "pending"
	FleetWaiting    = "waiting-for-lock"
	FleetRunning    = "running"
	FleetRolledBack = "rolled-back"
	FleetFailed     = "failed"
	FleetNotStarted = "not-started"
)

// FleetChild is one deployment's outcome, as it is known so far.
type FleetChild struct {
	DeploymentID string `json:"deploymentId"`
	Target       int    `json:"target"`
	State        string `json:"state"`
	WorkflowID   string `json:"workflowId,omitempty"`
	RunID        string `json:"runId,omitempty"`
	Revision     int    `json:"revision,omitempty"`
	ImageDigest  string `json:"imageDigest,omitempty"`
	ErrorType    string `json:"errorType,omitempty"`
	Error        string `json:"error,omitempty"`
	Wave         int    `json:"wave"`
	LockWaits    int    `json:"lockWaits,omitempty"`
}

// FleetResult is the fleet's result and its query's answer: every child,
// with the workflow and run ids of its rollback (the fleet's history entry
// links its children this way; each child's revision names the fleet in
// its description).
type FleetResult struct {
	FleetID     string       `json:"fleetId"`
	Description string       `json:"description"`
	RequestedBy string       `json:"requestedBy"`
	Children    []FleetChild `json:"children"`
	Done        bool         `json:"done"`
	Stopped     string       `json:"stopped,omitempty"`
	Cancelled   bool         `json:"cancelled,omitempty"`
}

// Count returns how many children are in state.
func (r FleetResult) Count(state string) int {
	n := 0
	for _, c := range r.Children {
		if c.State == state {
			n++
		}
	}
	return n
}

// FleetRollbackWorkflow rolls many deployments back, each by its own
// ordinary RollbackWorkflow started as a child under change/<deployment>:
// the lock (R14), the confirmed plan (R15), the signature (R22) and every
// rule hold per deployment as for a single rollback. At most Parallel run
// at once; with waves, a wave whose failure rate exceeds MaxFailureRate
// stops the fleet before the next.
func FleetRollbackWorkflow(ctx workflow.Context, in FleetRollbackInput) (*FleetResult, error) {
	if err := in.Validate(); err != nil {
		return nil, asApplicationError(err)
	}
	info := workflow.GetInfo(ctx)
	f := &fleet{in: in, res: FleetResult{FleetID: info.WorkflowExecution.ID, Description: in.Description, RequestedBy: in.RequestedBy}}
	waves := fleetWaves(len(in.Items), in.Waves)
	for i, it := range in.Items {
		f.res.Children = append(f.res.Children, FleetChild{DeploymentID: it.DeploymentID, Target: it.Revision, State: FleetPending, Wave: waveOf(waves, i)})
	}
	if err := workflow.SetQueryHandler(ctx, FleetQuery, func() (FleetResult, error) { return f.res, nil }); err != nil {
		return nil, err
	}
	f.show(ctx)
	sctx := workflow.WithActivityOptions(ctx, storeOptions)
	if err := workflow.ExecuteActivity(sctx, acts.VerifyFleet, activities.FleetVerify{RequestedBy: in.RequestedBy,
		Signature: in.RequesterSignature, InputDigest: in.Digest()}).Get(ctx, &f.verified); err != nil {
		return nil, err
	}
	start := 0
	for w, size := range waves {
		idx := []int{}
		for i := start; i < start+size; i++ {
			idx = append(idx, i)
		}
		start += size
		failed := f.runWave(ctx, idx)
		if ctx.Err() != nil {
			f.res.Cancelled = true
			break
		}
		if w < len(waves)-1 && float64(failed) > in.MaxFailureRate*float64(len(idx)) {
			f.res.Stopped = fmt.Sprintf("wave %d: %d of %d rollbacks failed, above the maximum failure rate %.2f; later waves not started", w+1, failed, len(idx), in.MaxFailureRate)
			break
		}
	}
	for i := range f.res.Children {
		if c := &f.res.Children[i]; c.State == FleetPending {
			c.State, c.Error = FleetNotStarted, "not started: "+map[bool]string{true: "the fleet was cancelled", false: f.res.Stopped}[f.res.Cancelled]
		}
	}
	f.res.Done = true
	f.show(ctx)
	return &f.res, nil
}

type fleet struct {
	in       FleetRollbackInput
	res      FleetResult
	verified bool
}

// fleetWaves splits n deployments into wave sizes (the last takes the rest).
func fleetWaves(n int, spec []int) []int {
	out, left := []int{}, n
	for _, w := range spec {
		if left == 0 {
			break
		}
		if w == 0 || w > left {
			w = left
		}
		out, left = append(out, w), left-w
	}
	if left > 0 {
		out = append(out, left)
	}
	return out
}

func waveOf(waves []int, i int) int {
	for w, size := range waves {
		if i < size {
			return w + 1
		}
		i -= size
	}
	return len(waves)
}

// runWave runs the children idx with at most Parallel at once and returns
// how many failed.
func (f *fleet) runWave(ctx workflow.Context, idx []int) int {
	sem := workflow.NewSemaphore(ctx, int64(f.in.Parallel))
	wg := workflow.NewWaitGroup(ctx)
	for _, i := range idx {
		if sem.Acquire(ctx, 1) != nil {
			break // cancelled: the rest are not started
		}
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer sem.Release(1)
			f.runChild(ctx, i)
		})
	}
	// Children already started are waited for even when the fleet is
	// cancelled: their own outcome is what the fleet reports.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	wg.Wait(dctx)
	failed := 0
	for _, i := range idx {
		if f.res.Children[i].State == FleetFailed {
			failed++
		}
	}
	return failed
}

func (f *fleet) runChild(ctx workflow.Context, i int) {
	it, c := f.in.Items[i], &f.res.Children[i]
	fleetID := f.res.FleetID
	child := RollbackInput{DeploymentID: it.DeploymentID, Revision: it.Revision, Description: FleetChildDescription(fleetID, f.in.Description),
		RequestedBy: f.in.RequestedBy, Scope: it.Scope, ExpectedCurrentRevision: it.ExpectedCurrentRevision, PlanDigest: it.PlanDigest}
	id := ChangeWorkflowID(it.DeploymentID)
	began := workflow.Now(ctx)
	backoff := 5 * time.Second
	for {
		if ctx.Err() != nil {
			return // still pending: reported as not started
		}
		in := child
		in.RequesterSignature = ""
		sctx := workflow.WithActivityOptions(ctx, storeOptions)
		if err := workflow.ExecuteActivity(sctx, acts.SignFleetChild, activities.FleetChildClaim{FleetVerified: f.verified,
			RequestedBy: in.RequestedBy, DeploymentID: in.DeploymentID, InputDigest: in.Digest()}).Get(ctx, &in.RequesterSignature); err != nil {
			if ctx.Err() != nil {
				return
			}
			f.fail(ctx, c, err)
			return
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            id,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			// Cancelling the fleet asks each running child to cancel; a
			// rollback past its point of no return (R16) finishes anyway,
			// and the fleet waits for and reports what each did.
			ParentClosePolicy:   enumspb.PARENT_CLOSE_POLICY_REQUEST_CANCEL,
			WaitForCancellation: true,
			StaticSummary:       clipSummary(RollbackSummary(in)),
			TypedSearchAttributes: temporal.NewSearchAttributes(AttrDeployment.ValueSet(in.DeploymentID),
				AttrKind.ValueSet(KindRollback), AttrRequestedBy.ValueSet(in.RequestedBy)),
		})
		fut := workflow.ExecuteChildWorkflow(cctx, RollbackWorkflowName, in)
		var exec workflow.Execution
		err := fut.GetChildWorkflowExecution().Get(ctx, &exec)
		var started *temporal.ChildWorkflowExecutionAlreadyStartedError
		if errors.As(err, &started) {
			// Another change holds change/<deployment> (R14): retried with
			// backoff up to FleetLockWait, then reported.
			c.LockWaits++
			waited := workflow.Now(ctx).Sub(began)
			if waited >= f.in.lockWait() {
				c.State, c.ErrorType = FleetFailed, string(domain.ChangeInProgress)
				c.Error = fmt.Sprintf("another change held %s for %s (%d attempts); not rolled back", id, f.in.lockWait(), c.LockWaits)
				f.show(ctx)
				return
			}
			c.State = FleetWaiting
			f.show(ctx)
			// The last wait ends at the bound, so the last attempt is made
			// there rather than up to a minute past it.
			if workflow.Sleep(ctx, min(backoff, f.in.lockWait()-waited)) != nil {
				c.State = FleetPending
				return
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		if err != nil {
			f.fail(ctx, c, err)
			return
		}
		c.State, c.WorkflowID, c.RunID = FleetRunning, exec.ID, exec.RunID
		f.show(ctx)
		var res RollbackResult
		if err := fut.Get(ctx, &res); err != nil {
			f.fail(ctx, c, err)
			return
		}
		c.State = FleetRolledBack
		if res.Revision != nil {
			c.Revision, c.ImageDigest = res.Revision.Number, res.Revision.ImageDigest
		}
		f.show(ctx)
		return
	}
}

func (f *fleet) fail(ctx workflow.Context, c *FleetChild, err error) {
	c.State, c.Error = FleetFailed, reason(err)
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		c.ErrorType = ae.Type()
	} else if temporal.IsCanceledError(err) {
		c.ErrorType = "Cancelled"
	}
	f.show(ctx)
}

// show puts the children's states in the Temporal UI's Current Details.
func (f *fleet) show(ctx workflow.Context) {
	var b strings.Builder
	counts := map[string]int{}
	for _, c := range f.res.Children {
		counts[c.State]++
	}
	states := []string{}
	for s := range counts {
		states = append(states, s)
	}
	sort.Strings(states)
	fmt.Fprintf(&b, "**Fleet rollback** — %s\n\n", mdCell(f.in.Description))
	for _, s := range states {
		fmt.Fprintf(&b, "%s: %d  ", s, counts[s])
	}
	b.WriteString("\n\n| deployment | wave | target | state | revision | detail |\n|---|---|---|---|---|---|\n")
	for _, c := range f.res.Children {
		rev := ""
		if c.Revision > 0 {
			rev = fmt.Sprint(c.Revision)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %s | %s | %s |\n", c.DeploymentID, c.Wave, c.Target, c.State, rev, mdCell(c.Error))
	}
	workflow.SetCurrentDetails(ctx, b.String())
}

func clipSummary(s string) string {
	if len(s) <= 200 {
		return s
	}
	return strings.TrimSpace(s[:200]) + "…"
}
