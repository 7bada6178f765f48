package api

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// nextCases are post-sign-in targets as the server receives them (query
// and form values arrive decoded once) and what it must redirect to.
var nextCases = []struct{ name, next, want string }{
	{"own page", "/deployments", "/deployments"},
	{"own page with a query", "/deployments/d1?before=50", "/deployments/d1?before=50"},
	{"own progress page", "/deployments/d1/changes/0a1b-2c3d", "/deployments/d1/changes/0a1b-2c3d"},
	{"root", "/", "/"},
	{"empty", "", "/"},
	{"tab then slash (/%09/evil, the report)", "/\t/evil.example", "/"},
	{"newline then slash", "/\n/evil.example", "/"},
	{"carriage return then slash", "/\r/evil.example", "/"},
	{"tab in the middle", "/deployments\t/x", "/"},
	{"NUL", "/\x00/evil.example", "/"},
	{"DEL", "/\x7f/evil.example", "/"},
	{"space then slash", "/ /evil.example", "/"},
	{"leading space", " /deployments", "/"},
	{"protocol-relative", "//evil.example", "/"},
	{"three slashes", "///evil.example", "/"},
	{"backslash after slash", "/\\evil.example", "/"},
	{"two backslashes", "\\\\evil.example", "/"},
	{"backslash later", "/deployments\\..\\..\\evil", "/"},
	{"absolute https", "https://evil.example/", "/"},
	{"absolute http, one slash", "http:/evil.example", "/"},
	{"scheme-relative with userinfo", "//user@evil.example", "/"},
	{"javascript", "javascript:alert(1)", "/"},
	{"javascript, mixed case", "JaVaScRiPt:alert(1)", "/"},
	{"data URL", "data:text/html,<script>alert(1)</script>", "/"},
	{"relative", "evil.example", "/"},
	{"encoded slashes (/%2F%2Fevil)", "/%2F%2Fevil.example", "/"},
	{"encoded slash after slash", "/%2fevil.example", "/"},
	{"encoded backslash", "/%5Cevil.example", "/"},
	{"encoded tab (double-encoded %09)", "/%09/evil.example", "/"},
	{"double-encoded slashes", "/%252F%252Fevil.example", "/"},
	{"triple-encoded slashes", "/%25252F%25252Fevil.example", "/"},
	{"bad escape", "/%zz", "/"},
	{"unicode fullwidth solidus", "/\uff0f/evil.example", "/"},
	{"unicode line separator", "/\u2028/evil.example", "/"},
	{"too long", "/" + strings.Repeat("a", maxNext), "/"},
}

func TestSafeNext(t *testing.T) {
	for _, c := range nextCases {
		if got := safeNext(c.next); got != c.want {
			t.Errorf("%s: safeNext(%q) = %q, want %q", c.name, c.next, got, c.want)
		}
	}
}

var nextField = regexp.MustCompile(`name="next" value="([^"]*)"`)

// Over HTTP: the sign-in form carries only a safe next, and a sign-in
// redirects only to one, whatever the query or the form said.
func TestSignInRedirectsOnlyToOwnPaths(t *testing.T) {
	s := offlineServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	token, _, _ := IssueToken(context.Background(), s.opts.Store, "alice", "", time.Now())
	for _, c := range nextCases {
		cl := browser(t)
		_, body, _ := get(t, cl, srv.URL+"/signin?next="+url.QueryEscape(c.next))
		m := nextField.FindStringSubmatch(body)
		if m == nil || html.UnescapeString(m[1]) != c.want {
			t.Errorf("%s: the form's next is %q, want %q", c.name, m, c.want)
			continue
		}
		csrf := csrfField.FindStringSubmatch(body)[1]
		code, _, h := post(t, cl, srv.URL+"/signin", url.Values{"csrf": {csrf}, "token": {token}, "next": {c.next}})
		if code != http.StatusSeeOther || h.Get("Location") != c.want {
			t.Errorf("%s: sign-in answered %d Location %q, want %q", c.name, code, h.Get("Location"), c.want)
		}
	}
	// The report's request, byte for byte, through the form and the post.
	cl := browser(t)
	_, body, _ := get(t, cl, srv.URL+"/signin?next=/%09/evil.example")
	if m := nextField.FindStringSubmatch(body); m == nil || m[1] != "/" {
		t.Fatalf("the reported form: next %q", m)
	}
	csrf := csrfField.FindStringSubmatch(body)[1]
	res, err := cl.Post(srv.URL+"/signin", "application/x-www-form-urlencoded",
		strings.NewReader("csrf="+url.QueryEscape(csrf)+"&token="+url.QueryEscape(token)+"&next=/%09/evil.example"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("the reported sign-in: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}
