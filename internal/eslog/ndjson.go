package eslog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File exports events to NDJSON files when no Elasticsearch is configured
// (the embedded default). Each workflow run gets one file,
//
//	<dir>/<workflow id, escaped>/<run id>.ndjson
//
// holding the run's events in bulk-API form, ordered by seq: an action line
// {"create":{"_index":"<prefix>-YYYY.MM.DD","_id":"<event id>"}} followed
// by the same document the Elasticsearch exporter sends. Any file, or all
// of them concatenated, is a valid _bulk request body, so loading them into
// Elasticsearch later is one command (docs/logs.md), and loading twice
// duplicates nothing (create, same ids).
//
// Idempotency and crash safety: Export merges the events into the run's
// file under an exclusive flock on the run's directory (other exporters in
// this or another process on the same machine wait), keeping documents
// already in the file (first write wins, like create), writes the merged
// file to a temporary name, fsyncs it and renames it over the old one. A
// crash at any point leaves either the old or the new complete file, never
// a torn line; a stray temporary file is ignored and replaced next time.
//
// <dir>/index-template.json (TemplateFile) holds the index template to put
// into Elasticsearch before loading the files.
type File struct {
	dir    string
	prefix string
}

// DefaultLogDir is the events directory under the data directory.
func DefaultLogDir(dataDir string) string { return filepath.Join(dataDir, "logs", "events") }

// NewFile exports into dir (see DefaultLogDir). indexPrefix names the
// indices in the action lines; empty means DefaultIndexPrefix.
func NewFile(dir, indexPrefix string) (*File, error) {
	if dir == "" {
		return nil, errors.New("eslog: no directory for the NDJSON event files")
	}
	if indexPrefix == "" {
		indexPrefix = DefaultIndexPrefix
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("eslog: %w", err)
	}
	return &File{dir: abs, prefix: indexPrefix}, nil
}

// Dir is the directory the files are written under.
func (f *File) Dir() string { return f.dir }

// Path is the file that holds a run's events.
func (f *File) Path(workflowID, runID string) string {
	return filepath.Join(f.dir, escapeName(workflowID), escapeName(runID)+".ndjson")
}

// escapeName makes an id a single, reversible path element: bytes outside
// [A-Za-z0-9._-] become %XX, and a leading dot is escaped too.
func escapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0
		if ok {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// BulkAction is the action line written before each document.
type BulkAction struct {
	Create struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	} `json:"create"`
}

type runKey struct{ workflowID, runID string }

// TemplateFile is written next to the run directories: the index template
// (Template) as JSON, to PUT into Elasticsearch before loading the files so
// that the indices get rewind's mappings (docs/logs.md).
const TemplateFile = "index-template.json"

// writeTemplate writes TemplateFile unless it exists with this content.
func (f *File) writeTemplate() error {
	b, err := json.MarshalIndent(Template(f.prefix), "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	path := filepath.Join(f.dir, TemplateFile)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("eslog: %w", err)
	}
	return writeAtomic(path, b)
}

// Export implements Exporter.
func (f *File) Export(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := validate(events); err != nil {
		return err
	}
	if err := f.writeTemplate(); err != nil {
		return err
	}
	runs := map[runKey][]Event{}
	var keys []runKey
	for _, e := range events {
		k := runKey{e.WorkflowID, e.RunID}
		if _, ok := runs[k]; !ok {
			keys = append(keys, k)
		}
		runs[k] = append(runs[k], e)
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f.exportRun(k, runs[k]); err != nil {
			return err
		}
	}
	return nil
}

// entry is one action+document pair of a file.
type entry struct {
	id   string
	seq  int
	line []byte // action line and document line, each ending in \n
}

func (f *File) exportRun(k runKey, events []Event) error {
	path := f.Path(k.workflowID, k.runID)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eslog: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fmt.Errorf("eslog: lock %s: %w", dir, err)
	}
	defer unlock()

	existing, err := readEntries(path)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(existing))
	for _, e := range existing {
		have[e.id] = true
	}
	added := 0
	for _, e := range events {
		id := e.ID()
		if have[id] {
			continue
		}
		line, err := f.entryLines(e)
		if err != nil {
			return err
		}
		have[id] = true
		existing = append(existing, entry{id: id, seq: e.Seq, line: line})
		added++
	}
	if added == 0 {
		return nil // everything was exported before: leave the file alone
	}
	sort.SliceStable(existing, func(i, j int) bool { return existing[i].seq < existing[j].seq })
	var buf bytes.Buffer
	for _, e := range existing {
		buf.Write(e.line)
	}
	return writeAtomic(path, buf.Bytes())
}

func (f *File) entryLines(e Event) ([]byte, error) {
	var a BulkAction
	a.Create.Index = e.IndexName(f.prefix)
	a.Create.ID = e.ID()
	al, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	doc, err := e.Document()
	if err != nil {
		return nil, &PermanentError{Failures: []ItemFailure{{Event: e, Reason: err.Error()}}}
	}
	out := make([]byte, 0, len(al)+len(doc)+2)
	out = append(append(append(append(out, al...), '\n'), doc...), '\n')
	return out, nil
}

// readEntries parses a run file. A missing file is empty. A file that does
// not parse is an error, not something to overwrite: it is only ever
// replaced whole, so damage means someone else wrote it.
func readEntries(path string) ([]entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("eslog: %w", err)
	}
	var out []entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		actionLine := append([]byte(nil), sc.Bytes()...)
		if len(bytes.TrimSpace(actionLine)) == 0 {
			continue
		}
		var a BulkAction
		if err := json.Unmarshal(actionLine, &a); err != nil || a.Create.ID == "" {
			return nil, fmt.Errorf("eslog: %s line %d: not a create action line", path, n)
		}
		if !sc.Scan() {
			return nil, fmt.Errorf("eslog: %s line %d: action without a document", path, n)
		}
		n++
		docLine := sc.Bytes()
		var d struct {
			Seq int `json:"seq"`
		}
		if err := json.Unmarshal(docLine, &d); err != nil {
			return nil, fmt.Errorf("eslog: %s line %d: %v", path, n, err)
		}
		line := make([]byte, 0, len(actionLine)+len(docLine)+2)
		line = append(append(append(append(line, actionLine...), '\n'), docLine...), '\n')
		out = append(out, entry{id: a.Create.ID, seq: d.Seq, line: line})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("eslog: %s: %w", path, err)
	}
	return out, nil
}

// writeAtomic replaces path with data: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("eslog: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("eslog: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("eslog: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("eslog: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("eslog: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("eslog: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
