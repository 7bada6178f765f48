package notify

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestInternalAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
		"0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1",
		"::ffff:169.254.169.254", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "fec0::1"} {
		if !Internal(netip.MustParseAddr(a)) {
			t.Errorf("%s must be internal", a)
		}
	}
	for _, a := range []string{"93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"} {
		if Internal(netip.MustParseAddr(a)) {
			t.Errorf("%s must be allowed", a)
		}
	}
}

func TestCheckRefusesInternalHostsUnlessAllowed(t *testing.T) {
	ctx := context.Background()
	e := NewEgress(nil)
	for _, u := range []string{"http://127.0.0.1:2375/containers/create", "http://169.254.169.254/latest/meta-data/", "http://[::1]:7233/",
		"http://[::ffff:127.0.0.1]/", "http://10.1.2.3/x", "http://localhost:8080/x", "http://0.0.0.0/", "http://[fe80::1%25eth0]/"} {
		err := e.Check(ctx, u)
		if domain.TypeOf(err) != domain.InvalidInput {
			t.Errorf("%s: %v", u, err)
		}
	}
	allowed := NewEgress([]string{"127.0.0.1", "LocalHost"})
	for _, u := range []string{"http://127.0.0.1:9000/hook", "http://localhost/x"} {
		if err := allowed.Check(ctx, u); err != nil {
			t.Errorf("%s allowed: %v", u, err)
		}
	}
	if err := allowed.Check(ctx, "http://127.0.0.2/x"); err == nil {
		t.Error("the allow-list names exact hosts")
	}
}

// The dialer checks the address it connects to, after DNS, and a redirect
// is returned as the answer, never followed.
func TestClientNeverReachesInside(t *testing.T) {
	var hits atomic.Int32
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer inside.Close()
	c := NewEgress(nil).Client(5 * time.Second)
	_, err := c.Post(inside.URL+"/secret-path", "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "internal address") || hits.Load() != 0 {
		t.Fatalf("loopback through the guarded client: %v, %d hits", err, hits.Load())
	}
	if msg := ScrubError(err, inside.URL+"/secret-path"); strings.Contains(msg, "secret-path") {
		t.Fatalf("the error must not quote the path: %s", msg)
	}
	// An allowed host (the redirector) that redirects inside: not followed.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.URL+"/containers/create", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	resp, err := NewEgress([]string{"127.0.0.1"}).Client(5*time.Second).Post(redirector.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || hits.Load() != 0 {
		t.Fatalf("redirect: %d, %d hits inside", resp.StatusCode, hits.Load())
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("https://hooks.slack.com/services/T0/B0/s3cr3t?x=y"); got != "https://hooks.slack.com" {
		t.Fatal(got)
	}
}

// A host that does not resolve is InvalidInput when added, and recognisable
// at a delivery, which retries it rather than giving up.
func TestUnresolvedHostIsInvalidAndRecognisable(t *testing.T) {
	err := NewEgress(nil).Check(context.Background(), "https://no-such-host.invalid/hook/secret")
	var unresolved *UnresolvedError
	if domain.TypeOf(err) != domain.InvalidInput || !errors.As(err, &unresolved) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("%T %v", err, err)
	}
}
