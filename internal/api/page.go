package api

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// page is the Deploy History page: server-rendered html/template (which
// escapes every value by context), a stylesheet and one small script that
// polls progress. The Content-Security-Policy allows nothing else.
type page struct {
	s     *Server
	pages map[string]*template.Template
}

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func newPage(s *Server) (*page, error) {
	base, err := template.ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	p := &page{s: s, pages: map[string]*template.Template{}}
	for _, name := range []string{"signin", "deployments", "history", "rollback", "progress", "fleet"} {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.pages[name] = t
	}
	return p, nil
}

// pageRoutes are the page's routes (outside /api/, so the OpenAPI check
// leaves them alone).
func (p *page) register(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/deployments", http.StatusSeeOther) })
	mux.HandleFunc("GET /signin", p.signinForm)
	mux.HandleFunc("POST /signin", p.limit(p.signin))
	mux.HandleFunc("POST /signout", p.limit(p.withSession(p.signout)))
	mux.HandleFunc("GET /deployments", p.withSession(p.deployments))
	mux.HandleFunc("GET /deployments/{id}", p.withSession(p.history))
	mux.HandleFunc("GET /deployments/{id}/rollback/{revision}", p.withSession(p.rollbackForm))
	mux.HandleFunc("POST /deployments/{id}/rollback/{revision}/plan", p.limit(p.withSession(p.plan)))
	mux.HandleFunc("POST /deployments/{id}/rollback/{revision}", p.limit(p.withSession(p.confirm)))
	mux.HandleFunc("GET /deployments/{id}/changes/{runId}", p.withSession(p.progress))
	mux.HandleFunc("GET /deployments/{id}/changes/{runId}/progress.json", p.withSession(p.progressJSON))
	mux.HandleFunc("GET /fleets/{id}", p.withSession(p.fleet))
}

// view is what every template gets.
type view struct {
	User, CSRF, Error string
}

func (p *page) render(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", csp)
	h.Set("Cache-Control", "no-store")
	var b strings.Builder
	if err := p.pages[name].ExecuteTemplate(&b, "layout", data); err != nil {
		p.s.log.Error("rendering page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(status)
	fmt.Fprint(w, b.String())
}

func (p *page) limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, p.s.opts.MaxBodyBytes)
		h(w, r)
	}
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, ss session)

// withSession requires a valid session; POSTs also need the session's CSRF
// secret in the form's csrf field.
func (p *page) withSession(h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss, ok := p.s.sessionFrom(r)
		if !ok {
			if strings.HasSuffix(r.URL.Path, ".json") {
				writeJSONError(w, http.StatusUnauthorized, typeUnauthenticated, "not signed in")
				return
			}
			if r.Method != http.MethodGet {
				http.Error(w, "not signed in", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if !sameSecret(r.PostForm.Get("csrf"), ss.CSRF) {
				http.Error(w, "the form's CSRF token does not match your session; reload the page and try again", http.StatusForbidden)
				return
			}
		}
		h(w, r, ss)
	}
}

// fail renders a refusal as the page's error banner.
func (p *page) fail(w http.ResponseWriter, ss session, err error) {
	status, d := classify(err, p.s.log)
	msg := d.Message
	if d.Type != typeInternal {
		msg = d.Type + ": " + msg
	}
	p.render(w, status, "deployments", deploymentsView{view: view{User: ss.User, CSRF: ss.CSRF, Error: msg}})
}

type deploymentsView struct {
	view
	Deployments []domain.Deployment
}

func (p *page) deployments(w http.ResponseWriter, r *http.Request, ss session) {
	ctx := r.Context()
	grants, err := p.s.opts.Store.GrantsFor(ctx, ss.User)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	all := false
	mine := map[string]bool{}
	for _, g := range grants {
		if g.DeploymentID == "" {
			all = true
		}
		mine[g.DeploymentID] = true
	}
	var list []domain.Deployment
	after := ""
	for {
		ds, err := p.s.opts.Store.ListDeployments(ctx, after, 200)
		if err != nil {
			p.fail(w, ss, err)
			return
		}
		for _, d := range ds {
			if all || mine[d.ID] {
				list = append(list, d)
			}
		}
		if len(ds) < 200 || len(list) >= 1000 {
			break
		}
		after = ds[len(ds)-1].ID
	}
	p.render(w, http.StatusOK, "deployments", deploymentsView{view{User: ss.User, CSRF: ss.CSRF}, list})
}

// row is one line of Deploy History, with whether it can be a rollback
// target and, if not, why.
type row struct {
	domain.Revision
	Time     string
	Current  bool
	Eligible bool
	Why      string
	Fleet    string // the fleet rollback this revision is a child of (page_fleet.go)
}

type historyView struct {
	view
	Deployment domain.Deployment
	Rows       []row
	Notice     string
	WindowDays int
	NextBefore int
	Metrics    *metricsPanel // page_metrics.go: the last 30 days, on the first page
}

const pageSize = 50

func (p *page) history(w http.ResponseWriter, r *http.Request, ss session) {
	ctx := r.Context()
	id := r.PathValue("id")
	before, err := intParam(r.URL.Query().Get("before"), "before", 0)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	revs, err := p.s.history(ctx, ss.User, id, pageSize, before)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	d, err := p.s.opts.Store.GetDeployment(ctx, id)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	latest, err := p.s.opts.Store.LatestDeployed(ctx, id)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	// The workers' settings, read once for the switch (R9) and the window (R6).
	inst := p.s.installation(ctx)
	notice, err := p.rollbackNotice(ctx, ss.User, d, inst.RollbacksEnabled)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	window := time.Duration(inst.RollbackWindowDays) * 24 * time.Hour
	v := historyView{view: view{User: ss.User, CSRF: ss.CSRF}, Deployment: d, Notice: notice, WindowDays: inst.RollbackWindowDays}
	now := p.s.opts.Now()
	for _, rev := range revs {
		rw := row{Revision: rev, Time: rev.CreatedAt.UTC().Format("2006-01-02 15:04:05"), Current: rev.Number == d.CurrentRevision}
		rw.Why = eligibility(rev, d, latest, now, window)
		rw.Eligible = rw.Why == "" && notice == ""
		rw.Fleet = fleetOfRevision(rw)
		v.Rows = append(v.Rows, rw)
	}
	if len(revs) == pageSize && revs[len(revs)-1].Number > 1 {
		v.NextBefore = revs[len(revs)-1].Number
	}
	if before == 0 {
		v.Metrics = p.metricsPanel(ctx, id)
	}
	p.render(w, http.StatusOK, "history", v)
}

// eligibility says why a revision cannot be a rollback target, or "" when
// it can: the same policy functions the workflow applies (R6, R7).
func eligibility(rev domain.Revision, d domain.Deployment, latest int, now time.Time, window time.Duration) string {
	switch {
	case rev.Number == d.CurrentRevision:
		return "current deploy"
	case rev.Status == domain.StatusFailed:
		return "failed"
	case rev.Status == domain.StatusInitialized:
		return "in progress"
	case !policy.InRetention(rev, latest, now, window):
		return fmt.Sprintf("outside the %d-day retention window", int(window.Hours()/24))
	case policy.CheckRuntimeFloor(rev.RuntimeVersion, rev.AirflowVersion) != nil:
		return "below Runtime 5"
	}
	return ""
}

// rollbackNotice says why no row of this deployment can be rolled back to
// by this user (R8, R9, R10), or "".
func (p *page) rollbackNotice(ctx context.Context, user string, d domain.Deployment, rollbacksEnabled bool) (string, error) {
	if err := policy.CheckSwitches(rollbacksEnabled, d); err != nil {
		return action.Message(err), nil
	}
	if err := policy.CheckDagSource(d); err != nil {
		return action.Message(err), nil
	}
	scopes, err := p.scopes(ctx, user, d)
	if err != nil {
		return "", err
	}
	if len(scopes) == 0 {
		return fmt.Sprintf("%s may view this history but not roll back: that needs %s (or %s for DAGs) on %s (R10).", user, policy.ImagesPush, policy.DagsPush, d.ID), nil
	}
	return "", nil
}

func (p *page) scopes(ctx context.Context, user string, d domain.Deployment) ([]policy.Scope, error) {
	grants, err := p.s.opts.Store.GrantsFor(ctx, user)
	if err != nil {
		return nil, err
	}
	return policy.AllowedScopes(policy.Effective(grants, d.ID), d), nil
}

type scopeOption struct {
	Value, Label string
	Selected     bool
}

type planRow struct {
	What, From, To string
	Changes        bool
}

type rollbackView struct {
	view
	Deployment  domain.Deployment
	Target      domain.Revision
	TargetTime  string
	Description string
	Scope       string
	Scopes      []scopeOption
	Plan        *action.RollbackPlan
	PlanRows    []planRow
	PlanNotes   []string
}

// rollbackTarget loads what the rollback pages show; the read check first.
func (p *page) rollbackTarget(r *http.Request, ss session) (rollbackView, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		return rollbackView{}, err
	}
	n, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil || n < 1 {
		return rollbackView{}, domain.Errorf(domain.InvalidInput, "revision must be a revision number")
	}
	if err := p.s.canRead(ctx, ss.User, id); err != nil {
		return rollbackView{}, err
	}
	d, err := p.s.opts.Store.GetDeployment(ctx, id)
	if err != nil {
		return rollbackView{}, err
	}
	target, err := p.s.opts.Store.GetRevision(ctx, id, n)
	if err != nil {
		return rollbackView{}, err
	}
	v := rollbackView{view: view{User: ss.User, CSRF: ss.CSRF}, Deployment: d, Target: target,
		TargetTime: target.CreatedAt.UTC().Format("2006-01-02 15:04:05 UTC"), Scope: string(policy.ScopeAll)}
	if r.Method == http.MethodPost {
		v.Description = r.PostForm.Get("description")
		v.Scope = r.PostForm.Get("scope")
	}
	scopes, err := p.scopes(ctx, ss.User, d)
	if err != nil {
		return v, err
	}
	labels := map[policy.Scope]string{policy.ScopeAll: "Image and DAGs (all)", policy.ScopeImage: "Image only (keep the current DAGs)", policy.ScopeDags: "DAGs only (keep the current image)"}
	for _, sc := range scopes {
		v.Scopes = append(v.Scopes, scopeOption{string(sc), labels[sc], string(sc) == v.Scope})
	}
	return v, nil
}

func (p *page) rollbackForm(w http.ResponseWriter, r *http.Request, ss session) {
	v, err := p.rollbackTarget(r, ss)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	p.render(w, http.StatusOK, "rollback", v)
}

func (p *page) rollbackInput(v rollbackView, user string) action.RollbackInput {
	return action.RollbackInput{DeploymentID: v.Deployment.ID, Revision: v.Target.Number, Description: v.Description,
		RequestedBy: user, Scope: policy.Scope(v.Scope)}
}

// plan shows the dry run's plan and asks for the typed confirmation.
func (p *page) plan(w http.ResponseWriter, r *http.Request, ss session) {
	v, err := p.rollbackTarget(r, ss)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	res, _, err := p.s.plan(r.Context(), p.rollbackInput(v, ss.User))
	if err != nil {
		status, d := classify(err, p.s.log)
		v.Error = d.Type + ": " + d.Message
		p.render(w, status, "rollback", v)
		return
	}
	v.Plan = &res.Plan
	v.PlanRows, v.PlanNotes = describePlan(res.Plan)
	p.render(w, http.StatusOK, "rollback", v)
}

func describePlan(pl action.RollbackPlan) ([]planRow, []string) {
	dash := func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	}
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	rows := []planRow{
		{"Image", dash(pl.FromImageRef), dash(pl.ToImageRef), pl.FromImageRef+pl.FromImageDigest != pl.ToImageRef+pl.ToImageDigest},
		{"Image digest", dash(pl.FromImageDigest), dash(pl.ToImageDigest), pl.FromImageDigest != pl.ToImageDigest},
		{"Runtime", unknown(pl.FromRuntime), unknown(pl.ToRuntime), pl.FromRuntime != pl.ToRuntime},
		{"Airflow", unknown(pl.FromAirflow), unknown(pl.ToAirflow), pl.FromAirflow != pl.ToAirflow},
		{"DAG bundle", dash(pl.FromBundleVersion), dash(pl.ToBundleVersion), pl.FromBundleVersion != pl.ToBundleVersion},
		{"DAG deploys", onOff(pl.FromDagDeploy), onOff(pl.ToDagDeploy), pl.FromDagDeploy != pl.ToDagDeploy},
	}
	list := func(xs []string) string {
		if len(xs) == 0 {
			return "none"
		}
		return strings.Join(xs, ", ")
	}
	var notes []string
	switch {
	case pl.Downgrade:
		notes = append(notes, "This is a downgrade (R20): every component stops and running tasks fail now (workers killed: "+list(pl.WorkersKilled)+
			"; Airflow retries them on the old code); then the metadata database is downgraded with the current image, and the older image starts (R11, R16).",
			"Point of no return: "+pl.PointOfNoReturn+".")
	case pl.MetadataMigrate:
		notes = append(notes, "This is an Airflow upgrade (R21): "+pl.MigrateNote+". Running tasks finish on the code they started with (workers drained: "+
			list(pl.WorkersDrained)+").", "Point of no return: "+pl.PointOfNoReturn+".")
	case pl.ImageChanges:
		notes = append(notes, "Running tasks finish on the code they started with (workers drained: "+list(pl.WorkersDrained)+"); new tasks start on the rolled-back image (R11).")
	}
	if pl.VersionsUnknown {
		notes = append(notes, "The versions cannot be compared (unknown); allowed, so this is treated as no downgrade (R20).")
	}
	notes = append(notes, "The target is started once and checked before anything changes. Resource settings, environment variables, name and description stay as they are now (R5).")
	return rows, notes
}

func unknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// confirm starts the rollback once the deployment id is typed back. It
// carries the plan that was shown (R15): if a deploy landed since, the
// workflow refuses it with PlanChanged, shown on the progress page, and
// nothing changes.
func (p *page) confirm(w http.ResponseWriter, r *http.Request, ss session) {
	v, err := p.rollbackTarget(r, ss)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	if strings.TrimSpace(r.PostForm.Get("confirm")) != v.Deployment.ID {
		v.Error = "The confirmation did not match the deployment id " + v.Deployment.ID + "; nothing changed."
		p.render(w, http.StatusBadRequest, "rollback", v)
		return
	}
	in := p.rollbackInput(v, ss.User)
	in.ExpectedCurrentRevision, _ = strconv.Atoi(r.PostForm.Get("expectedCurrentRevision"))
	in.PlanDigest = r.PostForm.Get("planDigest")
	if err := in.Validate(); err != nil || in.PlanDigest == "" {
		v.Error = "The confirmation does not carry the plan it confirms; show the plan again. Nothing changed."
		p.render(w, http.StatusBadRequest, "rollback", v)
		return
	}
	run, err := p.s.startRollback(r.Context(), in)
	if err != nil {
		status, d := classify(err, p.s.log)
		v.Error = d.Type + ": " + d.Message
		p.render(w, status, "rollback", v)
		return
	}
	http.Redirect(w, r, "/deployments/"+v.Deployment.ID+"/changes/"+url.PathEscape(run.runID), http.StatusSeeOther)
}

type progressView struct {
	view
	Deployment domain.Deployment
	Title      string
	Progress   *Progress
}

func (p *page) changeProgress(r *http.Request, ss session) (*Progress, domain.Deployment, error) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		return nil, domain.Deployment{}, err
	}
	if err := p.s.canRead(r.Context(), ss.User, id); err != nil {
		return nil, domain.Deployment{}, err
	}
	d, err := p.s.opts.Store.GetDeployment(r.Context(), id)
	if err != nil {
		return nil, d, err
	}
	pr, err := p.s.progressOf(r.Context(), ss.User, action.ChangeWorkflowID(id), r.PathValue("runId"))
	return pr, d, err
}

func (p *page) progress(w http.ResponseWriter, r *http.Request, ss session) {
	pr, d, err := p.changeProgress(r, ss)
	if err != nil {
		p.fail(w, ss, err)
		return
	}
	title := "Change of " + d.ID
	if pr.Progress != nil {
		switch pr.Progress.Kind {
		case action.KindRollback:
			title = "Rollback of " + d.ID
		case action.KindDeploy:
			title = "Deploy to " + d.ID
		}
		if pr.Progress.Revision > 0 {
			title += fmt.Sprintf(" (revision %d)", pr.Progress.Revision)
		}
	}
	p.render(w, http.StatusOK, "progress", progressView{view{User: ss.User, CSRF: ss.CSRF}, d, title, pr})
}

func (p *page) progressJSON(w http.ResponseWriter, r *http.Request, ss session) {
	pr, _, err := p.changeProgress(r, ss)
	if err != nil {
		writeError(w, p.s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, pr)
}
