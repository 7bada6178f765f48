package hostile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/rewindhq/rewind/internal/cli"
	"github.com/rewindhq/rewind/internal/clitest"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// env is one stack shared by every case: the dev server, a worker, the
// store they use, `rewind serve` on a test listener, and the deployments,
// users and tokens the cases aim at.
type env struct {
	srv  *itest.Server
	cfg  *config.Config
	st   *store.Store
	http *httptest.Server

	bundle, image, gitsync, moved string // deployment ids
	deps                          []string
	tokens                        map[string]string // user -> bearer token
	revoked                       string
	unsafe                        map[string]string // planted bundle name -> digest
	seq                           int
}

// Users and what they hold on the bundle deployment (the viewer is a viewer
// everywhere, the editor an editor everywhere).
const (
	editor     = "hx-editor"
	imagesOnly = "hx-images"
	dagsOnly   = "hx-dags"
	viewer     = "hx-viewer"
	nobody     = "hx-none"
)

// rewind runs the CLI in process and returns the exit code and its output.
func rewind(args ...string) (int, string, string) {
	r := clitest.Run("", args...)
	return r.Code, r.Out, r.Stderr
}

var mustRewind = clitest.Must

// cliType is the SPEC §3 type of a one-line CLI refusal ("rewind: Type: …"),
// "Usage" for a command-line error (exit 2), "ok" for success.
func cliType(code int, stderr string) string {
	switch code {
	case cli.ExitOK:
		return "ok"
	case cli.ExitUsage:
		return "Usage"
	}
	line := strings.TrimPrefix(strings.TrimSpace(stderr), "rewind: ")
	if typ, _, ok := strings.Cut(line, ": "); ok && !strings.Contains(typ, " ") {
		return typ
	}
	return "untyped: " + clip(line, 80)
}

// temporalRun starts a workflow with the Temporal CLI (input from a file, so
// a megabyte of JSON is not an over-long argument) and returns the type of
// the application error it failed with, "ok" if it succeeded.
func (e *env) temporalRun(t *testing.T, workflowType, input string) (string, string) {
	t.Helper()
	return e.temporalRunOn(t, e.srv.TaskQueue, workflowType, input)
}

// temporalRunOn is temporalRun on a given task queue.
func (e *env) temporalRunOn(t *testing.T, queue, workflowType, input string) (string, string) {
	t.Helper()
	e.seq++
	id := fmt.Sprintf("hostile/%d-%d", e.seq, time.Now().UnixNano())
	f := filepath.Join(t.TempDir(), "input.json")
	if err := os.WriteFile(f, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, itest.TemporalCLI(t), "workflow", "execute", "--address", e.srv.Addr, "--namespace", "default",
		"--type", workflowType, "--task-queue", queue, "--workflow-id", id, "--input-file", f, "--output", "json").CombinedOutput()
	if err == nil {
		return "ok", ""
	}
	if strings.Contains(string(out), `msg="input #1 is not valid JSON"`) {
		// The Temporal CLI checks --input itself: nothing is started.
		return notStarted, clip(string(out), 200)
	}
	werr := e.srv.Client.GetWorkflow(ctx, id, "").Get(ctx, nil)
	var ae *temporal.ApplicationError
	if errors.As(werr, &ae) {
		if !ae.NonRetryable() {
			return "retryable " + ae.Type(), ae.Message()
		}
		return ae.Type(), ae.Message()
	}
	return "untyped", clip(fmt.Sprintf("%v / %s", werr, out), 200)
}

// notStarted is the Temporal CLI refusing malformed JSON before it starts
// anything: rewind never sees the request.
const notStarted = "refused by the Temporal CLI"

type response struct {
	status int
	typ    string
	msg    string
}

// call sends one request to `rewind serve`; body is sent as is. user is a
// battery user (its bearer token) or a raw Authorization value.
func (e *env) call(t *testing.T, method, path, user, contentType string, body []byte) response {
	t.Helper()
	auth := user
	if tok, ok := e.tokens[user]; ok {
		auth = "Bearer " + tok
	}
	r, _ := send(t, e.http.URL, method, path, auth, contentType, body)
	return r
}

// send sends one request to the server at base and returns its error
// type and message, and its headers.
func send(t *testing.T, base, method, path, auth, contentType string, body []byte) (response, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// The path is sent exactly as written (escapes included).
	req.URL.Opaque = "//" + req.URL.Host + path
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, raw := do(t, req)
	var b struct {
		Error struct{ Type, Message string } `json:"error"`
	}
	if json.Unmarshal(raw, &b) != nil || b.Error.Type == "" || b.Error.Message == "" {
		return response{res.StatusCode, "not an error body", clip(string(raw), 120)}, res.Header
	}
	return response{res.StatusCode, b.Error.Type, b.Error.Message}, res.Header
}

// do sends req without following redirects and reads the whole answer.
func do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res, raw
}

// snapshot is everything a refused request must leave as it was.
type snapshot struct {
	deployments map[string]string            // id -> settings JSON
	revisions   map[string][]domain.Revision // id -> full history
	grants      []string
	tokens      []string
	sessions    []string // page sign-ins: a replayed cookie must not revive one
	containers  []string
	bundles     []string
	// admin is what the administration routes would change: the cleanup
	// schedule (state, runs started), the garbage set aside and the
	// cleanup and notification workflows started.
	admin []string
}

func (e *env) snapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	s := snapshot{deployments: map[string]string{}, revisions: map[string][]domain.Revision{}}
	deps, err := e.st.ListDeployments(ctx, "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deps {
		raw, _ := json.Marshal(d)
		s.deployments[d.ID] = string(raw)
		revs, err := e.st.ListRevisions(ctx, d.ID, 100000, 0)
		if err != nil {
			t.Fatal(err)
		}
		s.revisions[d.ID] = revs
	}
	rows, err := e.st.DB().QueryContext(ctx, `SELECT username, deployment_id, kind, name FROM grants ORDER BY 1, 2, 3, 4`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, b, c, d string
		if err := rows.Scan(&a, &b, &c, &d); err != nil {
			t.Fatal(err)
		}
		s.grants = append(s.grants, strings.Join([]string{a, b, c, d}, "|"))
	}
	rows.Close()
	toks, err := e.st.ListTokens(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		raw, _ := json.Marshal(tk)
		s.tokens = append(s.tokens, string(raw))
	}
	sort.Strings(s.tokens)
	s.sessions = e.sessions(t)
	s.admin = e.adminState(t)
	out, err := exec.Command("docker", "ps", "-a", "--no-trunc", "--filter", "label=rewind.deployment",
		"--format", `{{.ID}} {{.Names}} {{.State}} {{.Image}} {{.Label "rewind.deployment"}}`).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(l); len(f) == 5 && slices.Contains(e.deps, f[4]) {
			s.containers = append(s.containers, l)
		}
	}
	sort.Strings(s.containers)
	root := e.cfg.BundleRoot
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		line := rel + " " + info.Mode().String()
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case d.Type().IsRegular():
			line += fmt.Sprintf(" %d", info.Size())
		}
		s.bundles = append(s.bundles, line)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return s
}

// diff says what changed between two snapshots. A refusal that comes from
// a workflow after its revision was recorded (an unsafe bundle found while
// unpacking, a digest the registry no longer serves found while pulling)
// leaves, as R1 wants of every deploy, one FAILED revision on top of dep's
// history carrying the refusal's type; failedOn names that deployment and
// the revision is reported, not counted as a change. Everything else must
// be identical.
func diff(before, after snapshot, failedOn, wantType string) (changes []string, failed *domain.Revision) {
	for id, d := range after.deployments {
		if before.deployments[id] != d {
			changes = append(changes, "deployment "+clip(id, 40)+" settings")
		}
	}
	for id := range before.deployments {
		if _, ok := after.deployments[id]; !ok {
			changes = append(changes, "deployment "+id+" gone")
		}
	}
	for id, revs := range after.revisions {
		old := before.revisions[id]
		if id == failedOn && len(revs) == len(old)+1 {
			top := revs[0]
			if top.Status == domain.StatusFailed && strings.HasPrefix(top.FailureReason, wantType+":") {
				failed = &top
				revs = revs[1:]
			}
		}
		if a, b := mustJSON(old), mustJSON(revs); a != b {
			changes = append(changes, fmt.Sprintf("history of %s (%d -> %d revisions)", clip(id, 40), len(old), len(after.revisions[id])))
		}
	}
	for _, c := range []struct {
		what string
		a, b []string
	}{{"grants", before.grants, after.grants}, {"tokens", before.tokens, after.tokens}, {"sessions", before.sessions, after.sessions},
		{"containers", before.containers, after.containers}, {"bundle root", before.bundles, after.bundles},
		{"cleanup and notifications", before.admin, after.admin}} {
		if !slices.Equal(c.a, c.b) {
			changes = append(changes, fmt.Sprintf("%s: before %v, after %v", c.what, short(c.a), short(c.b)))
		}
	}
	return changes, failed
}

func short(xs []string) string {
	if len(xs) > 12 {
		return fmt.Sprintf("%q … (%d)", xs[:12], len(xs))
	}
	return fmt.Sprintf("%q", xs)
}

func mustJSON(v any) string {
	raw, _ := json.Marshal(v)
	return string(raw)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// Hostile bundles, planted in the bundle store as an attacker with write
// access to it (or a compromised packer) would. ent is one raw tar entry.
type ent struct {
	name, link string
	typ        byte
	body       string
}

func tarGz(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatGNU}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bomb is a gzip stream that expands to a tar of one file of `expand`
// zero bytes: a header member, then the same ~1 KiB member (1 MiB of
// zeros) repeated, then the end-of-archive blocks. gzip readers, Go's
// included, read concatenated members as one stream, so the archive is
// ~1000 times smaller than what it unpacks to and costs nothing to make.
func bomb(t *testing.T, expand int64) []byte {
	t.Helper()
	member := func(b []byte) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		gz.Write(b)
		gz.Close()
		return buf.Bytes()
	}
	var hb bytes.Buffer
	tw := tar.NewWriter(&hb)
	if err := tw.WriteHeader(&tar.Header{Name: "dags/bomb.py", Typeflag: tar.TypeReg, Size: expand, Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(member(hb.Bytes()))
	chunk := member(make([]byte, 1<<20))
	for range expand >> 20 {
		out.Write(chunk)
	}
	out.Write(member(make([]byte, 1024)))
	return out.Bytes()
}

// many is an archive of n empty files: an entry-count bomb.
func many(t *testing.T, n int) []byte {
	t.Helper()
	ents := make([]ent, 0, n)
	for i := range n {
		ents = append(ents, ent{name: fmt.Sprintf("dags/d%d/f%d.py", i%100, i), typ: tar.TypeReg})
	}
	return tarGz(t, ents...)
}

// adminState is the cleanup schedule, the set-aside garbage, and how many
// cleanup and notification workflows exist, for the snapshot.
func (e *env) adminState(t *testing.T) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	// A read that times out on a loaded machine is not a change: the
	// schedule is read again (up to 5 times) before its error stands in
	// the snapshot.
	var d *client.ScheduleDescription
	var err error
	for try := 0; try < 5; try++ {
		if d, err = e.srv.Client.ScheduleClient().GetHandle(ctx, workflows.CleanupScheduleID).Describe(ctx); err == nil ||
			!(errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "deadline exceeded") || strings.Contains(err.Error(), "Unavailable")) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		out = append(out, "schedule: "+err.Error())
	} else {
		out = append(out, fmt.Sprintf("schedule paused=%v note=%q runs=%d spec=%v", d.Schedule.State.Paused, d.Schedule.State.Note, len(d.Info.RecentActions), d.Schedule.Spec.CronExpressions))
	}
	var aside int
	_, aside, err = e.st.SetAsideGarbage(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("set aside %d", aside))
	hooks, err := e.st.Webhooks(ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		out = append(out, "webhook "+h.ID+" "+h.URL)
	}
	// Changes start NotifyWorkflows of their own; only test notifications
	// (notify-test/…) are the routes' to start.
	for _, q := range []string{"WorkflowType = '" + workflows.CleanupWorkflowName + "'", "WorkflowId STARTS_WITH 'notify-test/'"} {
		n, err := e.srv.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s: %d", q, n.GetCount()))
	}
	return out
}
