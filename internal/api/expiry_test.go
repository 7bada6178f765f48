package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// A token stops working when it expires: over the API (401 "the token
// expired"), at sign-in, and for a page session signed in before.
func TestTokensExpire(t *testing.T) {
	s := offlineServer(t)
	ctx := context.Background()
	st := s.opts.Store
	now := time.Now()
	s.opts.Now = func() time.Time { return now }
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	if err := st.CreateDeployment(ctx, domain.Deployment{ID: "d1", Name: "d1", DagSource: domain.DagSourceImage}); err != nil {
		t.Fatal(err)
	}
	st.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "viewer"})
	plain, tok, err := IssueTokenWithTTL(ctx, st, "alice", "", now, time.Hour)
	if err != nil || tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(now.UTC().Truncate(time.Microsecond).Add(time.Hour)) {
		t.Fatalf("issue: %+v %v", tok, err)
	}
	if _, _, err := IssueTokenWithTTL(ctx, st, "alice", "", now, 0); domain.TypeOf(err) != domain.InvalidInput {
		t.Fatalf("a zero lifetime: %v", err)
	}
	history := func() (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/deployments/d1/deploys", nil)
		req.Header.Set("Authorization", "Bearer "+plain)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b errorBody
		json.NewDecoder(res.Body).Decode(&b)
		return res.StatusCode, b.Error.Message
	}
	if code, msg := history(); code != http.StatusOK {
		t.Fatalf("before expiry: %d %s", code, msg)
	}
	c := browser(t)
	signIn(t, c, srv.URL, plain)

	now = now.Add(time.Hour)
	if code, msg := history(); code != http.StatusUnauthorized || !strings.HasPrefix(msg, "the token expired") {
		t.Fatalf("after expiry: %d %q", code, msg)
	}
	if code, _, h := get(t, c, srv.URL+"/deployments/d1"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/signin") {
		t.Fatalf("a session of an expired token: %d %s", code, h.Get("Location"))
	}
	_, body, _ := get(t, c, srv.URL+"/signin")
	m := csrfField.FindStringSubmatch(body)
	if code, body, _ := post(t, c, srv.URL+"/signin", map[string][]string{"csrf": {m[1]}, "token": {plain}}); code != http.StatusUnauthorized || !strings.Contains(body, "the token expired") {
		t.Fatalf("sign-in with an expired token: %d", code)
	}
}
