package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
)

// These helpers follow internal/cli's integration tests: a real Temporal
// dev server from $REWIND_TEMPORAL_CLI, an in-process worker on a fresh
// SQLite store, and the test images in $REWIND_TEST_REGISTRY.

// env is a dev server, a worker, the store they share and `rewind serve`
// over them on a test listener.
type env struct {
	cfg    *config.Config
	st     *store.Store
	tc     client.Client
	srv    *Server
	http   *httptest.Server
	client client.Client // the dev server's own client
}

func startEnv(t *testing.T, worker bool) *env {
	t.Helper()
	dev := itest.StartServer(t)
	if worker {
		itest.StartWorker(t)
	}
	cfg := itest.Config(t)
	st, tc := itest.Store(t, cfg), itest.Client(t, cfg)
	e := &env{cfg: cfg, st: st, tc: tc, client: dev.Client}
	var err error
	e.srv, err = New(Options{Config: cfg, Store: st, Temporal: tc, Logger: itest.QuietSlog(), PlanTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

func (e *env) createDeployment(t *testing.T, d domain.Deployment) {
	t.Helper()
	if d.Name == "" {
		d.Name = "Deployment " + d.ID
	}
	if d.DagSource == "" {
		d.DagSource = domain.DagSourceImage
	}
	if d.Components == nil {
		d.Components = []domain.Component{{Name: "scheduler", Command: "airflow scheduler"}}
	}
	if err := e.st.CreateDeployment(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func (e *env) grant(t *testing.T, user, deploymentID, role string) {
	t.Helper()
	if err := e.st.AddGrant(context.Background(), domain.Grant{User: user, DeploymentID: deploymentID, Role: role}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) token(t *testing.T, user string) string {
	t.Helper()
	plain, _, err := IssueToken(context.Background(), e.st, user, "test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// record adds a finished revision straight to the store, for rule tests
// that need history without running deploys.
func (e *env) record(t *testing.T, r domain.Revision, status domain.Status) domain.Revision {
	t.Helper()
	ctx := context.Background()
	if r.Type == "" {
		r.Type = domain.DeployImageAndDAG
	}
	if r.CreatedBy == "" {
		r.CreatedBy = "alice"
	}
	r.WorkflowID = "change/" + r.DeploymentID
	r.RunID = fmt.Sprintf("seed-%d", time.Now().UnixNano())
	got, err := e.st.CreateRevision(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	reason := ""
	if status == domain.StatusFailed {
		reason = "seeded failure"
	}
	got, err = e.st.FinishRevision(ctx, store.Finish{DeploymentID: r.DeploymentID, Number: got.Number, Status: status, At: time.Now(), Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", r.status, err, r.body)
	}
}

// errType is the error body's type, failing the test when there is none.
func (r response) errType(t *testing.T) string {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	if b.Error.Type == "" || b.Error.Message == "" {
		t.Fatalf("error body lacks type or message: %s", r.body)
	}
	return b.Error.Type
}

// call sends a request with an optional bearer token and JSON body.
func (e *env) call(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, raw, res.Header}
}

// waitDone polls the progress endpoint until the workflow ends.
func (e *env) waitDone(t *testing.T, progressURL, token string, within time.Duration) Progress {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.call(t, "GET", progressURL, token, nil)
		if r.status != http.StatusOK {
			t.Fatalf("progress %s: %d %s", progressURL, r.status, r.body)
		}
		var p Progress
		r.json(t, &p)
		if p.Done {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not done within %s: %s", progressURL, within, r.body)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
