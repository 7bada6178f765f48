package action

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/uuid/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

type (
	FleetRollbackInput = workflows.FleetRollbackInput
	FleetResult        = workflows.FleetResult
	FleetChild         = workflows.FleetChild
)

// FleetSelector picks the deployments whose *current* revision is the bad
// one: exactly one of its fields is set.
type FleetSelector struct {
	ImageDigest string `json:"imageDigest,omitempty"`
	Commit      string `json:"commit,omitempty"`
	// DeployedFrom/To: the current revision was created in [From, To].
	DeployedFrom *time.Time `json:"deployedFrom,omitempty"`
	DeployedTo   *time.Time `json:"deployedTo,omitempty"`
}

var (
	digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	commitPattern = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// Validate refuses a selector that is not exactly one well-formed criterion.
func (s FleetSelector) Validate() error {
	n := 0
	if s.ImageDigest != "" {
		n++
		if !digestPattern.MatchString(s.ImageDigest) {
			return domain.Errorf(domain.InvalidInput, "image digest %q is not sha256:<64 hex digits>", clip(s.ImageDigest, 80))
		}
	}
	if s.Commit != "" {
		n++
		if !commitPattern.MatchString(s.Commit) {
			return domain.Errorf(domain.InvalidInput, "commit %q is not a commit id (7 to 64 lowercase hex digits)", clip(s.Commit, 80))
		}
	}
	if s.DeployedFrom != nil || s.DeployedTo != nil {
		n++
		if s.DeployedFrom == nil || s.DeployedTo == nil || s.DeployedTo.Before(*s.DeployedFrom) {
			return domain.Errorf(domain.InvalidInput, "deployed-between needs two times T1,T2 with T1 ≤ T2")
		}
	}
	if n != 1 {
		return domain.Errorf(domain.InvalidInput, "a fleet rollback selects by exactly one of image digest, commit or deployed-between")
	}
	return nil
}

func (s FleetSelector) String() string {
	switch {
	case s.ImageDigest != "":
		return "image digest " + s.ImageDigest
	case s.Commit != "":
		return "commit " + s.Commit
	case s.DeployedFrom != nil:
		return "deployed between " + s.DeployedFrom.Format(time.RFC3339) + " and " + s.DeployedTo.Format(time.RFC3339)
	}
	return ""
}

// bad says whether r is a revision the selector names.
func (s FleetSelector) bad(r domain.Revision) bool {
	switch {
	case s.ImageDigest != "":
		return r.ImageDigest == s.ImageDigest
	case s.Commit != "":
		return r.Git != nil && strings.HasPrefix(strings.ToLower(r.Git.Commit), s.Commit)
	case s.DeployedFrom != nil:
		return !r.CreatedAt.Before(*s.DeployedFrom) && !r.CreatedAt.After(*s.DeployedTo)
	}
	return false
}

// FleetRequest is what a fleet rollback was asked for.
type FleetRequest struct {
	Selector    FleetSelector `json:"selector"`
	Deployments []string      `json:"deployments,omitempty"` // empty: every deployment
	Description string        `json:"description"`
	RequestedBy string        `json:"requestedBy"`
	Parallel    int           `json:"parallel,omitempty"`
	Waves       []int         `json:"waves,omitempty"`
	MaxFailure  float64       `json:"maxFailureRate,omitempty"`
	// LockWait bounds the retries of a deployment whose change lock is
	// held (0: workflows.FleetLockWait). Not in the API's body: an
	// operator's and the tests' knob, not a requester's.
	LockWait time.Duration `json:"-"`
}

// FleetPlanItem is one affected deployment the fleet will roll back, with
// its own rollback's plan (from its dry run).
type FleetPlanItem struct {
	DeploymentID string       `json:"deploymentId"`
	Current      int          `json:"current"`
	Target       int          `json:"target"`
	Plan         RollbackPlan `json:"plan"`
}

// FleetRefusal is an affected deployment the fleet will not touch, and why.
type FleetRefusal struct {
	DeploymentID string `json:"deploymentId"`
	Type         string `json:"type"`
	Reason       string `json:"reason"`
}

// FleetPlan is the one plan a person confirms for the whole fleet.
type FleetPlan struct {
	Selector string          `json:"selector"`
	Items    []FleetPlanItem `json:"items"`
	Refused  []FleetRefusal  `json:"refused"`
	FleetID  string          `json:"fleetId,omitempty"`
}

// FleetBody is the API's fleet rollback request: the token is the
// requester; with DryRun the answer is the plan, else the confirmed Plan
// starts.
type FleetBody struct {
	FleetRequest
	DryRun bool       `json:"dryRun,omitempty"`
	Plan   *FleetPlan `json:"plan,omitempty"`
}

// FleetRollback plans and starts a fleet rollback.
type FleetRollback struct {
	Config   *config.Config
	Store    *store.Store
	Temporal client.Client
	Request  FleetRequest
}

func (a *FleetRollback) validate() error {
	r := &a.Request
	if err := r.Selector.Validate(); err != nil {
		return err
	}
	if err := domain.CheckUser(r.RequestedBy); err != nil {
		return domain.Errorf(domain.InvalidInput, "requestedBy: %v", err)
	}
	if len(r.Deployments) > workflows.MaxFleetSize {
		return domain.Errorf(domain.InvalidInput, "at most %d deployments", workflows.MaxFleetSize)
	}
	for _, d := range r.Deployments {
		if err := domain.CheckDeploymentID(d); err != nil {
			return err
		}
	}
	// The workflow's own checks, before anything is planned.
	probe := workflows.FleetRollbackInput{Description: r.Description, RequestedBy: r.RequestedBy, Parallel: r.Parallel, Waves: r.Waves,
		MaxFailureRate: r.MaxFailure, LockWait: r.LockWait, Items: []workflows.FleetItem{{DeploymentID: "x", Revision: 1, ExpectedCurrentRevision: 1, PlanDigest: "x"}}}
	return probe.Validate()
}

// Plan lists the affected deployments — those whose current revision the
// selector names — and for each runs its own rollback dry run (at most
// Parallel at once) to the newest valid target before the bad revision
// that is not bad itself. Those it may not or cannot roll back are
// refused with why: permission first (R10), so a requester without it
// learns nothing more of the deployment.
func (a *FleetRollback) Plan(ctx context.Context, timeout time.Duration) (FleetPlan, error) {
	if err := a.validate(); err != nil {
		return FleetPlan{}, err
	}
	r := a.Request
	plan := FleetPlan{Selector: r.Selector.String(), Items: []FleetPlanItem{}, Refused: []FleetRefusal{}}
	deps, err := a.candidates(ctx)
	if err != nil {
		return plan, err
	}
	grants, err := a.Store.GrantsFor(ctx, r.RequestedBy)
	if err != nil {
		return plan, err
	}
	days := a.Config.RollbackWindowDays
	if in, ok, err := a.Store.PublishedInstallation(ctx); err == nil && ok {
		days = in.RollbackWindowDays
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, max(1, min(r.Parallel, 8)))
	)
	refuse := func(id string, err error) {
		mu.Lock()
		defer mu.Unlock()
		plan.Refused = append(plan.Refused, FleetRefusal{DeploymentID: id, Type: ErrorType(err), Reason: Message(err)})
	}
	for _, d := range deps {
		if d.CurrentRevision == 0 {
			continue
		}
		cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision)
		if err != nil {
			return plan, err
		}
		if !r.Selector.bad(cur) {
			continue
		}
		if err := policy.CheckMayRollBack(r.RequestedBy, policy.Effective(grants, d.ID), d.ID); err != nil {
			refuse(d.ID, err)
			continue
		}
		target, err := a.target(ctx, d.ID, cur, time.Duration(days)*24*time.Hour)
		if err != nil {
			refuse(d.ID, err)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(id string, cur, target int) {
			defer wg.Done()
			defer func() { <-sem }()
			in := RollbackInput{DeploymentID: id, Revision: target, Description: r.Description, RequestedBy: r.RequestedBy, Scope: policy.ScopeAll}
			res, _, err := (&Rollback{Config: a.Config, Store: a.Store, Temporal: a.Temporal, Input: in}).Plan(ctx, timeout)
			if err != nil {
				refuse(id, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			plan.Items = append(plan.Items, FleetPlanItem{DeploymentID: id, Current: res.Plan.Current.Number, Target: target, Plan: res.Plan})
		}(d.ID, cur.Number, target)
	}
	wg.Wait()
	sort.Slice(plan.Items, func(i, j int) bool { return plan.Items[i].DeploymentID < plan.Items[j].DeploymentID })
	sort.Slice(plan.Refused, func(i, j int) bool { return plan.Refused[i].DeploymentID < plan.Refused[j].DeploymentID })
	if len(plan.Items)+len(plan.Refused) > workflows.MaxFleetSize {
		return plan, domain.Errorf(domain.InvalidInput, "%d deployments are affected, more than a fleet's %d: narrow it with --deployments", len(plan.Items)+len(plan.Refused), workflows.MaxFleetSize)
	}
	return plan, nil
}

// candidates are the deployments named, or every deployment.
func (a *FleetRollback) candidates(ctx context.Context) ([]domain.Deployment, error) {
	if len(a.Request.Deployments) > 0 {
		out := []domain.Deployment{}
		seen := map[string]bool{}
		for _, id := range a.Request.Deployments {
			if seen[id] {
				continue
			}
			seen[id] = true
			d, err := a.Store.GetDeployment(ctx, id)
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
		return out, nil
	}
	out, after := []domain.Deployment{}, ""
	for {
		page, err := a.Store.ListDeployments(ctx, after, 500)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 500 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// target is the newest revision before the current one that is a valid
// rollback target now (policy.Target: DEPLOYED, inside the window, above
// the floor) and is not itself named by the selector.
func (a *FleetRollback) target(ctx context.Context, id string, cur domain.Revision, window time.Duration) (int, error) {
	revs, err := a.Store.ListRevisions(ctx, id, MaxHistoryLimit, 0)
	if err != nil {
		return 0, err
	}
	page, err := WithTargets(ctx, a.Store, id, revs, time.Now(), window)
	if err != nil {
		return 0, err
	}
	for _, row := range page.Deploys { // newest first
		if row.Number < cur.Number && row.RollbackTarget.Eligible && !a.Request.Selector.bad(row.Revision) &&
			(row.ImageDigest != cur.ImageDigest || row.DagBundleDigest != cur.DagBundleDigest) {
			return row.Number, nil
		}
	}
	return 0, domain.Errorf(domain.NotFound, "no valid rollback target before revision %d that the selector does not name", cur.Number)
}

// Run starts the fleet for a confirmed plan, signed for the requester
// (R18); it returns the fleet's run.
func (a *FleetRollback) Run(ctx context.Context, plan FleetPlan) (client.WorkflowRun, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	r := a.Request
	// A confirmed plan may come from a client (the API): each item must
	// still be a deployment the selector names now, from the revision its
	// plan started at, that the requester may roll back. (Each child checks
	// every rule again, R15's digest included.)
	grants, err := a.Store.GrantsFor(ctx, r.RequestedBy)
	if err != nil {
		return nil, err
	}
	for _, it := range plan.Items {
		if err := policy.CheckMayRollBack(r.RequestedBy, policy.Effective(grants, it.DeploymentID), it.DeploymentID); err != nil {
			return nil, err
		}
		d, err := a.Store.GetDeployment(ctx, it.DeploymentID)
		if err != nil {
			return nil, err
		}
		cur, err := a.Store.GetRevision(ctx, d.ID, d.CurrentRevision)
		if err != nil || cur.Number != it.Plan.Current.Number || !r.Selector.bad(cur) {
			return nil, domain.Errorf(domain.PlanChanged, "deployment %s no longer runs the revision %d the fleet's plan confirmed; plan again", it.DeploymentID, it.Plan.Current.Number)
		}
	}
	in := workflows.FleetRollbackInput{Description: r.Description, RequestedBy: r.RequestedBy, Selector: plan.Selector,
		Parallel: r.Parallel, Waves: r.Waves, MaxFailureRate: r.MaxFailure, LockWait: r.LockWait}
	for _, it := range plan.Items {
		in.Items = append(in.Items, workflows.FleetItem{DeploymentID: it.DeploymentID, Revision: it.Target,
			ExpectedCurrentRevision: it.Plan.Current.Number, PlanDigest: it.Plan.Digest, Scope: policy.ScopeAll})
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	nonce, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	id := workflows.FleetWorkflowID(nonce.String())
	plan.FleetID = id
	signedIn, err := signed(a.Config, in, workflows.FleetRollbackWorkflowName, r.RequestedBy, "", id)
	if err != nil {
		return nil, err
	}
	return a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                a.Config.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		StaticSummary:            clip(fmt.Sprintf("Fleet rollback of %d deployments (%s) — %s", len(in.Items), plan.Selector, r.Description), 200),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrKind.ValueSet(workflows.KindFleet),
			workflows.AttrRequestedBy.ValueSet(r.RequestedBy)),
	}, workflows.FleetRollbackWorkflowName, signedIn)
}

// FleetProgress reads a fleet's children as they stand now; only its
// requester may (others are told it does not exist).
func FleetProgress(ctx context.Context, c client.Client, workflowID, user string) (FleetResult, error) {
	var res FleetResult
	if !strings.HasPrefix(workflowID, "fleet/") || len(workflowID) > 100 {
		return res, domain.Errorf(domain.InvalidInput, "a fleet's id is fleet/<uuid>")
	}
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.FleetQuery)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return res, domain.Errorf(domain.NotFound, "no fleet rollback %s", workflowID)
		}
		return res, err
	}
	if err := v.Get(&res); err != nil {
		return res, err
	}
	if res.RequestedBy != user {
		return FleetResult{}, domain.Errorf(domain.NotFound, "no fleet rollback %s", workflowID)
	}
	return res, nil
}
