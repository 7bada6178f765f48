package activities

import (
	"context"
	"sort"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/runtime"
)

// A rollback's plan needs two answers only the deployment's own Engine can
// give (issue 27): whether the target image is still there by its digest
// (cached on the host, or served by its registry) and which workers run
// now, which R11 drains or kills. A store activity on the shared queue
// reads whichever Engine its worker drives, so during a registry outage it
// looked for the image on the wrong host, and its worker list (part of the
// plan's digest) depended on which worker answered. The workflow asks the
// host itself with InspectRollback, then ConfirmRollbackPlan puts the
// answer into the plan, digests and confirms it (R15).

// RollbackHostCheck is what a plan asks the deployment's host. ValidateRollback
// sets it on a plan that needs the host's answer before its digest.
type RollbackHostCheck struct {
	DeploymentID string `json:"deploymentId"`
	ImageRef     string `json:"imageRef"`
	// ImageDigest is the target's recorded digest; empty, no image check.
	ImageDigest string `json:"imageDigest,omitempty"`
}

// RollbackHostFacts is the host's answer.
type RollbackHostFacts struct {
	Host string `json:"host"`
	// ImageLocal: the host's Engine holds the target by digest, so the
	// rollback needs no registry; false: the registry serves it.
	ImageLocal bool `json:"imageLocal"`
	// Workers are the running active worker containers, sorted.
	Workers []string `json:"workers"`
}

// InspectRollback answers a plan's RollbackHostCheck from this host's
// Engine. It changes nothing. A registry that no longer serves the digest
// (and an Engine without it) is DigestMismatch, a registry that refuses the
// credentials RegistryAuth; an unreachable registry is retried, bounded by
// the workflow.
func (a *HostActivities) InspectRollback(ctx context.Context, req RollbackHostCheck) (RollbackHostFacts, error) {
	stop := heartbeatWhile(ctx, "checking "+req.ImageRef+" and the running workers")
	defer stop()
	facts := RollbackHostFacts{Host: a.host(), Workers: []string{}}
	d, err := a.Store.GetDeployment(ctx, req.DeploymentID)
	if err != nil {
		return facts, refuse(err)
	}
	if req.ImageDigest != "" {
		if facts.ImageLocal, err = a.Runtime.Locate(ctx, req.ImageRef, req.ImageDigest); err != nil {
			return facts, refuse(err)
		}
	}
	cs, err := a.Runtime.Containers(ctx, d.ID)
	if err != nil {
		return facts, err
	}
	for _, ct := range cs {
		if ct.Role == "active" && ct.State == "running" && runtime.IsWorker(componentOf(d, ct.Component)) {
			facts.Workers = append(facts.Workers, ct.Name)
		}
	}
	sort.Strings(facts.Workers)
	return facts, nil
}

func (a *HostActivities) host() string {
	if a.Config != nil && a.Config.Host != "" {
		return a.Config.Host
	}
	return domain.DefaultHost
}

// ConfirmRollback is a plan ValidateRollback left for its host's answer.
type ConfirmRollback struct {
	Check RollbackCheck      `json:"check"`
	Plan  RollbackPlan       `json:"plan"`
	Facts *RollbackHostFacts `json:"facts,omitempty"`
}

// ConfirmRollbackPlan completes a plan with what its host answered: the
// workers R11 kills (a downgrade) or drains (otherwise), then the digest,
// which therefore depends only on the store and the deployment's own
// Engine, never on which worker planned; then refuses a plan that is not
// the one the requester confirmed (R15). It reads and records nothing.
func (a *StoreActivities) ConfirmRollbackPlan(ctx context.Context, req ConfirmRollback) (RollbackPlan, error) {
	p := req.Plan
	p.HostCheck, p.WorkersKilled, p.WorkersDrained = nil, nil, nil
	if f := req.Facts; f != nil {
		for _, w := range f.Workers {
			if p.Downgrade {
				p.WorkersKilled = append(p.WorkersKilled, w)
			} else {
				p.WorkersDrained = append(p.WorkersDrained, w)
			}
		}
		if p.ToImageDigest != "" {
			p.TargetImageOn = "the registry (host " + f.Host + " does not hold it)"
			if f.ImageLocal {
				p.TargetImageOn = "host " + f.Host + " (cached: no registry needed)"
			}
		}
	}
	p.Digest = p.ComputeDigest()
	return p, refuse(checkConfirmed(req.Check, p))
}
