package api

import (
	"net/http"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// fleetRollback is POST /api/v1/fleet-rollbacks: with dryRun, the fleet's
// one plan (every affected deployment's own dry run, and those refused
// with why); else the confirmed plan the body carries starts, under the
// token's user, each item checked again on current data (action.Run) and
// by its child rollback (R15).
func (s *Server) fleetRollback(w http.ResponseWriter, r *http.Request, user string) {
	var body action.FleetBody
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	body.FleetRequest.RequestedBy = user
	act := &action.FleetRollback{Config: s.opts.Config, Store: s.opts.Store, Temporal: s.opts.Temporal, Request: body.FleetRequest}
	if body.DryRun {
		plan, err := act.Plan(r.Context(), s.opts.PlanTimeout)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, plan)
		return
	}
	if body.Plan == nil || len(body.Plan.Items) == 0 {
		writeError(w, s.log, domain.Errorf(domain.InvalidInput, "a fleet rollback starts a confirmed plan: send the plan a dry run returned"))
		return
	}
	run, err := act.Run(r.Context(), *body.Plan)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started{WorkflowID: run.GetID(), RunID: run.GetRunID()})
}

// fleet is GET /api/v1/fleet-rollbacks/{fleetId}: the fleet's children as
// they stand, to its requester only.
func (s *Server) fleet(w http.ResponseWriter, r *http.Request, user string) {
	res, err := action.FleetProgress(r.Context(), s.opts.Temporal, "fleet/"+r.PathValue("fleetId"), user)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
