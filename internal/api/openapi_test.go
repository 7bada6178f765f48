package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	apiclient "github.com/rewindhq/rewind/internal/client"
	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
)

// offlineServer is a Server over a fresh SQLite store and a Temporal client
// that never connects: enough for routing, auth and the page's sign-in.
func offlineServer(t *testing.T) *Server {
	t.Helper()
	return offlineServerWith(t, &config.Config{TaskQueue: "rewind", Namespace: "default", RollbackWindowDays: 90, RollbacksEnabled: true})
}

// offlineServerWith is offlineServer with a configuration of the test's.
func offlineServerWith(t *testing.T, cfg *config.Config) *Server {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "rewind.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: itest.NopLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	s, err := New(Options{Config: cfg, Store: st, Temporal: tc, Logger: itest.QuietSlog()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var wildcard = regexp.MustCompile(`\{([A-Za-z]+)\}`)

// The OpenAPI document and the real routes agree: every registered API
// route is documented, every documented operation is registered, and the
// live mux sends each documented path to that route.
func TestOpenAPIMatchesTheRoutes(t *testing.T) {
	s := offlineServer(t)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET openapi.json: %d %s", rec.Code, rec.Header())
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	opIDs := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			var op struct {
				OperationID string                      `json:"operationId"`
				Security    *[]any                      `json:"security"`
				Responses   map[string]json.RawMessage  `json:"responses"`
				Parameters  []struct{ Name, In string } `json:"parameters"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if op.OperationID == "" || opIDs[op.OperationID] {
				t.Errorf("%s: operationId %q missing or repeated", key, op.OperationID)
			}
			opIDs[op.OperationID] = true
			public := op.Security != nil && len(*op.Security) == 0
			if _, ok := op.Responses["401"]; !public && !ok {
				t.Errorf("%s: needs a token but documents no 401", key)
			}
			// Every path wildcard is a documented path parameter.
			for _, m := range wildcard.FindAllStringSubmatch(path, -1) {
				found := false
				for _, p := range op.Parameters {
					found = found || (p.In == "path" && p.Name == m[1])
				}
				if !found {
					t.Errorf("%s: path parameter %s is not documented", key, m[1])
				}
			}
		}
	}
	registered := map[string]bool{}
	for _, rt := range apiRoutes {
		key := rt.method + " " + rt.pattern
		registered[key] = true
		if !documented[key] {
			t.Errorf("route %s is not in the OpenAPI document", key)
		}
		// The live mux routes a concrete path to exactly this pattern.
		path := wildcard.ReplaceAllStringFunc(rt.pattern, func(w string) string {
			if w == "{workflowId}" {
				return "change%2Fd1"
			}
			if w == "{revision}" {
				return "3"
			}
			return "d1"
		})
		if _, pattern := s.mux.Handler(httptest.NewRequest(rt.method, path, nil)); pattern != key {
			t.Errorf("%s %s is routed to %q, not %q", rt.method, path, pattern, key)
		}
		// And it answers: public routes 200, the others 401 without a token.
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(rt.method, path, nil))
		want := http.StatusUnauthorized
		if rt.public {
			want = http.StatusOK
		}
		if rec.Code != want {
			t.Errorf("%s %s without a token: %d, want %d", rt.method, path, rec.Code, want)
		}
	}
	for key := range documented {
		if !registered[key] {
			t.Errorf("the OpenAPI document has %s, which no route serves", key)
		}
	}
	keys := make([]string, 0, len(registered))
	for k := range registered {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t.Logf("%d routes documented: %s", len(keys), strings.Join(keys, "; "))
}

// Unknown API paths and wrong methods answer JSON errors, not HTML.
func TestAPIFallbacks(t *testing.T) {
	s := offlineServer(t)
	for _, c := range []struct {
		method, path string
		status       int
		typ          string
	}{
		{"GET", "/api/v1/nope", 404, "NotFound"},
		{"DELETE", "/api/v1/deployments/d1/deploys", 405, "MethodNotAllowed"},
		{"GET", "/api/v1/deployments/d1/deploys/3/rollback", 405, "MethodNotAllowed"},
	} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		var b errorBody
		json.Unmarshal(rec.Body.Bytes(), &b)
		if rec.Code != c.status || b.Error.Type != c.typ {
			t.Errorf("%s %s: %d %s", c.method, c.path, rec.Code, rec.Body)
		}
	}
}

// The typed client (internal/client, what the remote CLI uses) calls only
// routes the OpenAPI document describes and the server registers, with
// the same method: a route renamed on one side fails here.
func TestTypedClientCallsDocumentedRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	registered := map[string]bool{}
	for _, rt := range apiRoutes {
		registered[rt.method+" "+rt.pattern] = true
	}
	for _, r := range apiclient.Routes() {
		if _, ok := doc.Paths[r.Pattern][strings.ToLower(r.Method)]; !ok {
			t.Errorf("the client calls %s %s, which the OpenAPI document does not describe", r.Method, r.Pattern)
		}
		if !registered[r.Method+" "+r.Pattern] {
			t.Errorf("the client calls %s %s, which the server does not register", r.Method, r.Pattern)
		}
	}
	if len(apiclient.Routes()) < 20 {
		t.Errorf("the client knows %d routes", len(apiclient.Routes()))
	}
}
