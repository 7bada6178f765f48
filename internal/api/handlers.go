package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// decodeBody reads a JSON object strictly: unknown fields (such as a
// requestedBy, which always comes from the token) and trailing data are
// InvalidInput; an empty body is an empty object.
func decodeBody(r *http.Request, v any) error {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return err // *http.MaxBytesError: 413
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return domain.Errorf(domain.InvalidInput, "field %q has the wrong JSON type (%s)", te.Field, te.Value)
		}
		return domain.Errorf(domain.InvalidInput, "request body is not valid JSON for this endpoint: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.InvalidInput, "request body has data after the JSON object")
	}
	return nil
}

func intParam(v, name string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, domain.Errorf(domain.InvalidInput, "%s must be an integer, not %q", name, clipText(v, 40))
	}
	return n, nil
}

// canRead is action's read check (Actor.mayRead), for the routes that
// read what they show themselves: history, progress, metrics, the page.
func (s *Server) canRead(ctx context.Context, user, deploymentID string) error {
	return action.MayRead(ctx, s.opts.Store, action.Actor{User: user, Verified: true}, deploymentID)
}

// history is action.History behind the read check.
func (s *Server) history(ctx context.Context, user, id string, limit, before int) ([]domain.Revision, error) {
	if err := domain.CheckDeploymentID(id); err != nil {
		return nil, err
	}
	if err := s.canRead(ctx, user, id); err != nil {
		return nil, err
	}
	h := action.History{Store: s.opts.Store, Limit: limit, Before: before}
	return h.Run(ctx, id)
}

// deployRequest is DeployInput without requestedBy: the token's user is it.
type deployRequest struct {
	ImageRef         string            `json:"imageRef,omitempty"`
	DagBundleVersion string            `json:"dagBundleVersion,omitempty"`
	DagBundleDigest  string            `json:"dagBundleDigest,omitempty"`
	Description      string            `json:"description,omitempty"`
	Type             domain.DeployType `json:"type,omitempty"`
	// As `rewind deploy` takes them (the remote CLI sends them).
	Git    *domain.GitInfo `json:"git,omitempty"`
	Force  bool            `json:"force,omitempty"`
	DryRun bool            `json:"dryRun,omitempty"`
	Diff   bool            `json:"diff,omitempty"`
	// AllowUnknownVersion: deploy an image whose Airflow version cannot be
	// determined (R20), recorded on the revision.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
}

// started is the 202 answer: the change's workflow and where to follow it.
type started struct {
	WorkflowID  string               `json:"workflowId"`
	RunID       string               `json:"runId"`
	ProgressURL string               `json:"progressUrl"`
	Plan        *action.RollbackPlan `json:"plan,omitempty"`
}

func progressURL(workflowID, runID string) string {
	p := "/api/v1/workflows/" + url.PathEscape(workflowID) + "/progress"
	if id, ok := strings.CutPrefix(workflowID, "change/"); ok && domain.CheckDeploymentID(id) == nil {
		p = "/api/v1/workflows/change/" + id + "/progress"
	}
	return p + "?runId=" + url.QueryEscape(runID)
}

func (s *Server) createDeploy(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body deployRequest
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	act := action.Deploy{Config: s.opts.Config, Store: s.opts.Store, Temporal: s.opts.Temporal, Input: action.DeployInput{
		DeploymentID: id, ImageRef: body.ImageRef, DagBundleVersion: body.DagBundleVersion, DagBundleDigest: body.DagBundleDigest,
		Description: body.Description, RequestedBy: user, Type: body.Type, Git: body.Git, Force: body.Force, DryRun: body.DryRun, Diff: body.Diff,
		AllowUnknownVersion: body.AllowUnknownVersion}}
	run, err := act.Run(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started{WorkflowID: run.GetID(), RunID: run.GetRunID(), ProgressURL: progressURL(run.GetID(), run.GetRunID())})
}

type rollbackRequest struct {
	Description string       `json:"description"`
	Scope       policy.Scope `json:"scope,omitempty"`
	DryRun      bool         `json:"dryRun,omitempty"`
	// From the dry run the caller confirmed (R15): the rollback is refused
	// with PlanChanged (409) when the plan differs now.
	ExpectedCurrentRevision int    `json:"expectedCurrentRevision,omitempty"`
	PlanDigest              string `json:"planDigest,omitempty"`
	// Diff adds the unified diff of changed DAG text files to the plan.
	Diff bool `json:"diff,omitempty"`
	// AllowUnknownVersion: roll back though the versions cannot be
	// compared (R20), recorded on the revision.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
}

// planned is the 200 answer to a dry run.
type planned struct {
	DryRun     bool                `json:"dryRun"`
	WorkflowID string              `json:"workflowId"`
	RunID      string              `json:"runId"`
	Plan       action.RollbackPlan `json:"plan"`
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request, user string) {
	id := r.PathValue("id")
	if err := domain.CheckDeploymentID(id); err != nil {
		writeError(w, s.log, err)
		return
	}
	rev, err := strconv.Atoi(r.PathValue("revision"))
	if err != nil {
		writeError(w, s.log, domain.Errorf(domain.InvalidInput, "revision must be a revision number, not %q", clipText(r.PathValue("revision"), 40)))
		return
	}
	var body rollbackRequest
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	in := action.RollbackInput{DeploymentID: id, Revision: rev, Description: body.Description, RequestedBy: user, Scope: body.Scope,
		ExpectedCurrentRevision: body.ExpectedCurrentRevision, PlanDigest: body.PlanDigest, Diff: body.Diff, AllowUnknownVersion: body.AllowUnknownVersion}
	res, dry, err := s.plan(r.Context(), in)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if body.DryRun {
		writeJSON(w, http.StatusOK, planned{DryRun: true, WorkflowID: dry.workflowID, RunID: dry.runID, Plan: res.Plan})
		return
	}
	// The plan just computed is what starts, carrying what the caller
	// confirmed when it sent it (else the plan itself): a deploy landing
	// between this plan and the rollback is refused, not silently run.
	confirmed := action.Confirmed(in, res)
	if body.PlanDigest != "" {
		confirmed.ExpectedCurrentRevision, confirmed.PlanDigest = body.ExpectedCurrentRevision, body.PlanDigest
	}
	run, err := s.startRollback(r.Context(), confirmed)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started{WorkflowID: run.workflowID, RunID: run.runID, ProgressURL: progressURL(run.workflowID, run.runID), Plan: &res.Plan})
}

type runRef struct{ workflowID, runID string }

// plan runs the rollback as a dry run (under its own plan id: it holds no
// lock) and waits for it: the workflow applies every rule (R6–R10, R15) on
// current data with the worker's settings, so a refusal reaches the caller
// synchronously, with its type, and nothing is recorded. It is what
// `rewind rollback` shows before asking.
func (s *Server) plan(ctx context.Context, in action.RollbackInput) (action.RollbackResult, runRef, error) {
	in.DryRun = true
	if err := in.Validate(); err != nil {
		return action.RollbackResult{}, runRef{}, err
	}
	act := action.Rollback{Config: s.opts.Config, Store: s.opts.Store, Temporal: s.opts.Temporal, Input: in}
	res, run, err := act.Plan(ctx, s.opts.PlanTimeout)
	ref := runRef{}
	if run != nil {
		ref = runRef{run.GetID(), run.GetRunID()}
	}
	var nw *action.NoWorkerError
	if errors.As(err, &nw) {
		return res, ref, &unavailableError{Msg: nw.Error()}
	}
	return res, ref, err
}

// startRollback starts the real rollback. The workflow checks every rule
// again, so a change since the plan (a revoked grant) still refuses,
// asynchronously; a changed plan is refused with PlanChanged.
func (s *Server) startRollback(ctx context.Context, in action.RollbackInput) (runRef, error) {
	in.DryRun = false
	act := action.Rollback{Config: s.opts.Config, Store: s.opts.Store, Temporal: s.opts.Temporal, Input: in}
	run, err := act.Run(ctx)
	if err != nil {
		return runRef{}, err
	}
	return runRef{run.GetID(), run.GetRunID()}, nil
}

// Progress is the answer of the progress endpoint, read by action.ReadProgress.
type Progress = action.Progress

// PendingActivity is one activity of a Progress running or waiting now.
type PendingActivity = action.PendingActivity

func (s *Server) progress(w http.ResponseWriter, r *http.Request, user string) {
	wf := r.PathValue("workflowId")
	if id := r.PathValue("id"); id != "" {
		wf = action.ChangeWorkflowID(id)
	}
	p, err := s.progressOf(r.Context(), user, wf, r.URL.Query().Get("runId"))
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// progressOf reads a workflow's progress the way `rewind watch` does. The
// caller needs read access to the workflow's deployment (its
// RewindDeployment search attribute, or the id of change/<deployment>).
func (s *Server) progressOf(ctx context.Context, user, workflowID, runID string) (*Progress, error) {
	if workflowID == "" || len(workflowID) > 255 || strings.ContainsAny(workflowID, "\x00\r\n") {
		return nil, domain.Errorf(domain.InvalidInput, "workflow id must be 1-255 printable characters")
	}
	if len(runID) > 64 {
		return nil, domain.Errorf(domain.InvalidInput, "runId is too long")
	}
	// The deployment comes from the id, and the caller's right to read it
	// is checked before Temporal is asked anything (issue 26): a caller
	// cannot learn which workflows exist, or anything Temporal says, about
	// deployments it cannot read.
	dep := action.DeploymentOfWorkflow(workflowID)
	if dep == "" {
		return nil, domain.Errorf(domain.NotFound, "workflow %s is not a change, plan or bake of a deployment (they run as change/<deployment>, plan/<deployment>/…, bake/<deployment>)", workflowID)
	}
	if err := s.canRead(ctx, user, dep); err != nil {
		return nil, err
	}
	return (&action.ReadProgress{Temporal: s.opts.Temporal, DataConverter: s.opts.DataConverter, Log: s.log}).Run(ctx, workflowID, runID)
}

func clipText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
