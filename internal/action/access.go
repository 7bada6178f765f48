package action

import (
	"context"
	"regexp"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// The access use cases: who am I, grants and tokens (`rewind whoami`,
// `rewind grant|revoke`, `rewind token`, and their API routes). Grants and
// tokens are administration, except reading one's own grants and revoking
// the token one signs in with.

// Whoami is the actor, its grants and whether it was proven.
type Whoami struct{}

func (Whoami) Permit(context.Context, Env, Actor) error { return nil }

func (Whoami) Run(ctx context.Context, env Env, who Actor) (Identity, error) {
	grants, err := who.grants(ctx, env.Store)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{User: who.User, Admin: policy.IsAdmin(grants), Grants: grants, Verified: who.Verified}
	if who.TokenID != "" {
		if t, err := env.Store.GetToken(ctx, who.TokenID); err == nil {
			id.Token = &t
		}
	}
	return id, nil
}

// ListGrants is a user's grants; "" is the actor's own. Anyone else's are
// administration, checked before anything about the name is said.
type ListGrants struct{ User string }

func (a ListGrants) Permit(ctx context.Context, env Env, who Actor) error {
	if a.User == "" || a.User == who.User {
		return nil
	}
	return who.mayAdminister(ctx, env.Store, "list another user's grants")
}

func (a ListGrants) Run(ctx context.Context, env Env, who Actor) ([]domain.Grant, error) {
	user := a.User
	if user == "" {
		user = who.User
	}
	if err := domain.CheckUser(user); err != nil {
		return nil, err
	}
	return Actor{User: user}.grants(ctx, env.Store)
}

// ChangeGrant adds the grant, or revokes it when Revoke.
type ChangeGrant struct {
	Grant  domain.Grant
	Revoke bool
}

func (a ChangeGrant) verb() string {
	if a.Revoke {
		return "revoke"
	}
	return "grant"
}

func (a ChangeGrant) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, a.verb())
}

func (a ChangeGrant) Run(ctx context.Context, env Env, who Actor) (domain.Grant, error) {
	g := a.Grant
	if err := policy.CheckGrant(g); err != nil {
		return g, err
	}
	var err error
	if a.Revoke {
		err = env.Store.RevokeGrant(ctx, g)
	} else {
		err = env.Store.AddGrant(ctx, g)
	}
	if err == nil {
		env.log().Info(a.verb(), "user", g.User, "deployment", g.DeploymentID, "role", g.Role, "permission", g.Permission, "by", who.User)
	}
	return g, err
}

// CreateToken issues a token for User; TTL 0 is the installation's
// default (REWIND_TOKEN_TTL, else DefaultTokenTTL), and no token outlives
// REWIND_TOKEN_MAX_TTL. The plain token is in the answer once, never again.
type CreateToken struct {
	User        string
	Description string
	TTL         time.Duration
}

func (a CreateToken) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "issue tokens")
}

func (a CreateToken) Run(ctx context.Context, env Env, who Actor) (IssuedToken, error) {
	ttl, maxTTL := a.TTL, time.Duration(0)
	if env.Config != nil {
		maxTTL = env.Config.TokenMaxTTL
		if ttl == 0 {
			ttl = env.Config.TokenTTL
		}
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if err := policy.CheckTokenLifetime(ttl, maxTTL); err != nil {
		return IssuedToken{}, err
	}
	plain, t, err := IssueTokenWithTTL(ctx, env.Store, a.User, a.Description, env.now(), ttl)
	if err != nil {
		return IssuedToken{}, err
	}
	env.log().Info("token issued", "token", t.ID, "user", t.User, "by", who.User)
	return IssuedToken{Token: t, Plain: plain}, nil
}

// ListTokens lists tokens (never their secrets); User "" is everyone's.
type ListTokens struct{ User string }

func (a ListTokens) Permit(ctx context.Context, env Env, who Actor) error {
	return who.mayAdminister(ctx, env.Store, "list tokens")
}

func (a ListTokens) Run(ctx context.Context, env Env, who Actor) ([]store.Token, error) {
	if a.User != "" {
		if err := domain.CheckUser(a.User); err != nil {
			return nil, err
		}
	}
	ts, err := env.Store.ListTokens(ctx, a.User)
	if ts == nil {
		ts = []store.Token{}
	}
	return ts, err
}

// RevokeToken ends a token: an administrator's any, anyone's the one it
// presents (signing a CLI out for good).
type RevokeToken struct{ ID string }

// RevokedToken is RevokeToken's answer.
type RevokedToken struct {
	ID      string `json:"id"`
	Revoked string `json:"revoked"`
}

var tokenIDPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

func (a RevokeToken) Permit(ctx context.Context, env Env, who Actor) error {
	if !tokenIDPattern.MatchString(a.ID) {
		return domain.Errorf(domain.InvalidInput, "a token id is 12 hex digits (see `rewind token list`)")
	}
	if who.TokenID != "" && a.ID == who.TokenID {
		return nil
	}
	return who.mayAdminister(ctx, env.Store, "revoke tokens")
}

func (a RevokeToken) Run(ctx context.Context, env Env, who Actor) (RevokedToken, error) {
	if err := env.Store.RevokeToken(ctx, a.ID, env.now()); err != nil {
		return RevokedToken{}, err
	}
	env.log().Info("token revoked", "token", a.ID, "by", who.User)
	return RevokedToken{ID: a.ID, Revoked: "true"}, nil
}
