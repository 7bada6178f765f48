package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestBucketsBurstRefillDebtAndBound(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := newBuckets(Limit{Burst: 3, Every: 10 * time.Second}, 3)
	for i := 0; i < 3; i++ {
		if d := b.wait("a", t0); d != 0 {
			t.Fatalf("failure %d refused: %s", i, d)
		}
		b.charge("a", t0)
	}
	if d := b.wait("a", t0); d != 10*time.Second {
		t.Fatalf("after the burst: wait %s, want 10s", d)
	}
	if d := b.wait("a", t0.Add(10*time.Second)); d != 0 {
		t.Fatalf("after one interval: wait %s", d)
	}
	if b.wait("other", t0) != 0 || b.wait("", t0) != 0 {
		t.Fatal("another key, or none, is not limited")
	}
	// Failures that got past the gate together are all charged, up to
	// maxLockout.
	for i := 0; i < 20; i++ {
		b.charge("b", t0)
	}
	if d := b.wait("b", t0); d != 180*time.Second {
		t.Fatalf("20 failures on a burst of 3: wait %s, want 180s", d)
	}
	for i := 0; i < 1000; i++ {
		b.charge("b", t0)
	}
	if d := b.wait("b", t0); d > maxLockout || d < maxLockout-10*time.Second {
		t.Fatalf("a flood waits %s, want about %s", d, maxLockout)
	}
}

// The table stays bounded: a refilled bucket goes first, then the one idle
// longest.
func TestBucketsStayBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := newBuckets(Limit{Burst: 2, Every: 10 * time.Second}, 3)
	b.charge("a", t0)
	for i := 0; i < 3; i++ { // into debt: still braked 10 s later
		b.charge("b", t0.Add(5*time.Second))
		b.charge("c", t0.Add(6*time.Second))
	}
	b.charge("d", t0.Add(15*time.Second)) // a has refilled by now: it goes
	if b.len() != 3 || b.wait("b", t0.Add(15*time.Second)) == 0 || b.wait("c", t0.Add(15*time.Second)) == 0 {
		t.Fatalf("after d: %d buckets, b and c must still be braked", b.len())
	}
	b.charge("e", t0.Add(16*time.Second)) // none refilled: b, idle longest, goes
	if b.len() != 3 || b.wait("b", t0.Add(16*time.Second)) != 0 || b.wait("c", t0.Add(16*time.Second)) == 0 {
		t.Fatalf("after e: %d buckets; b should have gone, c stayed", b.len())
	}
	for i := 0; i < 1000; i++ {
		b.charge(fmt.Sprint("k", i), t0.Add(20*time.Second))
	}
	if b.len() != 3 {
		t.Fatalf("%d buckets after 1000 keys, want 3", b.len())
	}
}

func TestClientAddr(t *testing.T) {
	s := &Server{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}}
	cases := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"203.0.113.5:1234", []string{"198.51.100.7"}, "203.0.113.5"}, // not a trusted proxy: its header is ignored
		{"10.0.0.2:1234", nil, "10.0.0.2"},
		{"10.0.0.2:1234", []string{"198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:1234", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"}, // the client wrote 6.6.6.6
		{"10.0.0.2:1234", []string{"198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"10.0.0.2:1234", []string{"6.6.6.6", "198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.2:1234", []string{"10.1.1.1"}, "10.1.1.1"},
		{"10.0.0.2:1234", []string{"198.51.100.7, unknown"}, "10.0.0.2"},
		{"10.0.0.2:1234", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"[fd00::1]:80", []string{"2001:db8::2"}, "2001:db8::2"},
		{"[::ffff:10.0.0.3]:80", []string{"198.51.100.8"}, "198.51.100.8"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r).String(); got != c.want {
			t.Errorf("%s %q: %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
	if k := clientKey(netip.MustParseAddr("2001:db8:1:2:aaaa::1")); k != "2001:db8:1:2::/64" {
		t.Errorf("IPv6 key %s", k)
	}
	if clientKey(netip.Addr{}) != "unknown" {
		t.Error("an unreadable address has no bucket")
	}
}

// brakedServer is an offline server with its own clock, limits, trusted
// proxies and a log the test reads.
func brakedServer(t *testing.T, limits AuthLimits, proxies ...string) (*Server, *httptest.Server, *time.Time, *syncBuffer) {
	t.Helper()
	o := offlineServer(t).opts
	now := time.Now()
	logs := &syncBuffer{}
	o.Now = func() time.Time { return now }
	o.AuthLimits = limits
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	for _, p := range proxies {
		o.TrustedProxies = append(o.TrustedProxies, netip.MustParsePrefix(p))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if err := s.opts.Store.CreateDeployment(ctx, domain.Deployment{ID: "d1", Name: "d1", DagSource: domain.DagSourceImage}); err != nil {
		t.Fatal(err)
	}
	s.opts.Store.AddGrant(ctx, domain.Grant{User: "alice", DeploymentID: "d1", Role: "viewer"})
	return s, srv, &now, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func bearer(t *testing.T, base, token, forwardedFor string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/deployments/d1/deploys", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

// wrongToken is a well-formed token nobody holds.
func wrongToken(i int) string {
	return fmt.Sprintf("rwd_%012x_%s", 0xbad000+i, strings.Repeat("W", 43))
}

// With the default limits, 20 wrong tokens in a row from one client meet
// 429 with Retry-After, and then so does a right one (the gate comes before
// the check); failures are logged without the secret; time lets it in.
func TestWrongTokensInARowGet429(t *testing.T) {
	s, srv, now, logs := brakedServer(t, DefaultAuthLimits)
	good, _, _ := IssueToken(context.Background(), s.opts.Store, "alice", "", *now)
	var codes []int
	for i := 0; i < 20; i++ {
		res := bearer(t, srv.URL, wrongToken(i), "")
		codes = append(codes, res.StatusCode)
		if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") != "4" {
			t.Fatalf("attempt %d: Retry-After %q, want 4", i+1, res.Header.Get("Retry-After"))
		}
	}
	for i, c := range codes {
		if want := map[bool]int{true: 401, false: 429}[i < DefaultAuthLimits.PerClient.Burst]; c != want {
			t.Fatalf("statuses %v: attempt %d got %d, want %d", codes, i+1, c, want)
		}
	}
	if res := bearer(t, srv.URL, good, ""); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a right token from the braked client: %d", res.StatusCode)
	}
	*now = now.Add(4 * time.Second)
	if res := bearer(t, srv.URL, good, ""); res.StatusCode != http.StatusOK {
		t.Fatalf("after Retry-After: %d", res.StatusCode)
	}
	out := logs.String()
	for _, want := range []string{`msg="authentication failed" client=127.0.0.1 tokenId=000000bad000 via=bearer`, `reason="the token is not valid"`, `msg="authentication refused: too many failures"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, strings.Repeat("W", 43)) || strings.Contains(out, good[len(tokenPrefix)+13:]) {
		t.Fatalf("a secret reached the log:\n%s", out)
	}
	if strings.Count(out, "authentication failed") != DefaultAuthLimits.PerClient.Burst {
		t.Fatalf("want %d failures logged:\n%s", DefaultAuthLimits.PerClient.Burst, out)
	}
}

// Per token id: failures for one id from many clients lock that id (even
// for the right secret) and no other; behind a trusted proxy each client
// is its own X-Forwarded-For address, and a client cannot pick its address
// by writing the header itself.
func TestTokenIDAndForwardedClientLimits(t *testing.T) {
	limits := AuthLimits{PerClient: Limit{3, time.Hour}, PerToken: Limit{5, time.Hour}, MaxKeys: 100}
	s, srv, now, _ := brakedServer(t, limits, "127.0.0.1/32")
	ctx := context.Background()
	good, tok, _ := IssueToken(ctx, s.opts.Store, "alice", "", *now)
	other, _, _ := IssueToken(ctx, s.opts.Store, "alice", "", *now)
	wrongSecret := tokenPrefix + tok.ID + "_" + strings.Repeat("Z", 43)
	for i := 0; i < 5; i++ {
		if res := bearer(t, srv.URL, wrongSecret, fmt.Sprintf("198.51.100.%d", i)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, res.StatusCode)
		}
	}
	// The id is braked for failures: another wrong secret gets 429; the
	// owner's valid token is not locked out (issue 26).
	res := bearer(t, srv.URL, wrongSecret, "198.51.100.98")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "3600" {
		t.Fatalf("a wrong secret for the braked token id from a fresh client: %d %q", res.StatusCode, res.Header.Get("Retry-After"))
	}
	if res := bearer(t, srv.URL, good, "198.51.100.99"); res.StatusCode != http.StatusOK {
		t.Fatalf("the valid token of a braked id: %d", res.StatusCode)
	}
	if res := bearer(t, srv.URL, other, "198.51.100.99"); res.StatusCode != http.StatusOK {
		t.Fatalf("another token: %d", res.StatusCode)
	}
	// One client, three failures: braked whatever it writes in front of
	// what the proxy appended.
	for i := 0; i < 3; i++ {
		bearer(t, srv.URL, wrongToken(i), "203.0.113.9")
	}
	if res := bearer(t, srv.URL, other, "6.6.6.6, 203.0.113.9"); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a spoofed X-Forwarded-For escaped the brake: %d", res.StatusCode)
	}
	*now = now.Add(time.Hour)
	if res := bearer(t, srv.URL, good, "203.0.113.9"); res.StatusCode != http.StatusOK {
		t.Fatalf("an hour later: %d", res.StatusCode)
	}
}

// The sign-in form has the same brakes: 429 with Retry-After, the form
// shown again, no session.
func TestSignInIsBraked(t *testing.T) {
	s, srv, _, logs := brakedServer(t, AuthLimits{PerClient: Limit{2, time.Minute}, PerToken: Limit{10, time.Minute}, MaxKeys: 10})
	good, _, _ := IssueToken(context.Background(), s.opts.Store, "alice", "", time.Now())
	c := browser(t)
	attempt := func(token string) (int, string, http.Header) {
		_, body, _ := get(t, c, srv.URL+"/signin")
		m := csrfField.FindStringSubmatch(body)
		return post(t, c, srv.URL+"/signin", url.Values{"csrf": {m[1]}, "token": {token}})
	}
	for i := 0; i < 2; i++ {
		if code, _, _ := attempt("hunter2"); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d", i+1, code)
		}
	}
	code, body, h := attempt(good)
	if code != http.StatusTooManyRequests || h.Get("Retry-After") != "60" || !strings.Contains(body, "too many failed authentications") {
		t.Fatalf("braked sign-in: %d %q", code, h.Get("Retry-After"))
	}
	for _, sc := range h.Values("Set-Cookie") {
		if strings.HasPrefix(sc, sessionCookie+"=") {
			t.Fatalf("a braked sign-in set a session: %s", sc)
		}
	}
	if !strings.Contains(logs.String(), "via=sign-in") || strings.Contains(logs.String(), "hunter2") {
		t.Fatalf("sign-in log:\n%s", logs.String())
	}
}
