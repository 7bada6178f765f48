package api

import (
	"net/http"
	"regexp"

	"github.com/rewindhq/rewind/internal/action"
)

// A fleet rollback on the page: each child's revision on its Deploy
// History links the fleet it belongs to, and the fleet's page lists every
// child with links to its deployment's history, its revision and its
// change's progress.

// fleetOfRevision reads the fleet a revision was rolled back by from its
// description (workflows.FleetChildDescription: "fleet <uuid>: …"); only
// a rollback made under the deployment's change id can be a fleet's child.
// The link it makes shows nothing to anyone but the fleet's requester
// (action.FleetProgress), so a description that merely looks like one
// discloses nothing.
var fleetDescription = regexp.MustCompile(`^fleet ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}): `)

func fleetOfRevision(r row) string {
	if r.RollbackOf == 0 || r.WorkflowID != action.ChangeWorkflowID(r.DeploymentID) {
		return ""
	}
	if m := fleetDescription.FindStringSubmatch(r.Description); m != nil {
		return m[1]
	}
	return ""
}

type fleetView struct {
	view
	ID    string
	Fleet action.FleetResult
}

// fleet is GET /fleets/{id}: the fleet's children as they stand.
func (p *page) fleet(w http.ResponseWriter, r *http.Request, ss session) {
	id := r.PathValue("id")
	res, err := action.FleetProgress(r.Context(), p.s.opts.Temporal, "fleet/"+id, ss.User)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	p.render(w, http.StatusOK, "fleet", fleetView{view: view{User: ss.User, CSRF: ss.CSRF}, ID: id, Fleet: res})
}
