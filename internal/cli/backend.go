package cli

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// backend starts changes and follows them, either store-direct (direct.go:
// the database and Temporal, which is administration: whoever holds
// REWIND_DATABASE_URL can do anything) or through `rewind serve` with a
// token (remote.go: the token's user, checked by the server). Reads and
// administration are internal/action use cases run through invoke
// (door.go); what stays here follows a workflow after starting it, which
// store-direct does through Temporal and remotely by polling progress.
type backend interface {
	// deploy, rollback and applyConfig start a change as the backend's
	// requester; planRollback runs the dry run a rollback shows first.
	deploy(in action.DeployInput) (change, error)
	planRollback(in action.RollbackInput) (action.RollbackResult, error)
	rollback(in action.RollbackInput) (change, error)
	// planFleet, startFleet and fleetProgress: `rewind rollback --fleet`.
	planFleet(req action.FleetRequest) (action.FleetPlan, error)
	startFleet(req action.FleetRequest, plan action.FleetPlan) (change, error)
	fleetProgress(workflowID string) (action.FleetResult, error)
	applyConfig(id string) (change, error)
	// watch follows a change, printing each new step and attempt.
	watch(workflowID string, every time.Duration) error
	// progressSource reads what a change shows now, for --wait.
	progressSource() (progressSource, error)
	// The retention cleanup (`rewind cleanup`): administration.
	cleanupWait(workflowID string) (action.CleanupResult, error)
	// requester is who the changes this backend starts are recorded as.
	requester() string
}

// change is a started workflow: client.WorkflowRun's part the commands use.
type change interface {
	GetID() string
	GetRunID() string
	Get(ctx context.Context, valuePtr any) error
}

// backend picks the path: remote when an API URL is configured
// (REWIND_API_URL or `rewind login`), else store-direct. Through the API
// the requester is the token's user, so --as is refused there rather than
// ignored: a script that believes it acts as someone else must not run.
func (s *session) backend() (backend, error) {
	if s.be != nil {
		return s.be, nil
	}
	creds, err := loadCredentials()
	if err != nil {
		return nil, err
	}
	if creds.URL == "" {
		s.be = &direct{s}
		return s.be, nil
	}
	if s.as != "" {
		return nil, domain.Errorf(domain.InvalidInput, "--as is refused through rewind serve (%s): changes are recorded as the token's user; "+
			"unset REWIND_API_URL and use REWIND_DATABASE_URL (administration) to act store-direct", creds.URL)
	}
	if w := plaintextWarning(creds.URL); w != "" {
		fmt.Fprintln(s.err, w)
	}
	r, err := newRemote(s.ctx, creds, s.out)
	if err != nil {
		return nil, err
	}
	s.be = r
	return r, nil
}

// plaintextWarning is the warning a plain-HTTP API URL to another machine
// gets: the token crosses the network readable by anyone on the path
// (issue 26). Loopback is the one place plain HTTP is fine.
func plaintextWarning(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" {
		return ""
	}
	host := u.Hostname()
	if host == "localhost" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.Unmap().IsLoopback() {
		return ""
	}
	return "rewind: warning: " + u.Scheme + "://" + u.Host + " is plain HTTP to another machine: your token crosses the network unencrypted; use https://"
}
