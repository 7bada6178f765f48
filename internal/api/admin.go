package api

import (
	"net/http"
	"strings"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// The administration use cases are routes in usecases.go; what is left
// here reads the request itself.

// presentedTokenID is the public id of the bearer token the request was
// authenticated with.
func presentedTokenID(r *http.Request) string {
	_, plain, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if m := tokenPattern.FindStringSubmatch(strings.TrimSpace(plain)); m != nil {
		return m[1]
	}
	return ""
}

// applyConfig recreates a deployment's containers with its stored
// configuration (`deployment update --apply`). Like a deploy it needs
// deployment.images.push, checked here before anything starts; the
// workflow checks it again.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		writeError(w, s.log, err)
		return
	}
	// Permission before the deployment is looked up (issue 26).
	grants, err := s.opts.Store.GrantsFor(r.Context(), user)
	if err == nil {
		err = policy.CheckDeployPermission(user, policy.Effective(grants, id), id, domain.DeployImageOnly, false)
	}
	var d domain.Deployment
	if err == nil {
		d, err = s.opts.Store.GetDeployment(r.Context(), id)
	}
	if err == nil {
		err = policy.CheckDeploy(user, policy.Effective(grants, id), d, domain.DeployImageOnly, false)
	}
	if err == nil {
		err = decodeBody(r, &struct{}{})
	}
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	run, err := (&action.ApplyConfig{Config: s.opts.Config, Temporal: s.opts.Temporal, Input: action.ApplyConfigInput{DeploymentID: id, RequestedBy: user}}).Run(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started{WorkflowID: run.GetID(), RunID: run.GetRunID(), ProgressURL: progressURL(run.GetID(), run.GetRunID())})
}
