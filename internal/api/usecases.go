package api

import (
	"net/http"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// The routes that are one action use case each: decode the request into
// the use case, run it through action.Run for the token's user (permission
// first), encode the answer. A new one is a line here, beside its use case
// in internal/action, its method in internal/client and its command in
// internal/cli.
var useCaseRoutes = []route{
	{"GET", "/api/v1/whoami", false, serve[action.Identity](http.StatusOK, func(r *http.Request) (action.Whoami, error) {
		return action.Whoami{}, nil
	})},
	{"GET", "/api/v1/deployments", false, serve[[]domain.Deployment](http.StatusOK, func(r *http.Request) (action.ListDeployments, error) {
		return action.ListDeployments{}, nil
	})},
	{"POST", "/api/v1/deployments", false, serve[domain.Deployment](http.StatusCreated, func(r *http.Request) (a action.CreateDeployment, err error) {
		return a, decodeBody(r, &a)
	})},
	{"GET", "/api/v1/deployments/{id}", false, serve[domain.Deployment](http.StatusOK, func(r *http.Request) (action.ShowDeployment, error) {
		return action.ShowDeployment{ID: r.PathValue("id")}, nil
	})},
	{"PATCH", "/api/v1/deployments/{id}", false, serve[domain.Deployment](http.StatusOK, func(r *http.Request) (action.UpdateDeployment, error) {
		a := action.UpdateDeployment{ID: r.PathValue("id")}
		return a, decodeBody(r, &a.Settings)
	})},
	{"GET", "/api/v1/deployments/{id}/revisions/{revision}", false, serve[action.RevisionDetail](http.StatusOK, func(r *http.Request) (action.ShowRevision, error) {
		n, err := intParam(r.PathValue("revision"), "revision", 0)
		return action.ShowRevision{Deployment: r.PathValue("id"), Number: n}, err
	})},
	{"GET", "/api/v1/deployments/{id}/deploys", false, serve[action.DeploysPage](http.StatusOK, func(r *http.Request) (action.ListDeploys, error) {
		a := action.ListDeploys{Deployment: r.PathValue("id")}
		var err error
		if a.Limit, err = intParam(r.URL.Query().Get("limit"), "limit", 20); err == nil {
			a.Before, err = intParam(r.URL.Query().Get("before"), "before", 0)
		}
		return a, err
	})},
	{"GET", "/api/v1/metrics", false, serve[action.MetricsReport](http.StatusOK, func(r *http.Request) (action.ShowMetrics, error) {
		return action.ShowMetrics{Since: r.URL.Query().Get("since")}, nil
	})},
	{"GET", "/api/v1/deployments/{id}/metrics", false, serve[action.MetricsReport](http.StatusOK, func(r *http.Request) (action.ShowMetrics, error) {
		return action.ShowMetrics{Deployment: r.PathValue("id"), Since: r.URL.Query().Get("since")}, nil
	})},
	{"GET", "/api/v1/hosts", false, serve[[]action.Host](http.StatusOK, func(r *http.Request) (action.ListHosts, error) {
		return action.ListHosts{}, nil
	})},
	{"GET", "/api/v1/grants", false, serve[[]domain.Grant](http.StatusOK, func(r *http.Request) (action.ListGrants, error) {
		return action.ListGrants{User: r.URL.Query().Get("user")}, nil
	})},
	{"POST", "/api/v1/grants", false, serve[domain.Grant](http.StatusOK, func(r *http.Request) (a action.ChangeGrant, err error) {
		return a, decodeBody(r, &a.Grant)
	})},
	{"POST", "/api/v1/grants/revoke", false, serve[domain.Grant](http.StatusOK, func(r *http.Request) (action.ChangeGrant, error) {
		a := action.ChangeGrant{Revoke: true}
		return a, decodeBody(r, &a.Grant)
	})},
	{"GET", "/api/v1/tokens", false, serve[[]action.Token](http.StatusOK, func(r *http.Request) (action.ListTokens, error) {
		return action.ListTokens{User: r.URL.Query().Get("user")}, nil
	})},
	{"POST", "/api/v1/tokens", false, serve[action.IssuedToken](http.StatusCreated, decodeCreateToken)},
	{"POST", "/api/v1/tokens/{tokenId}/revoke", false, serve[action.RevokedToken](http.StatusOK, func(r *http.Request) (action.RevokeToken, error) {
		return action.RevokeToken{ID: r.PathValue("tokenId")}, nil
	})},
	// Administration: the retention cleanup, webhooks, the test notification.
	{"GET", "/api/v1/cleanup", false, serve[[]action.StatusRow](http.StatusOK, func(r *http.Request) (action.ShowCleanup, error) {
		return action.ShowCleanup{}, nil
	})},
	{"POST", "/api/v1/cleanup/runs", false, serve[action.CleanupStarted](http.StatusAccepted, func(r *http.Request) (action.RunCleanup, error) {
		return action.RunCleanup{}, decodeBody(r, &struct{}{})
	})},
	{"GET", "/api/v1/cleanup/runs/{workflowId}", false, serve[action.CleanupRun](http.StatusOK, func(r *http.Request) (action.ShowCleanupRun, error) {
		return action.ShowCleanupRun{WorkflowID: r.PathValue("workflowId")}, nil
	})},
	{"POST", "/api/v1/cleanup/reset-schedule", false, serve[action.ScheduleReset](http.StatusOK, func(r *http.Request) (action.ResetSchedule, error) {
		return action.ResetSchedule{}, decodeBody(r, &struct{}{})
	})},
	{"POST", "/api/v1/cleanup/release", false, serve[action.Released](http.StatusOK, func(r *http.Request) (action.ReleaseGarbage, error) {
		return action.ReleaseGarbage{}, decodeBody(r, &struct{}{})
	})},
	{"POST", "/api/v1/notify/test", false, serve[action.NotifyTested](http.StatusOK, func(r *http.Request) (a action.SendTestNotification, err error) {
		return a, decodeBody(r, &a)
	})},
	{"GET", "/api/v1/webhooks", false, serve[[]action.Webhook](http.StatusOK, func(r *http.Request) (action.ListWebhooks, error) {
		return action.ListWebhooks{}, nil
	})},
	{"POST", "/api/v1/webhooks", false, serve[action.Webhook](http.StatusCreated, func(r *http.Request) (a action.CreateWebhook, err error) {
		return a, decodeBody(r, &a)
	})},
	{"DELETE", "/api/v1/webhooks/{webhookId}", false, serve[action.Removed](http.StatusOK, func(r *http.Request) (action.RemoveWebhook, error) {
		return action.RemoveWebhook{ID: r.PathValue("webhookId")}, nil
	})},
}

// tokenRequest asks for a token; Expires is a Go duration ("720h"), empty
// for the installation's default (REWIND_TOKEN_TTL).
type tokenRequest struct {
	User        string `json:"user"`
	Description string `json:"description,omitempty"`
	Expires     string `json:"expires,omitempty"`
}

func decodeCreateToken(r *http.Request) (action.CreateToken, error) {
	var body tokenRequest
	if err := decodeBody(r, &body); err != nil {
		return action.CreateToken{}, err
	}
	a := action.CreateToken{User: body.User, Description: body.Description}
	if body.Expires != "" {
		d, err := time.ParseDuration(body.Expires)
		if err != nil {
			return a, domain.Errorf(domain.InvalidInput, "expires must be a duration such as 720h, not %q", clipText(body.Expires, 40))
		}
		a.TTL = d
	}
	return a, nil
}

// serve is decode → action.Run → encode. A request that does not decode
// is still asked who may first: a caller without permission learns it is
// refused, not what was wrong with what it sent.
func serve[R any, U action.UseCase[R]](status int, decode func(*http.Request) (U, error)) func(*Server, http.ResponseWriter, *http.Request, string) {
	return func(s *Server, w http.ResponseWriter, r *http.Request, user string) {
		env, who := s.env(), s.actor(r, user)
		uc, err := decode(r)
		if err != nil {
			if perr := uc.Permit(r.Context(), env, who); perr != nil {
				err = perr
			}
			writeError(w, s.log, err)
			return
		}
		res, err := action.Run[R](r.Context(), env, who, uc)
		if err != nil {
			writeError(w, s.log, err)
			return
		}
		writeJSON(w, status, res)
	}
}

// env is what the use cases run against here: answers leave over HTTP.
func (s *Server) env() action.Env {
	return action.Env{Config: s.opts.Config, Store: s.opts.Store, Temporal: s.opts.Temporal, DataConverter: s.opts.DataConverter,
		Log: s.log, Remote: true, Now: s.opts.Now}
}

// actor is the request's user, proven by its token or session.
func (s *Server) actor(r *http.Request, user string) action.Actor {
	return action.Actor{User: user, Verified: true, TokenID: presentedTokenID(r)}
}
