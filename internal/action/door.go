package action

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// The one door. A use case is a value holding what was asked (the
// deployment, the revision, the grant) with a Run method; both ways in run
// it the same: the store-direct CLI here (cli.invoke), rewind serve for a
// token's or a session's user (api.serveUseCase), and the typed client
// sends it to rewind serve. Run decides who may first, in Permit, before
// it reads anything the actor may not learn.

// UseCase is one of rewind's use cases, answering R.
type UseCase[R any] interface {
	Permit(ctx context.Context, env Env, who Actor) error
	Run(ctx context.Context, env Env, who Actor) (R, error)
}

// Actor is who asks. Verified: rewind serve proved the user (a token or a
// signed-in session). An unverified actor is the store-direct CLI, whose
// holder has the database URL, which is administration (SPEC §3): nothing
// is refused to it for lack of a grant here, and the changes it starts are
// recorded as claimed and checked by the workflows against the claimed
// user's grants.
type Actor struct {
	User     string
	Verified bool
	// TokenID is the public id of the token the request presented, so a
	// user may revoke the token it signs in with.
	TokenID string
}

// Env is what the use cases run against; the composition roots (app for
// the CLI, serve for the server) fill it.
type Env struct {
	Config *config.Config
	Store  *store.Store
	// Temporal, or Dial to reach it on first use (the store-direct CLI
	// dials only for the use cases that ask it).
	Temporal      client.Client
	Dial          func() (client.Client, error)
	DataConverter converter.DataConverter
	Log           *slog.Logger
	// Remote: answers leave this process over HTTP, so secrets in them
	// (a deployment's environment values) are redacted.
	Remote bool
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

func (e Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e Env) temporal() (client.Client, error) {
	switch {
	case e.Temporal != nil:
		return e.Temporal, nil
	case e.Dial != nil:
		return e.Dial()
	}
	return nil, errors.New("action: this use case needs Temporal and none was given")
}

func (e Env) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

// deployment is what an answer may carry of d.
func (e Env) deployment(d domain.Deployment) domain.Deployment {
	if e.Remote {
		return d.Redacted()
	}
	return d
}

// Run checks permission, then runs the use case: the one call every door
// makes.
func Run[R any](ctx context.Context, env Env, who Actor, uc UseCase[R]) (R, error) {
	if err := uc.Permit(ctx, env, who); err != nil {
		var zero R
		return zero, err
	}
	return uc.Run(ctx, env, who)
}

// grants are the actor's grants.
func (who Actor) grants(ctx context.Context, st *store.Store) ([]domain.Grant, error) {
	g, err := st.GrantsFor(ctx, who.User)
	if g == nil {
		g = []domain.Grant{}
	}
	return g, err
}

// mayAdminister refuses a verified actor without system.admin; what names
// the action in the refusal.
func (who Actor) mayAdminister(ctx context.Context, st *store.Store, what string) error {
	if !who.Verified {
		return nil
	}
	grants, err := who.grants(ctx, st)
	if err != nil {
		return err
	}
	return policy.CheckAdmin(who.User, grants, what)
}

// mayRead: reading a deployment's history, a revision or a change's
// progress needs some grant on the deployment (viewer, editor or a
// permission) or an installation-wide one. The grants are read before the
// deployment: an actor without one gets the same refusal whether or not
// the deployment exists (issue 26); one with a grant learns that it does
// not.
func (who Actor) mayRead(ctx context.Context, st *store.Store, deploymentID string) error {
	if err := domain.CheckDeploymentID(deploymentID); err != nil {
		return err
	}
	if !who.Verified {
		return nil
	}
	grants, err := who.grants(ctx, st)
	if err != nil {
		return err
	}
	all, ids := Readable(grants)
	if all || ids[deploymentID] {
		_, err := st.GetDeployment(ctx, deploymentID)
		return err
	}
	return domain.Errorf(domain.PermissionDenied, "%s holds no role or permission on deployment %s (grant one with `rewind grant %s --deployment %s --role viewer`)",
		who.User, deploymentID, who.User, deploymentID)
}

// MayRead is mayRead for the page and the progress routes, which read
// what they show themselves.
func MayRead(ctx context.Context, st *store.Store, who Actor, deploymentID string) error {
	return who.mayRead(ctx, st, deploymentID)
}

// Readable says which deployments grants let a user see: all for an
// administrator or a holder of a system-wide grant, else those it holds a
// grant on.
func Readable(grants []domain.Grant) (all bool, ids map[string]bool) {
	ids = map[string]bool{}
	for _, g := range grants {
		if g.DeploymentID == "" {
			return true, nil
		}
		ids[g.DeploymentID] = true
	}
	return false, ids
}

// readable is Readable for an actor: everything for an unverified one.
func (who Actor) readable(ctx context.Context, st *store.Store) (func(id string) bool, error) {
	if !who.Verified {
		return func(string) bool { return true }, nil
	}
	grants, err := who.grants(ctx, st)
	if err != nil {
		return nil, err
	}
	all, ids := Readable(grants)
	return func(id string) bool { return all || ids[id] }, nil
}
