package api

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// Cookies are Secure and HSTS is sent whenever the browser came over
// HTTPS: a TLS connection, or a trusted proxy saying so; anyone else's
// X-Forwarded-Proto changes nothing (issue 26).
func TestHTTPSMeansSecureCookiesAndHSTS(t *testing.T) {
	s := offlineServer(t)
	s.opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	for _, c := range []struct {
		name, remote, proto string
		tls, want           bool
	}{
		{"plain HTTP", "10.0.0.9:5555", "", false, false},
		{"TLS", "10.0.0.9:5555", "", true, true},
		{"trusted proxy says https", "127.0.0.1:5555", "https", false, true},
		{"trusted proxy says http", "127.0.0.1:5555", "http", false, false},
		{"untrusted client says https", "10.0.0.9:5555", "https", false, false},
	} {
		r := httptest.NewRequest("GET", "/signin", nil)
		r.RemoteAddr = c.remote
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, r)
		hsts := w.Header().Get("Strict-Transport-Security") != ""
		cookie := w.Header().Get("Set-Cookie")
		if cookie == "" {
			t.Fatalf("%s: the sign-in form sets its CSRF cookie", c.name)
		}
		if secure := strings.Contains(cookie, "; Secure"); hsts != c.want || secure != c.want {
			t.Errorf("%s: HSTS %v, Secure cookie %v; want %v (%s)", c.name, hsts, secure, c.want, cookie)
		}
	}
}
