package action

import (
	"context"

	"github.com/rewindhq/rewind/activities"
	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/metadb"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// The contracts the CLI and the API exchange with the layers below action,
// named here so that neither reaches past it (issue 29): a change's input
// and result as its workflow takes and returns them, what the store keeps
// of tokens and webhooks, a heartbeat's details, a rollback's plan.
type (
	DeployInput       = workflows.DeployInput
	DeployResult      = workflows.DeployResult
	RollbackInput     = workflows.RollbackInput
	RollbackResult    = workflows.RollbackResult
	ApplyConfigInput  = workflows.ApplyConfigInput
	ApplyConfigResult = workflows.ApplyConfigResult
	CleanupResult     = workflows.CleanupResult
	// ChangeProgress is what a change reports of itself (its steps).
	ChangeProgress = workflows.Progress
	Heartbeat      = activities.Heartbeat
	RollbackPlan   = activities.RollbackPlan
	SwapReport     = activities.SwapReport
	Token          = store.Token
	Webhook        = store.Webhook
	// Store is the deployments' database, opened by the composition root.
	Store = store.Store
	// BundleStore keeps DAG bundles by digest; BundleDiff compares two.
	BundleStore = bundle.Store
	BundleDiff  = bundle.Diff
)

// StepPending is a change's step that has not started; KindDeploy and
// KindRollback are the RewindKind search attribute's values of changes.
const (
	StepPending  = workflows.StepPending
	KindDeploy   = workflows.KindDeploy
	KindRollback = workflows.KindRollback
)

// DeploymentOfWorkflow is the deployment a change's or plan's workflow id
// names, "" for any other.
func DeploymentOfWorkflow(workflowID string) string {
	return workflows.DeploymentOfWorkflow(workflowID)
}

// ChangeWorkflowID is the id every deploy and rollback of a deployment runs
// under (its change lock).
func ChangeWorkflowID(deploymentID string) string { return workflows.ChangeWorkflowID(deploymentID) }

// Guard describes a deployment's rollback guard for history views
// ("guarded since #7 …") while its current revision is a rollback, or "".
func Guard(r domain.Revision) string { return activities.Guard(r) }

// RedactURL masks the password of a database URL for display.
func RedactURL(u string) string { return metadb.Redact(u) }

// PackDags packs a DAGs directory into a bundle and stores it: its digest
// and size.
func PackDags(ctx context.Context, st BundleStore, dir string) (string, int64, error) {
	return bundle.PackTo(ctx, st, dir)
}

// OpenStore opens the deployments' database at url.
func OpenStore(ctx context.Context, url string) (*Store, error) { return store.Open(ctx, url) }

// Identity is whoami's answer: who the caller is, and what it may do.
type Identity struct {
	User     string         `json:"user"`
	Token    *store.Token   `json:"token,omitempty"`
	Admin    bool           `json:"admin"`
	Grants   []domain.Grant `json:"grants"`
	Verified bool           `json:"verified"` // proven by a token, not claimed
}
