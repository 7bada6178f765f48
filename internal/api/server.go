// Package api is `rewind serve`: a JSON HTTP API for CI/CD, shaped like
// Astro's deploy API, and the Deploy History page, in one net/http server.
// Both are thin layers over internal/action, like the CLI: every rule is
// decided there, in internal/policy, or in the workflows themselves.
package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

// Options configure a Server. Config, Store and Temporal are required; the
// rest have defaults.
type Options struct {
	Config   *config.Config // task queue, rollback window and switch
	Store    *store.Store
	Temporal client.Client
	Logger   *slog.Logger
	// DataConverter decodes what workflows and activities report (heartbeat
	// details), decrypting when payload keys are set; nil is Temporal's
	// default converter (no payload encryption).
	DataConverter converter.DataConverter

	// SessionKey signs the page's session cookies (HMAC-SHA256). Empty: a
	// random key per process, so sessions end when the server restarts;
	// several `rewind serve` replicas behind one address need a shared key.
	SessionKey []byte
	// SecureCookies marks cookies Secure: set it when the page is served
	// over HTTPS (directly or by a proxy in front).
	SecureCookies bool
	// SessionTTL is how long a page sign-in lasts (default 12h).
	SessionTTL time.Duration
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// PlanTimeout bounds the wait for a rollback's dry run, which a
	// rollback request runs first so refusals are synchronous (default 60s).
	PlanTimeout time.Duration
	// Now is the clock for retention on the page, token expiry and the
	// authentication brakes; default time.Now.
	Now func() time.Time
	// AuthLimits brake failed authentications (default DefaultAuthLimits).
	AuthLimits AuthLimits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client the brakes count against (REWIND_HTTP_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
}

// Defaults.
const (
	DefaultAddress      = "127.0.0.1:8080"
	DefaultMaxBodyBytes = 64 << 10
	DefaultSessionTTL   = 12 * time.Hour
	DefaultPlanTimeout  = 60 * time.Second
)

// Server serves the API and the page.
type Server struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
	page *page

	byClient, byToken *buckets // the authentication brakes (limit.go)
	metrics           *httpMetrics
}

// route is one API endpoint. The OpenAPI document is checked against this
// table and the mux built from it (openapi_test.go).
type route struct {
	method, pattern string
	public          bool // no token needed
	handle          func(s *Server, w http.ResponseWriter, r *http.Request, user string)
}

// apiRoutes are the API's endpoints: these, and the use cases' (usecases.go);
// the page's routes live in page.go.
var apiRoutes = append([]route{
	{"GET", "/api/v1/openapi.json", true, (*Server).openAPI},
	{"POST", "/api/v1/deployments/{id}/deploys", false, (*Server).createDeploy},
	{"POST", "/api/v1/deployments/{id}/deploys/{revision}/rollback", false, (*Server).rollback},
	{"GET", "/api/v1/workflows/{workflowId}/progress", false, (*Server).progress},
	{"GET", "/api/v1/workflows/change/{id}/progress", false, (*Server).progress},
	// For the remote CLI (admin.go): administration needs system.admin.
	{"POST", "/api/v1/deployments/{id}/apply", false, (*Server).applyConfig},
	// The retention cleanup (cleanup.go), administration too.
	// Fleet rollbacks (fleet.go): each child is an ordinary rollback.
	{"POST", "/api/v1/fleet-rollbacks", false, (*Server).fleetRollback},
	{"GET", "/api/v1/fleet-rollbacks/{fleetId}", false, (*Server).fleet},
}, useCaseRoutes...)

// New builds a Server; it starts nothing.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Store == nil || o.Temporal == nil {
		return nil, errors.New("api: Config, Store and Temporal are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DataConverter == nil {
		o.DataConverter = converter.GetDefaultDataConverter()
	}
	if len(o.SessionKey) == 0 {
		o.SessionKey = make([]byte, 32)
		rand.Read(o.SessionKey)
	} else if len(o.SessionKey) < 16 {
		return nil, errors.New("api: the session key must be at least 16 bytes")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.PlanTimeout <= 0 {
		o.PlanTimeout = DefaultPlanTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AuthLimits == (AuthLimits{}) {
		o.AuthLimits = DefaultAuthLimits
	}
	l := o.AuthLimits
	if l.PerClient.Burst < 1 || l.PerClient.Every <= 0 || l.PerToken.Burst < 1 || l.PerToken.Every <= 0 || l.MaxKeys < 1 {
		return nil, errors.New("api: AuthLimits need positive bursts, intervals and MaxKeys")
	}
	s := &Server{opts: o, log: o.Logger, mux: http.NewServeMux(),
		byClient: newBuckets(l.PerClient, l.MaxKeys), byToken: newBuckets(l.PerToken, l.MaxKeys)}
	for _, rt := range apiRoutes {
		s.mux.Handle(rt.method+" "+rt.pattern, s.apiHandler(rt))
	}
	s.mux.HandleFunc("/api/", s.apiFallback)
	s.registerHealth()
	if err := s.registerCodec(); err != nil {
		return nil, err
	}
	p, err := newPage(s)
	if err != nil {
		return nil, err
	}
	s.page = p
	p.register(s.mux)
	return s, nil
}

// Handler is the server's whole surface, with security headers on every
// response.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if s.overHTTPS(r) {
			// setCookie reads this header back: HSTS and Secure cookies go
			// together, on every answer to a request that came over HTTPS.
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		s.metrics.observe(w, r, s.mux)
	})
}

// overHTTPS says whether the browser reached the server over HTTPS: the
// connection is TLS, a trusted proxy (REWIND_HTTP_TRUSTED_PROXIES) says so
// in X-Forwarded-Proto, or the operator said so (SecureCookies). Anyone
// else's X-Forwarded-Proto is not believed.
func (s *Server) overHTTPS(r *http.Request) bool {
	if s.opts.SecureCookies || r.TLS != nil {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.trusted(ap.Addr().Unmap()) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// Serve listens on addr until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, logger)
}

// ServeListener serves on an open listener until ctx ends.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if logger != nil {
		logger.Info("rewind serve listening", "address", "http://"+ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// apiHandler authenticates (unless public), limits the body and calls the
// route's handler with the token's user.
func (s *Server) apiHandler(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		user := ""
		if !rt.public {
			var err error
			if user, err = s.bearerUser(r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="rewind"`)
				setRetryAfter(w, err)
				writeError(w, s.log, err)
				return
			}
		}
		rt.handle(s, w, r, user)
	})
}

// apiFallback answers unknown API paths with JSON: 405 when the path exists
// under another method, 404 otherwise.
func (s *Server) apiFallback(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSONError(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method+" is not allowed here; use "+strings.Join(allow, " or "))
		return
	}
	writeJSONError(w, http.StatusNotFound, string(domain.NotFound), "no API endpoint "+r.URL.Path+"; see /api/v1/openapi.json")
}

// HTTP-only error types, named with SPEC §3's in domain.
const (
	typeUnauthenticated = string(domain.Unauthenticated)
	typeTooLarge        = string(domain.RequestTooLarge)
	typeUnavailable     = string(domain.Unavailable)
	typeTooManyRequests = string(domain.TooManyRequests)
	typeInternal        = string(domain.Internal)
)

// authError is a 401: no token, a wrong one or a revoked one.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

// unavailableError is a 503: Temporal or a worker did not answer in time.
type unavailableError = action.UnavailableError

// Status maps an error's SPEC §3 type to its HTTP status.
func Status(errType string) int {
	switch errType {
	case string(domain.InvalidInput):
		return http.StatusBadRequest
	case typeUnauthenticated:
		return http.StatusUnauthorized
	case string(domain.PermissionDenied):
		return http.StatusForbidden
	case string(domain.NotFound):
		return http.StatusNotFound
	case string(domain.ChangeInProgress), string(domain.AlreadyExists), string(domain.PlanChanged):
		return http.StatusConflict
	case typeTooLarge:
		return http.StatusRequestEntityTooLarge
	case string(domain.OutsideRetention), string(domain.RuntimeTooOld), string(domain.UnsupportedDagSource),
		string(domain.RollbacksDisabled), string(domain.InvalidState), string(domain.DigestMismatch), string(domain.UnsafeBundle),
		string(domain.PreflightFailed), string(domain.Unhealthy), string(domain.RolledBack), string(domain.RegistryAuth):
		return http.StatusUnprocessableEntity
	case typeUnavailable:
		return http.StatusServiceUnavailable
	case typeTooManyRequests:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// errorBody is {"error":{"type","message"[,"workflowId","runId"]}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail = domain.ErrorDetail

// classify turns any error into its type, message and status. Unknown
// errors are logged and answered with a generic message.
func classify(err error, logger *slog.Logger) (int, errorDetail) {
	var (
		ae  *authError
		le  *limitError
		ue  *unavailableError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return http.StatusUnauthorized, errorDetail{Type: typeUnauthenticated, Message: ae.msg}
	case errors.As(err, &le):
		return http.StatusTooManyRequests, errorDetail{Type: typeTooManyRequests, Message: le.Error()}
	case errors.As(err, &ue):
		return http.StatusServiceUnavailable, errorDetail{Type: typeUnavailable, Message: ue.Msg}
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, errorDetail{Type: typeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	}
	if d := action.Detail(err); d.Type != "" {
		return Status(d.Type), d
	}
	if logger != nil {
		logger.Error("request failed", "error", err)
	}
	return http.StatusInternalServerError, errorDetail{Type: typeInternal, Message: "internal error; the server log has the details"}
}

func writeError(w http.ResponseWriter, logger *slog.Logger, err error) {
	status, d := classify(err, logger)
	writeJSON(w, status, errorBody{d})
}

func writeJSONError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, errorBody{errorDetail{Type: typ, Message: msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
