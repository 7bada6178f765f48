package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

// useTemporalTLS points the worker and the CLI at a TLS address, with the
// CA to trust and optionally a client certificate ("" "" for none).
func useTemporalTLS(t *testing.T, addr, ca, cert, key string) {
	t.Setenv("REWIND_TEMPORAL_ADDRESS", addr)
	t.Setenv("REWIND_TEMPORAL_TLS_CA", ca)
	t.Setenv("REWIND_TEMPORAL_TLS_CERT", cert)
	t.Setenv("REWIND_TEMPORAL_TLS_KEY", key)
}

// A worker and the CLI reach Temporal only through a frontend that
// requires mutual TLS (the TLS proxy standing in for one, in front of the
// real dev server): a deploy completes with the client certificate; a
// client without one, or trusting another CA, is refused with an error
// that names the setting to fix; server-only TLS works with the CA alone.
func TestWorkerAndCLIOverMutualTLS(t *testing.T) {
	s := itest.StartServer(t)
	pki := itest.NewPKI(t)
	mtls := itest.StartTLSProxy(t, pki, s.Addr, true)
	useTemporalTLS(t, mtls.Addr, pki.CA, pki.ClientCert, pki.ClientKey)
	itest.StartWorker(t)

	// The worker's connection presented the certificate.
	if mtls.ClientCertificates.Load() < 1 {
		t.Fatal("the worker connected without a client certificate")
	}
	// A deploy over mTLS in both modes: store-direct the CLI's own
	// connection presents the certificate, remote rewind serve's (started
	// with this configuration).
	// Counted from the end of the previous half: rewind serve connects
	// when it starts, before the half's body.
	var dep string
	seen := mtls.ClientCertificates.Load()
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep = itest.UniqueID("mtls")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--description", "over mTLS", "--wait")
		revs := m.historyJSON(dep)
		if len(revs) != 1 || revs[0].Status != domain.StatusDeployed || revs[0].Description != "over mTLS" {
			t.Fatalf("history over mTLS: %+v", revs)
		}
		if n := mtls.ClientCertificates.Load() - seen; n < 1 || mtls.Refused.Load() != 0 {
			t.Fatalf("%s: handshakes with a client certificate: %d, refused: %d", m.name(), n, mtls.Refused.Load())
		}
		seen = mtls.ClientCertificates.Load()
	})

	// The rest is the CLI's own Temporal connection, which only the
	// store-direct CLI has (remote, it holds no Temporal address): single
	// mode by nature.
	useTemporalTLS(t, mtls.Addr, pki.CA, "", "")
	r := rewind("watch", "change/"+dep)
	if r.code != ExitRefused || !strings.Contains(r.stderr, "requires a client certificate") || !strings.Contains(r.stderr, "REWIND_TEMPORAL_TLS_CERT") {
		t.Fatalf("without a client certificate: exit %d: %s", r.code, r.stderr)
	}
	// The client reads the proxy's alert before the proxy's handshake call
	// returns and counts it.
	for deadline := time.Now().Add(5 * time.Second); mtls.Refused.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the proxy refused no handshake")
		}
	}
	t.Logf("without a client certificate: %s", r.stderr)

	other := itest.NewPKI(t)
	useTemporalTLS(t, mtls.Addr, other.CA, pki.ClientCert, pki.ClientKey)
	r = rewind("watch", "change/"+dep)
	if r.code != ExitRefused || !strings.Contains(r.stderr, "REWIND_TEMPORAL_TLS_CA") || !strings.Contains(r.stderr, "unknown authority") {
		t.Fatalf("trusting another CA: exit %d: %s", r.code, r.stderr)
	}

	tlsOnly := itest.StartTLSProxy(t, pki, s.Addr, false)
	useTemporalTLS(t, tlsOnly.Addr, pki.CA, "", "")
	out := mustRewind(t, "watch", "change/"+dep)
	if !strings.Contains(out, "finished: Completed") || tlsOnly.Handshakes.Load() == 0 || tlsOnly.ClientCertificates.Load() != 0 {
		t.Fatalf("server-only TLS: %s (handshakes %d)", out, tlsOnly.Handshakes.Load())
	}
}
