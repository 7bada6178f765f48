package eslog

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestEventIDIsDeterministic(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a := rollbackEvents("change/d1", "run-1", start, 3)
	b := rollbackEvents("change/d1", "run-1", start.Add(time.Hour), 3) // same keys, other content
	b[1].Message, b[1].Attempt = "different", 9
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i := range a {
		if a[i].ID() != b[i].ID() {
			t.Fatalf("seq %d: id depends on more than workflow id, run id and seq: %s vs %s", i, a[i].ID(), b[i].ID())
		}
		if !hex64.MatchString(a[i].ID()) {
			t.Fatalf("id %q is not 64 hex digits (URL-safe)", a[i].ID())
		}
	}
	if a[0].ID() == a[1].ID() {
		t.Fatal("seq 0 and seq 1 share an id")
	}
	ids := map[string]string{}
	for _, k := range [][3]any{
		{"change/d1", "run-1", 0}, {"change/d1", "run-2", 0}, {"change/d2", "run-1", 0},
		// Concatenation ambiguities must not collide.
		{"a/b", "c", 1}, {"a", "b/c", 1}, {"ab", "c", 1}, {"a", "bc", 1}, {"a", "b1", 1}, {"a", "b", 11},
	} {
		e := Event{WorkflowID: k[0].(string), RunID: k[1].(string), Seq: k[2].(int)}
		key := strings.Join([]string{k[0].(string), k[1].(string)}, "|")
		if prev, dup := ids[e.ID()]; dup {
			t.Fatalf("%v and %s share id %s", k, prev, e.ID())
		}
		ids[e.ID()] = key
	}
	// Pinned: the id is part of the stored data; changing the derivation
	// would duplicate every event exported before the change.
	if got := (Event{WorkflowID: "change/d1", RunID: "r1", Seq: 2}).ID(); got != pinnedID {
		t.Fatalf("id derivation changed: got %s, want %s", got, pinnedID)
	}
}

const pinnedID = "bde5bdbd84c26cc7961f8d2cce5fb197c44f8edd8004aff1abcfd2aca2186452"

func TestIndexNameUsesEventDayInUTC(t *testing.T) {
	zone := time.FixedZone("CEST", 2*3600)
	e := Event{Timestamp: time.Date(2026, 1, 2, 1, 30, 0, 0, zone)} // 2026-01-01T23:30Z
	if got := e.IndexName(""); got != "rewind-logs-2026.01.01" {
		t.Fatalf("IndexName = %s, want rewind-logs-2026.01.01", got)
	}
	if got := e.IndexName("ops-rewind"); got != "ops-rewind-2026.01.01" {
		t.Fatalf("IndexName = %s", got)
	}
}

func TestDocumentFormat(t *testing.T) {
	e := rollbackEvents("change/d1", "run-1", time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600)), 1)[0]
	e.Error = ""
	doc, err := e.Document()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	if m["@timestamp"] != "2026-01-02T02:04:05.123Z" {
		t.Fatalf("@timestamp = %v, want UTC with milliseconds", m["@timestamp"])
	}
	for _, k := range []string{"deployment", "workflowId", "runId", "kind", "step", "attempt", "level", "message", "seq", "revision", "rollbackOf", "imageRef", "imageDigest", "dagBundleVersion", "requestedBy"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("document lacks %q: %s", k, doc)
		}
	}
	if _, ok := m["error"]; ok {
		t.Fatalf("empty optional field written: %s", doc)
	}
	if len(m) != 16 {
		t.Fatalf("document has %d fields, want 16: %s", len(m), doc)
	}
	var back Event
	if err := json.Unmarshal(doc, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(e.Timestamp.Truncate(time.Millisecond)) || back.ID() != e.ID() || back.Message != e.Message {
		t.Fatalf("document does not decode back into the event: %+v", back)
	}
}

func TestValidateRefusesIncompleteEvents(t *testing.T) {
	good := rollbackEvents("change/d1", "run-1", time.Now(), 1)[0]
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Event){
		"no time": func(e *Event) { e.Timestamp = time.Time{} },
		"no wf":   func(e *Event) { e.WorkflowID = "" },
		"no run":  func(e *Event) { e.RunID = "" },
		"kind":    func(e *Event) { e.Kind = "deploys" },
		"level":   func(e *Event) { e.Level = "debug" },
		"seq":     func(e *Event) { e.Seq = -1 },
		"step":    func(e *Event) { e.Step = "" },
	} {
		e := good
		mut(&e)
		if e.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, e)
		}
		err := validate([]Event{good, e})
		if !IsPermanent(err) {
			t.Errorf("%s: validate = %v, want a PermanentError", name, err)
		}
	}
}
