package eslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func readRunFile(t *testing.T, path string) (actions []BulkAction, docs [][]byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 0; sc.Scan(); i++ {
		line := append([]byte(nil), sc.Bytes()...)
		if i%2 == 0 {
			var a BulkAction
			if err := json.Unmarshal(line, &a); err != nil {
				t.Fatalf("line %d is not an action: %s", i+1, line)
			}
			actions = append(actions, a)
		} else {
			docs = append(docs, line)
		}
	}
	return actions, docs
}

// The file holds, per event and in seq order, a create action with the
// event's daily index and id, then exactly the document the Elasticsearch
// exporter sends.
func checkRunFile(t *testing.T, f *File, events []Event) {
	t.Helper()
	actions, docs := readRunFile(t, f.Path(events[0].WorkflowID, events[0].RunID))
	if len(actions) != len(events) || len(docs) != len(events) {
		t.Fatalf("file holds %d actions and %d documents, want %d of each", len(actions), len(docs), len(events))
	}
	for i, e := range events {
		if actions[i].Create.ID != e.ID() || actions[i].Create.Index != e.IndexName(f.prefix) {
			t.Fatalf("line %d: action %+v, want create of %s in %s", 2*i+1, actions[i], e.ID(), e.IndexName(f.prefix))
		}
		want, _ := e.Document()
		if !bytes.Equal(docs[i], want) {
			t.Fatalf("line %d:\n got %s\nwant %s", 2*i+2, docs[i], want)
		}
	}
}

func TestFileExportIsIdempotentAndOrdered(t *testing.T) {
	dir := t.TempDir()
	f, err := NewFile(DefaultLogDir(dir), "")
	if err != nil {
		t.Fatal(err)
	}
	events := rollbackEvents("change/d1", "run-file", day, 12)
	ctx := context.Background()
	// Out of order, in overlapping parts, and twice.
	for _, part := range [][]Event{events[5:9], events[0:6], events[8:], events, events[3:4]} {
		if err := f.Export(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	path := f.Path("change/d1", "run-file")
	if want := filepath.Join(dir, "logs", "events", "change%2Fd1", "run-file.ndjson"); path != want {
		t.Fatalf("path %s, want %s", path, want)
	}
	checkRunFile(t, f, events)
	before, _ := os.Stat(path)
	if err := f.Export(ctx, events); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if !after.ModTime().Equal(before.ModTime()) {
		t.Fatal("re-exporting exported events rewrote the file")
	}
	// A stray temporary file from a crashed export is ignored; no other
	// files are left behind.
	if err := os.WriteFile(filepath.Join(filepath.Dir(path), ".run-file.ndjson.tmp-123"), []byte("{torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := rollbackEvents("change/d1", "run-file-2", day, 3)
	if err := f.Export(ctx, append(other, events...)); err != nil {
		t.Fatal(err)
	}
	checkRunFile(t, f, events)
	checkRunFile(t, f, other)
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 3 {
		t.Fatalf("directory holds %d entries, want the two run files and the stray temp file", len(entries))
	}
	var tmpl map[string]any
	if b, err := os.ReadFile(filepath.Join(f.Dir(), TemplateFile)); err != nil || json.Unmarshal(b, &tmpl) != nil || !reflect.DeepEqual(tmpl["index_patterns"], []any{"rewind-logs-*"}) {
		t.Fatalf("index template file: %v, %v", err, tmpl)
	}
	// Invalid events are refused permanently.
	bad := events[0]
	bad.RunID = ""
	if err := f.Export(ctx, []Event{bad}); !IsPermanent(err) {
		t.Fatalf("Export of an invalid event = %v, want a PermanentError", err)
	}
}

// Several exporters (a retried activity overlapping its previous attempt,
// two workers on one machine) write one run at once: the file ends with
// the union, each event once.
func TestFileConcurrentExports(t *testing.T) {
	dir := t.TempDir()
	events := rollbackEvents("change/d1", "run-concurrent", day, 40)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			f, _ := NewFile(dir, "") // one exporter per "worker"
			lo := (w * 5) % 40
			hi := min(lo+12, 40)
			errs <- f.Export(context.Background(), events[lo:hi])
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f, _ := NewFile(dir, "")
	checkRunFile(t, f, events)
}

func TestFileRefusesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	f, _ := NewFile(dir, "")
	events := rollbackEvents("change/d1", "run-damaged", day, 2)
	path := f.Path("change/d1", "run-damaged")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.Export(context.Background(), events); err == nil {
		t.Fatal("Export overwrote a file it cannot read")
	}
	if b, _ := os.ReadFile(path); string(b) != "not json\n" {
		t.Fatalf("damaged file changed: %q", b)
	}
}

func TestEscapeName(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"change/d1", "change%2Fd1", "..", ".x", "a b", "cleanup/2026-01-01", "rewind-cleanup-2026-01-01T03:00:00Z"} {
		e := escapeName(s)
		if e == "" || e == "." || e == ".." || filepath.Base(e) != e || e[0] == '.' {
			t.Fatalf("escapeName(%q) = %q is not a safe path element", s, e)
		}
		if prev, ok := seen[e]; ok {
			t.Fatalf("%q and %q both escape to %q", s, prev, e)
		}
		seen[e] = s
	}
}
