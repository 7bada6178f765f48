package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// sessionCookieOf is the browser's current session cookie for base.
func sessionCookieOf(t *testing.T, c *http.Client, base string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// replay sends a GET with exactly this session cookie, from a fresh client.
func replay(t *testing.T, base, path string, ck *http.Cookie) (int, string) {
	t.Helper()
	c := browser(t)
	u, _ := url.Parse(base)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value}})
	code, _, h := get(t, c, base+path)
	return code, h.Get("Location")
}

// Sign-out ends the session in the store: the same cookie replayed later is
// refused, by this replica and by another sharing the store and the key.
func TestSignOutEndsTheSessionOnEveryReplica(t *testing.T) {
	a := offlineServer(t)
	b, err := New(a.opts) // a second replica: same store, same session key
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := a.opts.Store
	if err := st.CreateDeployment(ctx, domain.Deployment{ID: "d1", Name: "d1", DagSource: domain.DagSourceImage}); err != nil {
		t.Fatal(err)
	}
	st.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "viewer"})
	srvA, srvB := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer srvA.Close()
	defer srvB.Close()
	token, _, _ := IssueToken(ctx, st, "alice", "", time.Now())

	c := browser(t)
	csrf := signIn(t, c, srvA.URL, token)
	ck := sessionCookieOf(t, c, srvA.URL)
	for _, base := range []string{srvA.URL, srvB.URL} {
		if code, loc := replay(t, base, "/deployments/d1", ck); code != http.StatusOK {
			t.Fatalf("%s before sign-out: %d %s", base, code, loc)
		}
	}
	// A sign-out without the session's CSRF secret is refused and ends nothing.
	if code, _, _ := post(t, c, srvA.URL+"/signout", url.Values{"csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d", code)
	}
	if code, _ := replay(t, srvB.URL, "/deployments/d1", ck); code != http.StatusOK {
		t.Fatalf("a refused sign-out ended the session: %d", code)
	}
	code, _, h := post(t, c, srvA.URL+"/signout", url.Values{"csrf": {csrf}})
	if code != http.StatusSeeOther || h.Get("Location") != "/signin" || !strings.Contains(strings.Join(h.Values("Set-Cookie"), "\n"), sessionCookie+"=;") {
		t.Fatalf("sign-out: %d %v", code, h)
	}
	for _, base := range []string{srvA.URL, srvB.URL} {
		if code, loc := replay(t, base, "/deployments/d1", ck); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/signin") {
			t.Fatalf("%s: the signed-out cookie replayed: %d %s", base, code, loc)
		}
		// The progress endpoint answers JSON 401, and posts are refused.
		if code, _ := replay(t, base, "/deployments/d1/changes/x/progress.json", ck); code != http.StatusUnauthorized {
			t.Fatalf("%s: progress.json with a signed-out cookie: %d", base, code)
		}
	}

	// Signing in again replaces the browser's previous session.
	signIn(t, c, srvB.URL, token)
	first := sessionCookieOf(t, c, srvB.URL)
	signIn(t, c, srvB.URL, token)
	if code, _ := replay(t, srvA.URL, "/deployments/d1", first); code != http.StatusSeeOther {
		t.Fatalf("the replaced session still works: %d", code)
	}
	second := sessionCookieOf(t, c, srvB.URL)
	if code, _ := replay(t, srvA.URL, "/deployments/d1", second); code != http.StatusOK {
		t.Fatalf("the new session: %d", code)
	}
	// Revoking the token ends its sessions in the store too.
	tok, _ := Authenticate(ctx, st, token)
	st.RevokeToken(ctx, tok.ID, time.Now())
	ss, _ := a.decodeSession(second.Value)
	if rec, err := st.GetSession(ctx, hashToken(ss.ID)); err != nil || rec.EndedAt == nil {
		t.Fatalf("revocation left the session open: %+v %v", rec, err)
	}

	// A correctly signed cookie the store never recorded (forged with a
	// leaked key, or from before sessions were recorded) is no session.
	tok2, _, _ := IssueToken(ctx, st, "alice", "", time.Now())
	t2, _ := Authenticate(ctx, st, tok2)
	for name, ss := range map[string]session{
		"unrecorded id": {ID: "made-up", TokenID: t2.ID, User: "alice", CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()},
		"no id":         {TokenID: t2.ID, User: "alice", CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()},
	} {
		if code, _ := replay(t, srvA.URL, "/deployments/d1", &http.Cookie{Name: sessionCookie, Value: a.encodeSession(ss)}); code != http.StatusSeeOther {
			t.Errorf("%s: %d", name, code)
		}
	}
}

// A session never outlives its token.
func TestSessionEndsWithItsToken(t *testing.T) {
	s := offlineServer(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	token, _, _ := IssueTokenWithTTL(context.Background(), s.opts.Store, "alice", "", time.Now(), time.Hour)
	c := browser(t)
	_, body, _ := get(t, c, srv.URL+"/signin")
	m := csrfField.FindStringSubmatch(body)
	_, _, h := post(t, c, srv.URL+"/signin", url.Values{"csrf": {m[1]}, "token": {token}})
	maxAge := -1
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			for _, attr := range strings.Split(sc, "; ") {
				if v, ok := strings.CutPrefix(attr, "Max-Age="); ok {
					maxAge, _ = strconv.Atoi(v)
				}
			}
		}
	}
	if maxAge < 3500 || maxAge > 3600 {
		t.Fatalf("session cookie Max-Age %d, want the token's remaining hour (not %s)", maxAge, s.opts.SessionTTL)
	}
}
