package api

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// The administration routes: deployments, grants and tokens, for the
// remote CLI. Each checks the caller's permission before it reads or
// changes anything (R10 before disclosure), and no secret travels in an
// answer: deployments are Redacted, tokens are shown only when issued.

// requireAdmin refuses a user without system.admin.
func (s *Server) requireAdmin(ctx context.Context, user, what string) error {
	grants, err := s.opts.Store.GrantsFor(ctx, user)
	if err != nil {
		return err
	}
	return policy.CheckAdmin(user, grants, what)
}

// Identity is whoami's answer (action.Identity).
type Identity = action.Identity

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, user string) {
	grants, err := s.opts.Store.GrantsFor(r.Context(), user)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if grants == nil {
		grants = []domain.Grant{}
	}
	id := Identity{User: user, Admin: policy.IsAdmin(grants), Grants: grants, Verified: true}
	if tid := presentedTokenID(r); tid != "" {
		if t, err := s.opts.Store.GetToken(r.Context(), tid); err == nil {
			id.Token = &t
		}
	}
	writeJSON(w, http.StatusOK, id)
}

// presentedTokenID is the public id of the bearer token the request was
// authenticated with.
func presentedTokenID(r *http.Request) string {
	_, plain, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if m := tokenPattern.FindStringSubmatch(strings.TrimSpace(plain)); m != nil {
		return m[1]
	}
	return ""
}

// readable says which deployments a user may see: all for an
// administrator or a holder of a system-wide grant, else those it holds a
// grant on.
func readable(grants []domain.Grant) (all bool, ids map[string]bool) {
	ids = map[string]bool{}
	for _, g := range grants {
		if g.DeploymentID == "" {
			return true, nil
		}
		ids[g.DeploymentID] = true
	}
	return false, ids
}

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, user string) {
	grants, err := s.opts.Store.GrantsFor(r.Context(), user)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	all, ids := readable(grants)
	out := []domain.Deployment{}
	for after := ""; ; {
		page, err := s.opts.Store.ListDeployments(r.Context(), after, 500)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		for _, d := range page {
			if all || ids[d.ID] {
				out = append(out, d.Redacted())
			}
		}
		if len(page) < 500 {
			break
		}
		after = page[len(page)-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := s.canRead(r.Context(), user, id); err != nil {
		writeError(w, s.log, err)
		return
	}
	d, err := s.opts.Store.GetDeployment(r.Context(), id)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, d.Redacted())
}

// createDeploymentRequest is the new deployment's id and its settings.
type createDeploymentRequest struct {
	ID string `json:"id"`
	action.DeploymentSettings
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "create deployments"); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body createDeploymentRequest
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := domain.CheckDeploymentID(body.ID); err != nil {
		writeError(w, s.log, err)
		return
	}
	d := action.NewDeployment(body.ID)
	if err := body.ApplyAs(&d, user); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := s.opts.Store.CreateDeployment(r.Context(), d); err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("deployment created", "deployment", d.ID, "by", user)
	writeJSON(w, http.StatusCreated, d.Redacted())
}

func (s *Server) updateDeployment(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := s.requireAdmin(r.Context(), user, "update deployments"); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body action.DeploymentSettings
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	if body.DagSource != nil {
		writeError(w, s.log, domain.Errorf(domain.InvalidInput, "a deployment's DAG source is set when it is created"))
		return
	}
	d, err := s.opts.Store.GetDeployment(r.Context(), id)
	if err == nil {
		err = body.ApplyAs(&d, user)
	}
	if err == nil {
		err = s.opts.Store.UpdateDeploymentSettings(r.Context(), d)
	}
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("deployment updated", "deployment", d.ID, "by", user)
	writeJSON(w, http.StatusOK, d.Redacted())
}

func (s *Server) listGrants(w http.ResponseWriter, r *http.Request, user string) {
	who := r.URL.Query().Get("user")
	if who == "" {
		who = user
	}
	// Your own grants are yours to see; anyone else's are administration,
	// checked before anything about the name is said.
	if who != user {
		if err := s.requireAdmin(r.Context(), user, "list another user's grants"); err != nil {
			writeError(w, s.log, err)
			return
		}
	}
	if err := domain.CheckUser(who); err != nil {
		writeError(w, s.log, err)
		return
	}
	grants, err := s.opts.Store.GrantsFor(r.Context(), who)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if grants == nil {
		grants = []domain.Grant{}
	}
	writeJSON(w, http.StatusOK, grants)
}

func (s *Server) addGrant(w http.ResponseWriter, r *http.Request, user string) {
	s.changeGrant(w, r, user, true)
}

func (s *Server) revokeGrant(w http.ResponseWriter, r *http.Request, user string) {
	s.changeGrant(w, r, user, false)
}

func (s *Server) changeGrant(w http.ResponseWriter, r *http.Request, user string, add bool) {
	verb := map[bool]string{true: "grant", false: "revoke"}[add]
	if err := s.requireAdmin(r.Context(), user, verb); err != nil {
		writeError(w, s.log, err)
		return
	}
	var g domain.Grant
	if err := decodeBody(r, &g); err != nil {
		writeError(w, s.log, err)
		return
	}
	err := policy.CheckGrant(g)
	if err == nil && add {
		err = s.opts.Store.AddGrant(r.Context(), g)
	} else if err == nil {
		err = s.opts.Store.RevokeGrant(r.Context(), g)
	}
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info(verb, "user", g.User, "deployment", g.DeploymentID, "role", g.Role, "permission", g.Permission, "by", user)
	writeJSON(w, http.StatusOK, g)
}

// tokenRequest asks for a token; Expires is a Go duration ("720h"), empty
// for the installation's default (REWIND_TOKEN_TTL).
type tokenRequest struct {
	User        string `json:"user"`
	Description string `json:"description,omitempty"`
	Expires     string `json:"expires,omitempty"`
}

// IssuedToken is action's.
type IssuedToken = action.IssuedToken

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "issue tokens"); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body tokenRequest
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	ttl := s.opts.Config.TokenTTL
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	if body.Expires != "" {
		d, err := time.ParseDuration(body.Expires)
		if err != nil {
			writeError(w, s.log, domain.Errorf(domain.InvalidInput, "expires must be a duration such as 720h, not %q", clipText(body.Expires, 40)))
			return
		}
		ttl = d
	}
	if err := policy.CheckTokenLifetime(ttl, s.opts.Config.TokenMaxTTL); err != nil {
		writeError(w, s.log, err)
		return
	}
	plain, t, err := IssueTokenWithTTL(r.Context(), s.opts.Store, body.User, body.Description, s.opts.Now(), ttl)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("token issued", "token", t.ID, "user", t.User, "by", user)
	writeJSON(w, http.StatusCreated, IssuedToken{Token: t, Plain: plain})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "list tokens"); err != nil {
		writeError(w, s.log, err)
		return
	}
	who := r.URL.Query().Get("user")
	if who != "" {
		if err := domain.CheckUser(who); err != nil {
			writeError(w, s.log, err)
			return
		}
	}
	ts, err := s.opts.Store.ListTokens(r.Context(), who)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if ts == nil {
		ts = []store.Token{}
	}
	writeJSON(w, http.StatusOK, ts) // Hash is never marshalled
}

// revokeToken: administrators revoke any token; anyone may revoke the token
// they present (signing a CLI out for good).
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("tokenId")
	if !tokenIDPattern.MatchString(id) {
		writeError(w, s.log, domain.Errorf(domain.InvalidInput, "a token id is 12 hex digits (see `rewind token list`)"))
		return
	}
	if id != presentedTokenID(r) {
		if err := s.requireAdmin(r.Context(), user, "revoke tokens"); err != nil {
			writeError(w, s.log, err)
			return
		}
	}
	if err := s.opts.Store.RevokeToken(r.Context(), id, s.opts.Now()); err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("token revoked", "token", id, "by", user)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "revoked": "true"})
}

var tokenIDPattern = regexp.MustCompile(`^[0-9a-f]{12}$`)

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
	run, err := (&action.ApplyConfig{Config: s.opts.Config, Temporal: s.opts.Temporal, Input: workflows.ApplyConfigInput{DeploymentID: id, RequestedBy: user}}).Run(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started{WorkflowID: run.GetID(), RunID: run.GetRunID(), ProgressURL: progressURL(run.GetID(), run.GetRunID())})
}

// listHosts is `rewind host list` through the API: the Docker hosts
// deployments name and whether a worker polls each host's queue. Which
// machines run what is administration.
func (s *Server) listHosts(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "list hosts"); err != nil {
		writeError(w, s.log, err)
		return
	}
	hosts, err := action.Hosts(r.Context(), s.opts.Store, s.opts.Temporal, s.opts.Config.Namespace, s.opts.Config.TaskQueue)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, hosts)
}
