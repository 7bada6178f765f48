package hostile

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/workflows"
)

// securityCases are issue 14's findings: an open redirect after sign-in,
// no brakes on token guessing, tokens that never expired, sessions that
// outlived sign-out, passwords echoed by configuration errors, and a
// world-readable data directory and database.
func (e *env) securityCases(t *testing.T) []hcase {
	b, img := e.bundle, e.image
	var cs []hcase

	// R18: a requester forged through the Temporal CLI (it claims to be the
	// editor) is refused where the installation requires verified
	// requesters: a worker of its own, on its own task queue, with the
	// switch on.
	cs = append(cs, hcase{via: viaTemporal, name: "forged requester under REWIND_REQUIRE_VERIFIED_REQUESTS", want: "PermissionDenied",
		run: func(t *testing.T) (string, int, string) {
			queue := e.strictWorker(t)
			got, msg := e.temporalRunOn(t, queue, workflows.DeployWorkflowName,
				`{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+editor+`","description":"I am the editor"}`)
			if got == "PermissionDenied" && !strings.Contains(msg, "not verified") {
				return "PermissionDenied for another reason", 0, msg
			}
			return got, 0, msg
		}})
	cs = append(cs, hcase{via: viaTemporal, name: "forged requester signature under REWIND_REQUIRE_VERIFIED_REQUESTS", want: "PermissionDenied",
		run: func(t *testing.T) (string, int, string) {
			queue := e.strictWorker(t)
			got, msg := e.temporalRunOn(t, queue, workflows.DeployWorkflowName,
				`{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+editor+`","requesterSignature":"v1.1700000000.Zm9yZ2Vk"}`)
			return got, 0, msg
		}})
	j := "application/json"
	okDeploy := []byte(`{"imageRef":"` + itest.Image(t, "9.1.0") + `","description":"from CI"}`)
	deploys := "/api/v1/deployments/" + img + "/deploys"

	// Open redirect: the sign-in form (and so the post it makes) carries
	// only the server's own paths; each hostile next comes back as "/".
	for _, raw := range []string{"/%09/evil.example", "/%0D%0A/evil.example", "//evil.example", "/%5Cevil.example", "%5C%5Cevil.example",
		"/%2F%2Fevil.example", "/%252F%252Fevil.example", "https://evil.example/", "javascript:alert(document.cookie)", "/%20/evil.example"} {
		cs = append(cs, hcase{via: viaAPI, name: "open redirect: /signin?next=" + raw, want: "next=/", status: 200, run: func(t *testing.T) (string, int, string) {
			res, body := e.page(t, nil, "GET", "/signin?next="+raw, nil)
			m := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(body)
			if m == nil {
				return "no next field", res.StatusCode, clip(body, 200)
			}
			return "next=" + html.UnescapeString(m[1]), res.StatusCode, ""
		}})
	}

	// 20 wrong tokens in a row from one client, then its right token: 429
	// with Retry-After, nothing read or started. A server of its own, so
	// the brake does not fall on the other cases' client.
	cs = append(cs, hcase{via: viaAPI, name: "20 wrong tokens in a row, then a right one", want: "TooManyRequests", status: 429, run: func(t *testing.T) (string, int, string) {
		s, err := api.New(api.Options{Config: e.cfg, Store: e.st, Temporal: e.srv.Client, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		defer srv.Close()
		run := e.latestRun(t, img)
		var codes []int
		for i := range 20 {
			r, _ := send(t, srv.URL, "POST", deploys, fmt.Sprintf("Bearer rwd_%012x_%s", 0xbadbad+i, strings.Repeat("G", 43)), j, okDeploy)
			codes = append(codes, r.status)
		}
		r, h := send(t, srv.URL, "POST", deploys, "Bearer "+e.tokens[editor], j, okDeploy)
		switch {
		case !strings.HasPrefix(fmt.Sprint(codes), "[401 401") || codes[19] != 429:
			return fmt.Sprintf("statuses %v", codes), r.status, r.msg
		case h.Get("Retry-After") == "":
			return "429 without Retry-After", r.status, r.msg
		case e.latestRun(t, img) != run:
			return "a workflow was started", r.status, r.msg
		}
		return r.typ, r.status, r.msg
	}})

	// An expired token: 401, nothing started.
	plain, _, err := api.IssueTokenWithTTL(context.Background(), e.st, editor, "expired", time.Now().Add(-2*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cs = append(cs, hcase{via: viaAPI, name: "expired token (deploy)", want: "Unauthenticated", status: 401, run: func(t *testing.T) (string, int, string) {
		run := e.latestRun(t, img)
		r, _ := send(t, e.http.URL, "POST", deploys, "Bearer "+plain, j, okDeploy)
		if !strings.HasPrefix(r.msg, "the token expired") || e.latestRun(t, img) != run {
			return r.typ + " (" + r.msg + ")", r.status, r.msg
		}
		return r.typ, r.status, r.msg
	}})

	// A session signed out in setup, its cookie and CSRF secret replayed:
	// the progress feed and a confirmed rollback (which a live session
	// would start) are both refused.
	cookie, csrf := e.signedOutSession(t)
	cs = append(cs, hcase{via: viaAPI, name: "signed-out session cookie replayed (progress.json)", want: "Unauthenticated", status: 401, run: func(t *testing.T) (string, int, string) {
		res, body := e.page(t, cookie, "GET", "/deployments/"+b+"/changes/x/progress.json", nil)
		var typ string
		if m := regexp.MustCompile(`"type":\s*"(\w+)"`).FindStringSubmatch(body); m != nil {
			typ = m[1]
		}
		return typ, res.StatusCode, clip(body, 200)
	}})
	cs = append(cs, hcase{via: viaAPI, name: "signed-out session cookie replayed (confirm a rollback)", want: "Unauthenticated", status: 401, run: func(t *testing.T) (string, int, string) {
		run := e.latestRun(t, b)
		form := url.Values{"csrf": {csrf}, "description": {"replayed"}, "scope": {"all"}, "confirm": {b}}
		res, body := e.page(t, cookie, "POST", "/deployments/"+b+"/rollback/2", form)
		if !strings.HasPrefix(body, "not signed in") || e.latestRun(t, b) != run {
			return "accepted?", res.StatusCode, clip(body, 200)
		}
		return "Unauthenticated", res.StatusCode, ""
	}})

	// Configuration errors name the variable, never the secret.
	leak := func(name string, env map[string]string, marker string) {
		cs = append(cs, hcase{via: viaCLI, name: name, want: "refused, secret redacted", run: func(t *testing.T) (string, int, string) {
			defer setEnv(env)()
			code, _, stderr := rewind("history", b)
			switch {
			case code == 0:
				return "ok", 0, ""
			case strings.Contains(stderr, "hunter2"):
				return "leaked", 0, stderr
			case strings.Count(strings.TrimSpace(stderr), "\n") > 0 || !strings.Contains(stderr, marker):
				return "unexpected message", 0, stderr
			}
			return "refused, secret redacted", 0, stderr
		}})
	}
	leak("config error: REWIND_DATABASE_URL with a password", map[string]string{"REWIND_DATABASE_URL": "mysql://rewind:hunter2-battery@db.internal/rewind"}, "mysql://rewind:xxxxx@db.internal/rewind")
	leak("store error: PostgreSQL unreachable, URL with a password", map[string]string{"REWIND_DATABASE_URL": "postgres://rewind:hunter2-battery@127.0.0.1:1/rewind?connect_timeout=2"}, "postgres://rewind:xxxxx@127.0.0.1:1/rewind")
	leak("store error: password in a URL parameter", map[string]string{"REWIND_DATABASE_URL": "postgres://rewind@127.0.0.1:notaport/rewind?password=hunter2-battery"}, "password=xxxxx")
	leak("config error: a short REWIND_HTTP_SESSION_KEY", map[string]string{"REWIND_HTTP_SESSION_KEY": "hunter2"}, "REWIND_HTTP_SESSION_KEY")

	// A data directory and database rewind creates are its owner's alone.
	cs = append(cs, hcase{via: viaCLI, name: "new data directory and database: modes", want: "0700/0600", run: func(t *testing.T) (string, int, string) {
		dir := filepath.Join(t.TempDir(), "fresh", "data")
		defer setEnv(map[string]string{"REWIND_DATA_DIR": dir, "REWIND_DATABASE_URL": ""})()
		// Only a command that starts an installation makes one (issue 28).
		if code, _, stderr := rewind("deployment", "create", "hx-modes"); code != 0 {
			return cliType(code, stderr), 0, stderr
		}
		var modes []string
		for _, p := range []string{dir, filepath.Join(dir, "rewind.db")} {
			fi, err := os.Stat(p)
			if err != nil {
				return err.Error(), 0, ""
			}
			modes = append(modes, fmt.Sprintf("%04o", fi.Mode().Perm()))
		}
		// SQLite removes the WAL when the last connection closes; if one
		// is left it must be as private as the database.
		if fi, err := os.Stat(filepath.Join(dir, "rewind.db-wal")); err == nil && fi.Mode().Perm() != 0o600 {
			return fmt.Sprintf("WAL %04o", fi.Mode().Perm()), 0, ""
		}
		return modes[0] + "/" + modes[1], 0, ""
	}})

	// A token's lifetime must be positive; nothing is stored otherwise.
	e.cliCase(&cs, "token create --expires -1h", "InvalidInput", "token", "create", "--user", editor, "--expires", "-1h")
	e.cliCase(&cs, "token create --expires 0", "InvalidInput", "token", "create", "--user", editor, "--expires", "0")
	return cs
}

func (e *env) cliCase(cs *[]hcase, name, want string, args ...string) {
	*cs = append(*cs, hcase{via: viaCLI, name: name, want: want, run: func(t *testing.T) (string, int, string) {
		code, _, stderr := rewind(args...)
		return cliType(code, stderr), 0, stderr
	}})
}

// setEnv sets variables for one case and returns what restores them.
func setEnv(vars map[string]string) (restore func()) {
	old := map[string]*string{}
	for k, v := range vars {
		if was, ok := os.LookupEnv(k); ok {
			old[k] = &was
		} else {
			old[k] = nil
		}
		os.Setenv(k, v)
	}
	return func() {
		for k, v := range old {
			if v == nil {
				os.Unsetenv(k)
			} else {
				os.Setenv(k, *v)
			}
		}
	}
}

// latestRun is the run id of the latest workflow under a deployment's
// change id, "" if none: a refused request must not have started one.
func (e *env) latestRun(t *testing.T, dep string) string {
	d, err := e.srv.Client.DescribeWorkflowExecution(context.Background(), workflows.ChangeWorkflowID(dep), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// page sends one request to the page with an optional session cookie and
// form, without following redirects.
func (e *env) page(t *testing.T, cookie *http.Cookie, method, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	res, raw := do(t, req)
	return res, string(raw)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signedOutSession signs the editor in on the page, keeps the session
// cookie and its CSRF secret, and signs out.
func (e *env) signedOutSession(t *testing.T) (*http.Cookie, string) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, path string, form url.Values) string {
		var res *http.Response
		var err error
		if method == "GET" {
			res, err = c.Get(e.http.URL + path)
		} else {
			res, err = c.PostForm(e.http.URL+path, form)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return string(raw)
	}
	m := csrfField.FindStringSubmatch(do("GET", "/signin", nil))
	do("POST", "/signin", url.Values{"csrf": {m[1]}, "token": {e.tokens[editor]}})
	m = csrfField.FindStringSubmatch(do("GET", "/deployments", nil))
	if m == nil {
		t.Fatal("the battery's editor could not sign in")
	}
	u, _ := url.Parse(e.http.URL)
	var cookie *http.Cookie
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "rewind_session" {
			cookie = &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	if res, _ := e.page(t, cookie, "GET", "/deployments", nil); res.StatusCode != http.StatusOK {
		t.Fatalf("the session before sign-out: %d", res.StatusCode)
	}
	do("POST", "/signout", url.Values{"csrf": {m[1]}})
	return cookie, m[1]
}

// sessions lists the recorded page sessions, ended or not.
func (e *env) sessions(t *testing.T) []string {
	t.Helper()
	rows, err := e.st.DB().QueryContext(context.Background(), `SELECT id_hash, token_id, username, expires_at, COALESCE(ended_at, -1) FROM api_sessions ORDER BY id_hash`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, tok, user string
		var exp, ended int64
		if err := rows.Scan(&id, &tok, &user, &exp, &ended); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %s %d %d", id[:12], tok, user, exp, ended))
	}
	return out
}

// strictWorker starts a worker that requires verified requesters, on a
// task queue of its own, for the rest of the case, and returns the queue.
func (e *env) strictWorker(t *testing.T) string {
	const queue = "rewind-it-strict"
	cfg := *e.cfg
	cfg.TaskQueue, cfg.RequireVerifiedRequests = queue, true
	w, err := app.StartWorker(context.Background(), &cfg, itest.QuietSlog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return queue
}

// workflowsOf counts the workflows a visibility query finds.
func (e *env) workflowsOf(t *testing.T, query string) int {
	resp, err := e.srv.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return len(resp.GetExecutions())
}
