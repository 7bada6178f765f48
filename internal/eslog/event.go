// Package eslog exports the structured step events of rewind's workflows
// (SPEC R13): every step of every deploy, rollback and cleanup, with the
// workflow and run ids, to Elasticsearch, or to NDJSON files under the data
// directory when no Elasticsearch is configured.
//
// Both exporters are idempotent: an event's document id is derived from its
// workflow id, run id and sequence number, documents are written with the
// bulk "create" action, and a document that already exists counts as
// exported. A Temporal activity can therefore retry an export for as long as
// Elasticsearch is down without losing or duplicating an event. See
// docs/logs.md.
package eslog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Kind is the kind of workflow an event belongs to.
type Kind string

// The workflow kinds (SPEC §3, search attribute RewindKind).
const (
	KindDeploy   Kind = "deploy"
	KindRollback Kind = "rollback"
	KindCleanup  Kind = "cleanup"
	// Added since: a configuration change (deployment update --apply) and
	// the bake of a deploy (automatic rollback).
	KindConfig Kind = "config"
	KindBake   Kind = "bake"
)

// Level is an event's severity.
type Level string

// The levels.
const (
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// DefaultIndexPrefix names the daily indices: <prefix>-YYYY.MM.DD.
const DefaultIndexPrefix = "rewind-logs"

// TimestampLayout is how @timestamp is written in documents: UTC with
// milliseconds, which Elasticsearch's default date format
// (strict_date_optional_time) and ZincSearch both parse.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// Event is one structured step event of a workflow run. Workflows build
// them from workflow time (workflow.Now) and their own counters, never the
// wall clock, so replays produce the same events.
//
// The JSON form (camelCase, @timestamp) is the document stored in
// Elasticsearch and in the NDJSON files; Document renders it.
type Event struct {
	Timestamp  time.Time `json:"@timestamp"`
	Deployment string    `json:"deployment,omitempty"` // empty for cleanup runs that span deployments
	WorkflowID string    `json:"workflowId"`
	RunID      string    `json:"runId"`
	Kind       Kind      `json:"kind"`
	Step       string    `json:"step"`
	Attempt    int       `json:"attempt"`
	Level      Level     `json:"level"`
	Message    string    `json:"message"`
	// Seq orders the events of one run: 0, 1, 2… It is part of the
	// document id, so it must be stable across replays and retries.
	Seq int `json:"seq"`

	// Optional fields, omitted when zero.
	Revision         int    `json:"revision,omitempty"`
	RollbackOf       int    `json:"rollbackOf,omitempty"`
	ImageRef         string `json:"imageRef,omitempty"`
	ImageDigest      string `json:"imageDigest,omitempty"`
	DagBundleVersion string `json:"dagBundleVersion,omitempty"`
	RequestedBy      string `json:"requestedBy,omitempty"`
	// RequestedByVerified is set once the worker has checked the requester
	// (R18): true when rewind's own client signed it, false when claimed.
	RequestedByVerified *bool  `json:"requestedByVerified,omitempty"`
	Error               string `json:"error,omitempty"`
}

// ID is the event's document id: the hex SHA-256 of workflow id, run id and
// sequence number. It is the same every time the event is built or
// exported, so a retried export finds the document already there instead
// of adding a second one. Hashing keeps the id URL-safe whatever characters
// the workflow id holds (change/<deployment> has a slash).
func (e Event) ID() string {
	h := sha256.New()
	// Length-prefix the strings so that ("a/b","c") and ("a","b/c") differ.
	for _, s := range []string{e.WorkflowID, e.RunID} {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	h.Write([]byte(strconv.Itoa(e.Seq)))
	return hex.EncodeToString(h.Sum(nil))
}

// IndexName is the daily index the event belongs to, <prefix>-YYYY.MM.DD,
// from the event's own time in UTC, never the export time: an export
// retried after midnight must hit the same index to find its documents.
func (e Event) IndexName(prefix string) string {
	if prefix == "" {
		prefix = DefaultIndexPrefix
	}
	return prefix + "-" + e.Timestamp.UTC().Format("2006.01.02")
}

// Validate reports what is missing for the event to be exported. An
// invalid event is a programming error, so exporters refuse it with a
// PermanentError rather than retrying.
func (e Event) Validate() error {
	var errs []error
	if e.Timestamp.IsZero() {
		errs = append(errs, errors.New("@timestamp is zero"))
	}
	if e.WorkflowID == "" {
		errs = append(errs, errors.New("workflowId is empty"))
	}
	if e.RunID == "" {
		errs = append(errs, errors.New("runId is empty"))
	}
	if e.Seq < 0 {
		errs = append(errs, fmt.Errorf("seq %d is negative", e.Seq))
	}
	switch e.Kind {
	case KindDeploy, KindRollback, KindCleanup, KindConfig, KindBake:
	default:
		errs = append(errs, fmt.Errorf("kind %q is not deploy, rollback, cleanup, config or bake", e.Kind))
	}
	switch e.Level {
	case LevelInfo, LevelWarn, LevelError:
	default:
		errs = append(errs, fmt.Errorf("level %q is not info, warn or error", e.Level))
	}
	if e.Step == "" {
		errs = append(errs, errors.New("step is empty"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("event %s/%s/%d: %w", e.WorkflowID, e.RunID, e.Seq, errors.Join(errs...))
}

// document is Event with the timestamp rendered in TimestampLayout.
type document struct {
	Timestamp string `json:"@timestamp"`
	eventAlias
}

// eventAlias drops Event's methods and shadows its timestamp, so that
// document marshals every other field with Event's own tags.
type eventAlias Event

// Document is the JSON document stored for the event, in Elasticsearch and
// in the NDJSON files alike: Event's fields, @timestamp in UTC with
// milliseconds.
func (e Event) Document() ([]byte, error) {
	d := document{Timestamp: e.Timestamp.UTC().Format(TimestampLayout), eventAlias: eventAlias(e)}
	d.eventAlias.Timestamp = time.Time{}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("event %s: encode: %w", e.ID(), err)
	}
	return b, nil
}
