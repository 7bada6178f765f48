package api

import (
	"context"
	"net/http"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
)

// The retention cleanup and the test notification for the remote CLI
// (`rewind cleanup`, `rewind notify test`). Both are administration: a
// cleanup deletes history and artifacts, a test notification reaches every
// webhook. Each route checks system.admin before it reads the body or asks
// Temporal anything, so a refusal starts, changes and discloses nothing.

func (s *Server) cleanupStatus(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "read the cleanup's status"); err != nil {
		writeError(w, s.log, err)
		return
	}
	rows, err := action.CleanupStatus(r.Context(), s.opts.Temporal, s.opts.Store)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) cleanupNow(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "run a cleanup"); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := decodeBody(r, &struct{}{}); err != nil {
		writeError(w, s.log, err)
		return
	}
	st, err := action.TriggerCleanup(r.Context(), s.opts.Temporal)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("cleanup triggered", "workflow", st.WorkflowID, "by", user)
	writeJSON(w, http.StatusAccepted, st)
}

func (s *Server) cleanupRun(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "read a cleanup"); err != nil {
		writeError(w, s.log, err)
		return
	}
	id := r.PathValue("workflowId")
	if id == "" || len(id) > 255 {
		writeError(w, s.log, domain.Errorf(domain.InvalidInput, "workflow id must be 1-255 characters"))
		return
	}
	run, err := action.CleanupRunOf(r.Context(), s.opts.Temporal, id)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (s *Server) cleanupResetSchedule(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "rewrite the cleanup schedule"); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := decodeBody(r, &struct{}{}); err != nil {
		writeError(w, s.log, err)
		return
	}
	res, err := action.ResetCleanupSchedule(r.Context(), s.opts.Temporal, s.opts.Config)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("cleanup schedule rewritten", "cron", res.Cron, "enabled", res.Enabled, "by", user)
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) cleanupRelease(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "release what cleanup set aside"); err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := decodeBody(r, &struct{}{}); err != nil {
		writeError(w, s.log, err)
		return
	}
	n, err := s.opts.Store.ReleaseGarbage(r.Context())
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("set-aside artifacts released", "count", n, "by", user)
	writeJSON(w, http.StatusOK, map[string]int{"released": n})
}

// notifyTestTimeout bounds the wait for a test delivery, under the
// server's write timeout (2 minutes).
const notifyTestTimeout = 90 * time.Second

func (s *Server) notifyTest(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "send test notifications"); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body struct {
		DeploymentID string `json:"deploymentId,omitempty"`
	}
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), notifyTestTimeout)
	defer cancel()
	res, err := action.NotifyTest(ctx, s.opts.Config, s.opts.Temporal, body.DeploymentID, user)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("test notification sent", "workflow", res.WorkflowID, "delivered", res.Delivered, "by", user)
	writeJSON(w, http.StatusOK, res)
}
