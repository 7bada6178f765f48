package eslog

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Exporter writes events to their store. Export is idempotent: exporting
// the same events again, completely or partly, leaves each event stored
// exactly once. An error means some events may not be stored yet; calling
// Export again with the same events is always safe. A *PermanentError means
// retrying cannot help (the store rejected the documents); any other error
// is worth retrying with backoff.
type Exporter interface {
	Export(ctx context.Context, events []Event) error
}

// ItemFailure is one event the store refused.
type ItemFailure struct {
	Event  Event
	Status int    // HTTP status of the bulk item; 0 when there was none
	Reason string // the store's error type and reason
}

func (f ItemFailure) String() string {
	return fmt.Sprintf("event %s (%s/%s seq %d): status %d: %s", f.Event.ID(), f.Event.WorkflowID, f.Event.RunID, f.Event.Seq, f.Status, f.Reason)
}

// PermanentError is returned when documents were rejected for reasons a
// retry will not fix: mapping errors, other 4xx item statuses, invalid
// events. The activity should fail without retrying (a non-retryable
// Temporal application error) after saving Failures elsewhere, for
// instance with the NDJSON exporter, so that nothing is lost.
type PermanentError struct {
	Failures []ItemFailure
}

func (e *PermanentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "eslog: %d event(s) rejected permanently", len(e.Failures))
	for i, f := range e.Failures {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failures)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(f.String())
	}
	return b.String()
}

// IsPermanent reports whether err (or an error it wraps) is a
// *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// validate checks every event and that no two events share an id with
// different content-defining keys (which would mean the caller reused a
// sequence number).
func validate(events []Event) error {
	var failures []ItemFailure
	for _, e := range events {
		if err := e.Validate(); err != nil {
			failures = append(failures, ItemFailure{Event: e, Reason: err.Error()})
		}
	}
	if len(failures) > 0 {
		return &PermanentError{Failures: failures}
	}
	return nil
}
