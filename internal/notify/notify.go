// Package notify is what rewind sends to webhooks when changes start and
// end (issue 16): the JSON body, with a Slack-compatible text field, its
// HMAC-SHA256 signature, and an idempotency key the receiver can use to
// take each notification once however often it is retried.
package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Events a webhook can subscribe to.
const (
	Started           = "started"
	Finished          = "finished"
	Failed            = "failed"
	Compensated       = "compensated"
	AutomaticRollback = "automatic-rollback"
	Test              = "test"
)

// Events lists every event, for checks and help.
var Events = []string{Started, Finished, Failed, Compensated, AutomaticRollback, Test}

// Notification is the body of one delivery.
type Notification struct {
	// ID is the idempotency key: the same for every retry of this
	// notification to this webhook.
	ID           string    `json:"id"`
	Event        string    `json:"event"`
	Kind         string    `json:"kind"` // deploy, rollback, config
	DeploymentID string    `json:"deploymentId"`
	Revision     int       `json:"revision,omitempty"`
	RollbackOf   int       `json:"rollbackOf,omitempty"`
	RequestedBy  string    `json:"requestedBy,omitempty"`
	Verified     bool      `json:"requestedByVerified"`
	ImageRef     string    `json:"imageRef,omitempty"`
	Reason       string    `json:"reason,omitempty"`
	WorkflowID   string    `json:"workflowId"`
	RunID        string    `json:"runId"`
	At           time.Time `json:"at"`
	// Text is a one-line summary; with it the body is a valid Slack
	// incoming-webhook message.
	Text string `json:"text"`
}

// Key is the idempotency key of a notification to one webhook.
func Key(workflowID, runID, event, webhookID string) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{workflowID, runID, event, webhookID}, "\x00")))
	return hex.EncodeToString(sum[:16])
}

// Headers of a delivery.
const (
	HeaderSignature   = "X-Rewind-Signature" // sha256=<hex HMAC of "<timestamp>.<body>">
	HeaderTimestamp   = "X-Rewind-Timestamp" // unix seconds
	HeaderIdempotency = "Idempotency-Key"    // Notification.ID
	HeaderEvent       = "X-Rewind-Event"
)

// Sign is the signature header value of a body sent at a time: the
// timestamp is covered so a captured delivery cannot be replayed later.
func Sign(secret string, at time.Time, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "%d.", at.Unix())
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a delivery as a receiver should: the signature over the
// timestamp and body, and a timestamp within tolerance of now.
func Verify(secret, signature, timestamp string, body []byte, now time.Time, tolerance time.Duration) error {
	secs, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("malformed timestamp")
	}
	at := time.Unix(secs, 0)
	if d := now.Sub(at); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance")
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, at, body))) {
		return errors.New("signature does not match")
	}
	return nil
}

// CheckURL refuses what a webhook may not be: anything but http(s), or a
// URL carrying credentials (they would be shown by `rewind notify list`).
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > 2048 {
		return domain.Errorf(domain.InvalidInput, "webhook URL %q is not an http(s) URL", clip(raw))
	}
	if u.User != nil {
		return domain.Errorf(domain.InvalidInput, "webhook URL must not carry credentials; the secret signs each delivery")
	}
	return nil
}

// CheckEvents refuses unknown event names.
func CheckEvents(events []string) error {
	for _, e := range events {
		known := false
		for _, k := range Events {
			known = known || e == k
		}
		if !known {
			return domain.Errorf(domain.InvalidInput, "event %q is not one of %s", clip(e), strings.Join(Events, ", "))
		}
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
