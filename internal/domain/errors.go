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
