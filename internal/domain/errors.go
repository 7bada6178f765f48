package domain

import (
	"errors"
	"fmt"
)

// ErrorType is one of the stable error types of SPEC §3. Callers (scripts,
// the HTTP API, the Temporal UI) match on these strings, so they never change.
type ErrorType string

const (
	InvalidInput         ErrorType = "InvalidInput"
	NotFound             ErrorType = "NotFound"
	PermissionDenied     ErrorType = "PermissionDenied"
	OutsideRetention     ErrorType = "OutsideRetention"
	RuntimeTooOld        ErrorType = "RuntimeTooOld"
	UnsupportedDagSource ErrorType = "UnsupportedDagSource"
	RollbacksDisabled    ErrorType = "RollbacksDisabled"
	ChangeInProgress     ErrorType = "ChangeInProgress"
	DigestMismatch       ErrorType = "DigestMismatch"
	UnsafeBundle         ErrorType = "UnsafeBundle"
	// Added to SPEC §3's list since the first release.
	PlanChanged  ErrorType = "PlanChanged" // R15: the plan now differs from the one confirmed
	RegistryAuth ErrorType = "RegistryAuth"
	RolledBack   ErrorType = "RolledBack"
	// Unhealthy: a change's new containers did not come up within the
	// health timeout and its bounded attempts; PreflightFailed: the target
	// image (and DAGs) failed the start check before anything changed.
	Unhealthy       ErrorType = "Unhealthy"
	PreflightFailed ErrorType = "PreflightFailed"
	// Not in SPEC §3's list, added (never renamed): a create that finds the
	// thing there, and a change to a record in a state that forbids it.
	AlreadyExists ErrorType = "AlreadyExists"
	InvalidState  ErrorType = "InvalidState"
	// MigrationFailed: the metadata migration of an upgrade ran and exited
	// non-zero (R21); running it again is not a retry's job.
	MigrationFailed ErrorType = "MigrationFailed"

	// Errors only a client of rewind serve meets (the API's, and the
	// remote CLI's through it), beside SPEC §3's.
	Unauthenticated ErrorType = "Unauthenticated" // no token, a wrong, revoked or expired one
	RequestTooLarge ErrorType = "RequestTooLarge"
	Unavailable     ErrorType = "Unavailable" // Temporal or a worker did not answer in time
	TooManyRequests ErrorType = "TooManyRequests"
	Internal        ErrorType = "Internal" // the server log has the details
)

// Error is a refusal a caller can act on. It is never worth retrying: the
// activity layer turns it into a non-retryable Temporal application error.
type Error struct {
	Type    ErrorType
	Message string
}

func (e *Error) Error() string { return e.Message }

func Errorf(t ErrorType, format string, args ...any) error {
	return &Error{Type: t, Message: fmt.Sprintf(format, args...)}
}

// TypeOf returns the refusal type of err, or "" for an ordinary failure.
func TypeOf(err error) ErrorType {
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return ""
}

// ErrorDetail is an error as every client of rewind receives it (the API's
// error body, a change's failure in its progress): its type, one of those
// above or an HTTP-only one, and a message fit to show. A change already
// in progress names its workflow and run.
type ErrorDetail struct {
	Type       string `json:"type"`
	Message    string `json:"message"`
	WorkflowID string `json:"workflowId,omitempty"`
	RunID      string `json:"runId,omitempty"`
}
