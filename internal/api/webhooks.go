package api

import (
	"net/http"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/notify"
	"github.com/rewindhq/rewind/internal/store"
)

// Webhooks (`rewind notify` through the remote CLI) are administration:
// they receive every change's notifications, so each route needs
// system.admin first. A webhook's secret comes in with its creation and
// never goes out (store.Webhook does not marshal it).

type webhookRequest struct {
	DeploymentID string   `json:"deploymentId,omitempty"`
	URL          string   `json:"url"`
	Secret       string   `json:"secret"`
	Events       []string `json:"events,omitempty"`
}

func (s *Server) addWebhook(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "add webhooks"); err != nil {
		writeError(w, s.log, err)
		return
	}
	var body webhookRequest
	if err := decodeBody(r, &body); err != nil {
		writeError(w, s.log, err)
		return
	}
	hook, err := action.AddWebhook(r.Context(), s.opts.Store, notify.NewEgress(s.opts.Config.WebhookAllowHosts), body.DeploymentID, body.URL, body.Secret, body.Events)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("webhook added", "webhook", hook.ID, "deployment", hook.DeploymentID, "by", user)
	writeJSON(w, http.StatusCreated, hook)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "list webhooks"); err != nil {
		writeError(w, s.log, err)
		return
	}
	hooks, err := s.opts.Store.Webhooks(r.Context(), "*")
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if hooks == nil {
		hooks = []store.Webhook{}
	}
	writeJSON(w, http.StatusOK, hooks)
}

func (s *Server) removeWebhook(w http.ResponseWriter, r *http.Request, user string) {
	if err := s.requireAdmin(r.Context(), user, "remove webhooks"); err != nil {
		writeError(w, s.log, err)
		return
	}
	id := r.PathValue("webhookId")
	if err := s.opts.Store.DeleteWebhook(r.Context(), id); err != nil {
		writeError(w, s.log, err)
		return
	}
	s.log.Info("webhook removed", "webhook", id, "by", user)
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "removed": "true"})
}
