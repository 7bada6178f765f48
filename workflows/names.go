// Package workflows holds rewind's Temporal workflows. Their names, ids,
// inputs, queries and search attributes are public (SPEC §3): scripts and
// the Temporal CLI depend on them, so they are added to, never renamed.
package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/domain"
)

const (
	DeployWorkflowName   = "DeployWorkflow"
	RollbackWorkflowName = "RollbackWorkflow"
	CleanupWorkflowName  = "CleanupWorkflow"

	// ProgressQuery returns a Progress.
	ProgressQuery = "progress"
)

// ChangeWorkflowID is the id deploys and rollbacks of one deployment share,
// so Temporal itself refuses a second change while one runs (R14).
func ChangeWorkflowID(deploymentID string) string { return "change/" + deploymentID }

// PlanWorkflowID is the id of one rollback dry run. Plans change nothing,
// so they never hold the change id: reading a plan, or a client looping
// dry runs, cannot hold off a real rollback (R15: R14 applies to changes).
func PlanWorkflowID(deploymentID, nonce string) string { return "plan/" + deploymentID + "/" + nonce }

// Search attributes of SPEC §3, registered by the worker at start.
var (
	AttrDeployment  = temporal.NewSearchAttributeKeyKeyword("RewindDeployment")
	AttrKind        = temporal.NewSearchAttributeKeyKeyword("RewindKind")
	AttrRevision    = temporal.NewSearchAttributeKeyInt64("RewindRevision")
	AttrRequestedBy = temporal.NewSearchAttributeKeyKeyword("RewindRequestedBy")
	// AttrRequestedByVerified is added to SPEC §3's list (R18): whether
	// RewindRequestedBy was signed by rewind's own clients.
	AttrRequestedByVerified = temporal.NewSearchAttributeKeyBool("RewindRequestedByVerified")
)

// Kinds, the values of RewindKind.
const (
	KindDeploy   = "deploy"
	KindRollback = "rollback"
	KindCleanup  = "cleanup"
)

// DeploymentOfWorkflow is the deployment a change, plan or bake id names
// (change/<id>, plan/<id>/<nonce>, bake/<id>), or "" for any other id.
func DeploymentOfWorkflow(workflowID string) string {
	for _, prefix := range []string{"change/", "plan/", "bake/"} {
		if rest, ok := strings.CutPrefix(workflowID, prefix); ok {
			dep := rest
			if prefix == "plan/" {
				dep, _, ok = strings.Cut(rest, "/")
				if !ok {
					return ""
				}
			}
			if domain.CheckDeploymentID(dep) == nil {
				return dep
			}
		}
	}
	return ""
}
