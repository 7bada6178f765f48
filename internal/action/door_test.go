package action

import (
	"context"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
)

// doorStore is a store on SQLite with deployments d1 (env SECRET) and d2,
// an administrator "root", a viewer of d1 "vic", and "nobody".
func doorStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st := sqliteStore(t)
	d1 := NewDeployment("d1")
	d1.Env = map[string]string{"SECRET": "hunter2"}
	for _, d := range []domain.Deployment{d1, NewDeployment("d2")} {
		if err := st.CreateDeployment(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []domain.Grant{{User: "root", Permission: policy.SystemAdmin}, {User: "vic", DeploymentID: "d1", Role: "viewer"}} {
		if err := st.AddGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// permitter is a use case seen for its permission decision alone.
type permitter interface {
	Permit(ctx context.Context, env Env, who Actor) error
}

// Every use case decides who may first, once, in Permit: administration
// needs system.admin from a verified actor; reading needs a grant on the
// deployment, and a refusal is the same whether or not it exists; the
// store-direct actor (unverified: it holds the database URL) is refused
// nothing here.
func TestUseCasesDecidePermissionFirst(t *testing.T) {
	st := doorStore(t)
	env := Env{Store: st, Config: &config.Config{}}
	root, vic, nobody := Actor{User: "root", Verified: true}, Actor{User: "vic", Verified: true}, Actor{User: "nobody", Verified: true}
	direct := Actor{User: "nobody"}
	admin := []permitter{CreateDeployment{ID: "d3"}, UpdateDeployment{ID: "d1"}, ListHosts{}, ChangeGrant{}, ChangeGrant{Revoke: true},
		CreateToken{User: "x"}, ListTokens{}, RevokeToken{ID: "0123456789ab"}, ShowCleanup{}, RunCleanup{}, ShowCleanupRun{WorkflowID: "w"},
		ResetSchedule{}, ReleaseGarbage{}, SendTestNotification{}, CreateWebhook{}, ListWebhooks{}, RemoveWebhook{ID: "w"}, ListGrants{User: "root"}}
	for _, uc := range admin {
		for _, c := range []struct {
			who  Actor
			want domain.ErrorType
		}{{root, ""}, {direct, ""}, {vic, domain.PermissionDenied}, {nobody, domain.PermissionDenied}} {
			if err := uc.Permit(context.Background(), env, c.who); domain.TypeOf(err) != c.want {
				t.Errorf("%T as %+v: %v, want %q", uc, c.who, err, c.want)
			}
		}
	}
	reads := []struct {
		uc   permitter
		who  Actor
		want domain.ErrorType
	}{
		{ShowDeployment{ID: "d1"}, vic, ""},
		{ShowDeployment{ID: "d2"}, vic, domain.PermissionDenied},
		{ShowDeployment{ID: "gone"}, vic, domain.PermissionDenied}, // the same as d2: nothing disclosed
		{ShowDeployment{ID: "gone"}, root, domain.NotFound},
		{ShowDeployment{ID: "Bad/Id"}, root, domain.InvalidInput},
		{ShowRevision{Deployment: "d1", Number: 1}, vic, ""},
		{ShowRevision{Deployment: "d2", Number: 1}, nobody, domain.PermissionDenied},
		{ShowRevision{Deployment: "d2", Number: 1}, direct, ""},
		{ListGrants{}, nobody, ""},         // one's own grants
		{ListGrants{User: "vic"}, vic, ""}, // the same, by name
		{RevokeToken{ID: "not-an-id"}, root, domain.InvalidInput},
		{RevokeToken{ID: "0123456789ab"}, Actor{User: "vic", Verified: true, TokenID: "0123456789ab"}, ""}, // the token it presents
		{ListDeploys{Deployment: "d1", Limit: 5}, vic, ""},
		{ListDeploys{Deployment: "d2", Limit: 5}, vic, domain.PermissionDenied},
		{ShowMetrics{Deployment: "d2"}, vic, domain.PermissionDenied},
		{ShowMetrics{Deployment: "gone"}, nobody, domain.PermissionDenied},
		{ShowMetrics{}, nobody, ""}, // across what it may read: nothing
		{Whoami{}, nobody, ""},
		{ListDeployments{}, nobody, ""},
	}
	for _, c := range reads {
		if err := c.uc.Permit(context.Background(), env, c.who); domain.TypeOf(err) != c.want {
			t.Errorf("%T %+v as %+v: %v, want %q", c.uc, c.uc, c.who, err, c.want)
		}
	}
}

// Run refuses before the use case runs: a refused CreateDeployment
// creates nothing.
func TestRunRefusesBeforeRunning(t *testing.T) {
	st := doorStore(t)
	env := Env{Store: st}
	_, err := Run[domain.Deployment](context.Background(), env, Actor{User: "vic", Verified: true}, CreateDeployment{ID: "d3"})
	if domain.TypeOf(err) != domain.PermissionDenied {
		t.Fatalf("vic creating d3: %v", err)
	}
	if _, err := st.GetDeployment(context.Background(), "d3"); domain.TypeOf(err) != domain.NotFound {
		t.Fatalf("d3 exists after a refusal: %v", err)
	}
	d, err := Run[domain.Deployment](context.Background(), env, Actor{User: "root", Verified: true}, CreateDeployment{ID: "d3"})
	if err != nil || d.ID != "d3" {
		t.Fatalf("root creating d3: %+v %v", d, err)
	}
}

// The list is what the actor may read, and through rewind serve (Remote)
// no environment value leaves: the same deployments store-direct carry
// them.
func TestListDeploymentsReadableAndRedacted(t *testing.T) {
	st := doorStore(t)
	ctx := context.Background()
	for _, c := range []struct {
		env    Env
		who    Actor
		ids    []string
		secret string
	}{
		{Env{Store: st, Remote: true}, Actor{User: "vic", Verified: true}, []string{"d1"}, domain.RedactedValue},
		{Env{Store: st, Remote: true}, Actor{User: "nobody", Verified: true}, nil, ""},
		{Env{Store: st, Remote: true}, Actor{User: "root", Verified: true}, []string{"d1", "d2"}, domain.RedactedValue},
		{Env{Store: st}, Actor{User: "nobody"}, []string{"d1", "d2"}, "hunter2"},
	} {
		ds, err := Run[[]domain.Deployment](ctx, c.env, c.who, ListDeployments{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
			if d.ID == "d1" && d.Env["SECRET"] != c.secret {
				t.Errorf("%s: d1's SECRET reads %q", c.who.User, d.Env["SECRET"])
			}
		}
		if len(ids) != len(c.ids) || (len(ids) > 0 && ids[0] != c.ids[0]) {
			t.Errorf("%s (remote %v): %v, want %v", c.who.User, c.env.Remote, ids, c.ids)
		}
	}
}

// Grants and tokens through the door: a grant given is a grant held; a
// token's lifetime is capped by the installation's maximum; the token a
// user presents is one it may revoke, and then it is revoked.
func TestGrantsAndTokens(t *testing.T) {
	st := doorStore(t)
	ctx := context.Background()
	root := Actor{User: "root", Verified: true}
	env := Env{Store: st, Config: &config.Config{TokenMaxTTL: 0}}
	if _, err := Run[domain.Grant](ctx, env, root, ChangeGrant{Grant: domain.Grant{User: "eve", DeploymentID: "d2", Role: "editor"}}); err != nil {
		t.Fatal(err)
	}
	gs, err := Run[[]domain.Grant](ctx, env, Actor{User: "eve", Verified: true}, ListGrants{})
	if err != nil || len(gs) != 1 || gs[0].Role != "editor" {
		t.Fatalf("eve's grants: %+v %v", gs, err)
	}
	if _, err := Run[domain.Grant](ctx, env, root, ChangeGrant{Grant: domain.Grant{User: "eve", DeploymentID: "d2", Role: "boss"}}); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("an unknown role: %v", err)
	}
	capped := Env{Store: st, Config: &config.Config{TokenMaxTTL: 48 * time.Hour}}
	if _, err := Run[IssuedToken](ctx, capped, root, CreateToken{User: "eve", TTL: 72 * time.Hour}); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("a token past the maximum: %v", err)
	}
	it, err := Run[IssuedToken](ctx, capped, root, CreateToken{User: "eve", TTL: 24 * time.Hour})
	if err != nil || it.Plain == "" || it.Token.ID == "" {
		t.Fatalf("a token: %+v %v", it, err)
	}
	eve := Actor{User: "eve", Verified: true, TokenID: it.Token.ID}
	if _, err := Run[RevokedToken](ctx, env, eve, RevokeToken{ID: it.Token.ID}); err != nil {
		t.Fatalf("eve revoking her own token: %v", err)
	}
	ts, err := Run[[]store.Token](ctx, env, root, ListTokens{User: "eve"})
	if err != nil || len(ts) != 1 || ts[0].RevokedAt == nil {
		t.Fatalf("eve's tokens after the revocation: %+v %v", ts, err)
	}
}
