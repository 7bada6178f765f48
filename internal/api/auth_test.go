package api

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/store"
)

func TestTokensAreHashedAndChecked(t *testing.T) {
	s := offlineServer(t)
	ctx := context.Background()
	plain, tok, err := IssueToken(ctx, s.opts.Store, "alice", "CI", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !tokenPattern.MatchString(plain) || !strings.Contains(plain, tok.ID) {
		t.Fatalf("token %q (id %s)", plain, tok.ID)
	}
	stored, _ := s.opts.Store.GetToken(ctx, tok.ID)
	if stored.Hash == plain || strings.Contains(stored.Hash, plain[len(tokenPrefix)+13:]) || stored.Hash != hashToken(plain) {
		t.Fatalf("the store must keep only the SHA-256: %+v", stored)
	}
	if got, err := Authenticate(ctx, s.opts.Store, plain); err != nil || got.User != "alice" {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	wrong := plain[:len(plain)-1] + map[bool]string{true: "A", false: "B"}[plain[len(plain)-1] != 'A']
	for name, p := range map[string]string{"wrong secret": wrong, "garbage": "hello", "unknown id": "rwd_000000000000_" + strings.Repeat("a", 43), "empty": ""} {
		if _, err := Authenticate(ctx, s.opts.Store, p); err == nil {
			t.Errorf("%s authenticated", name)
		} else if _, ok := err.(*authError); !ok {
			t.Errorf("%s: %T %v", name, err, err)
		}
	}
	if err := s.opts.Store.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := Authenticate(ctx, s.opts.Store, plain); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: %v", err)
	}
	if _, _, err := IssueToken(ctx, s.opts.Store, "bad user!", "", time.Now()); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("bad user: %v", err)
	}
}

// browser is a cookie-keeping client that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string, http.Header) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn goes through the sign-in form and returns the page's CSRF token.
func signIn(t *testing.T, c *http.Client, base, token string) string {
	t.Helper()
	_, body, _ := get(t, c, base+"/signin")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("sign-in form without csrf: %s", body)
	}
	code, body, h := post(t, c, base+"/signin", url.Values{"csrf": {m[1]}, "token": {token}, "next": {"/deployments"}})
	if code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", code, body)
	}
	cookie := ""
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			cookie = sc
		}
	}
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Fatalf("session cookie flags: %q", cookie)
	}
	_, body, _ = get(t, c, base+"/deployments")
	m = csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf on the deployments page: %s", body)
	}
	return m[1]
}

// The page: sign-in needs a valid token and the form's CSRF cookie; every
// value from the store is escaped; forms without the session's CSRF token
// are refused; revoking the token ends the session.
func TestPageSignInCSRFAndEscaping(t *testing.T) {
	s := offlineServer(t)
	ctx := context.Background()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	st := s.opts.Store
	evil := `<script>alert("x")</script>`
	if err := st.CreateDeployment(ctx, domain.Deployment{ID: "d1", Name: evil, DagSource: domain.DagSourceImage, RollbackEnabled: true}); err != nil {
		t.Fatal(err)
	}
	st.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "editor"})
	seed := func(desc, runtime string, at time.Time, status domain.Status) {
		r, err := st.CreateRevision(ctx, domain.Revision{DeploymentID: "d1", CreatedAt: at, CreatedBy: "alice", Description: desc, Type: domain.DeployImageAndDAG,
			ImageRef: "127.0.0.1:5000/a:" + runtime, ImageDigest: "sha256:" + strings.Repeat("a", 64), RuntimeVersion: runtime, WorkflowID: "change/d1", RunID: desc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.FinishRevision(ctx, store.Finish{DeploymentID: "d1", Number: r.Number, Status: status, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	seed("old one", "9.1.0", now.Add(-100*24*time.Hour), domain.StatusDeployed)
	seed("ancient runtime", "4.2.0", now.Add(-time.Hour), domain.StatusDeployed)
	seed("broke", "9.1.0", now.Add(-50*time.Minute), domain.StatusFailed)
	seed(evil, "9.1.0", now.Add(-40*time.Minute), domain.StatusDeployed)
	seed("now", "9.1.0", now.Add(-30*time.Minute), domain.StatusDeployed)

	anon := browser(t)
	if code, _, h := get(t, anon, srv.URL+"/deployments/d1"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/signin") {
		t.Fatalf("anonymous history: %d %s", code, h.Get("Location"))
	}
	// A sign-in without the form's CSRF cookie is refused.
	token := func() string { p, _, _ := IssueToken(ctx, st, "alice", "", time.Now()); return p }()
	if code, _, _ := post(t, anon, srv.URL+"/signin", url.Values{"csrf": {"x"}, "token": {token}}); code != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", code)
	}
	// A wrong token shows the form again with 401.
	_, body, _ := get(t, anon, srv.URL+"/signin")
	m := csrfField.FindStringSubmatch(body)
	if code, body, _ := post(t, anon, srv.URL+"/signin", url.Values{"csrf": {m[1]}, "token": {token + "x"}}); code != http.StatusUnauthorized || !strings.Contains(body, "Sign-in failed") {
		t.Fatalf("wrong token: %d", code)
	}

	c := browser(t)
	csrf := signIn(t, c, srv.URL, token)
	code, body, h := get(t, c, srv.URL+"/deployments/d1")
	if code != 200 {
		t.Fatalf("history: %d %s", code, body)
	}
	if strings.Contains(body, evil) || !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Fatalf("values are not escaped:\n%s", body)
	}
	if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("CSP: %q", h.Get("Content-Security-Policy"))
	}
	for _, want := range []string{
		`outside the 90-day retention window`, `below Runtime 5`, `failed`, `current deploy`,
		`id="rollback-4"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	for _, n := range []string{"1", "2", "3", "5"} {
		if strings.Contains(body, `id="rollback-`+n+`"`) {
			t.Errorf("revision %s must not offer a rollback", n)
		}
	}
	// A form without the session's CSRF token changes nothing.
	if code, _, _ := post(t, c, srv.URL+"/deployments/d1/rollback/4/plan", url.Values{"description": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("plan without CSRF: %d", code)
	}
	if code, _, _ := post(t, c, srv.URL+"/deployments/d1/rollback/4", url.Values{"csrf": {csrf + "x"}, "description": {"x"}, "confirm": {"d1"}}); code != http.StatusForbidden {
		t.Fatalf("confirm with a wrong CSRF: %d", code)
	}
	// A wrong typed confirmation starts nothing.
	if code, body, _ := post(t, c, srv.URL+"/deployments/d1/rollback/4", url.Values{"csrf": {csrf}, "description": {"x"}, "confirm": {"d2"}}); code != http.StatusBadRequest || !strings.Contains(body, "did not match") {
		t.Fatalf("wrong confirmation: %d", code)
	}
	// A user without grants sees nothing of d1.
	other := browser(t)
	signIn(t, other, srv.URL, func() string { p, _, _ := IssueToken(ctx, st, "mallory", "", time.Now()); return p }())
	if code, body, _ := get(t, other, srv.URL+"/deployments/d1"); code != http.StatusForbidden || strings.Contains(body, "old one") {
		t.Fatalf("history for a stranger: %d", code)
	}
	// Revoking the token ends the session at the next request.
	tok, _ := Authenticate(ctx, st, token)
	st.RevokeToken(ctx, tok.ID, time.Now())
	if code, _, _ := get(t, c, srv.URL+"/deployments/d1"); code != http.StatusSeeOther {
		t.Fatalf("after revocation: %d", code)
	}
	// A tampered session cookie is no session.
	u, _ := url.Parse(srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: s.encodeSession(session{TokenID: tok.ID, User: "alice", CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()}) + "x"}})
	if code, _, _ := get(t, c, srv.URL+"/deployments"); code != http.StatusSeeOther {
		t.Fatalf("tampered cookie: %d", code)
	}
}
