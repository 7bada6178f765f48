package app_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/rewindhq/rewind/internal/app"
	"github.com/rewindhq/rewind/internal/itest"
)

// frontend is a gRPC server that answers every call "unknown method", as
// an old Temporal would (the SDK then connects without capabilities), and
// records what arrived with each call: the Authorization header and
// whether the connection was TLS. It stands in for a frontend that checks
// API keys, which the dev server does not.
type frontend struct {
	addr string
	mu   sync.Mutex
	auth []string
	tls  []bool
}

func startFrontend(t *testing.T, pki *itest.PKI) *frontend {
	t.Helper()
	var opts []grpc.ServerOption
	if pki != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(&pki.Server)))
	}
	f := &frontend{}
	opts = append(opts, grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		md, _ := metadata.FromIncomingContext(stream.Context())
		p, _ := peer.FromContext(stream.Context())
		_, isTLS := p.AuthInfo.(credentials.TLSInfo)
		f.mu.Lock()
		f.auth = append(f.auth, strings.Join(md.Get("authorization"), ","))
		f.tls = append(f.tls, isTLS)
		f.mu.Unlock()
		return status.Error(codes.Unimplemented, "unknown method")
	}))
	srv := grpc.NewServer(opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	f.addr = ln.Addr().String()
	return f
}

func (f *frontend) calls() ([]string, []bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...), append([]bool(nil), f.tls...)
}

const apiKey = "tmprl-api-key-0123456789"

func dialWith(t *testing.T, env map[string]string) error {
	t.Helper()
	t.Setenv("REWIND_DATA_DIR", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
	c, err := app.Dial(itest.Config(t), slog.New(slog.DiscardHandler))
	if err == nil {
		c.Close()
	}
	return err
}

func TestAPIKeyIsSentOverTLS(t *testing.T) {
	pki := itest.NewPKI(t)
	f := startFrontend(t, pki)
	if err := dialWith(t, map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr, "REWIND_TEMPORAL_API_KEY": apiKey, "REWIND_TEMPORAL_TLS_CA": pki.CA}); err != nil {
		t.Fatal(err)
	}
	auth, tls := f.calls()
	if len(auth) == 0 {
		t.Fatal("the client made no call")
	}
	for i := range auth {
		if auth[i] != "Bearer "+apiKey || !tls[i] {
			t.Fatalf("call %d: authorization %q, TLS %v", i, auth[i], tls[i])
		}
	}
}

// An API key alone turns TLS on, with the system's roots: the test CA is
// not among them, so the handshake fails and the error says what to set,
// without showing the key.
func TestAPIKeyAloneImpliesTLS(t *testing.T) {
	f := startFrontend(t, itest.NewPKI(t))
	err := dialWith(t, map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr, "REWIND_TEMPORAL_API_KEY": apiKey})
	if err == nil || !strings.Contains(err.Error(), "REWIND_TEMPORAL_TLS_CA") || !strings.Contains(err.Error(), "over TLS") {
		t.Fatalf("want a TLS failure naming REWIND_TEMPORAL_TLS_CA, got %v", err)
	}
	if strings.Contains(err.Error(), apiKey) {
		t.Fatal("the error shows the API key")
	}
	t.Log(err)
}

// REWIND_TEMPORAL_TLS=false keeps an API key off TLS, for a local proxy
// that adds TLS itself.
func TestAPIKeyWithTLSExplicitlyOff(t *testing.T) {
	f := startFrontend(t, nil)
	if err := dialWith(t, map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr, "REWIND_TEMPORAL_API_KEY": apiKey, "REWIND_TEMPORAL_TLS": "false"}); err != nil {
		t.Fatal(err)
	}
	auth, tls := f.calls()
	if len(auth) == 0 || auth[0] != "Bearer "+apiKey || tls[0] {
		t.Fatalf("authorization %q, TLS %v", auth, tls)
	}
}

func TestTLSToAPlainServerSaysSo(t *testing.T) {
	f := startFrontend(t, nil)
	err := dialWith(t, map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr, "REWIND_TEMPORAL_TLS": "true"})
	if err == nil || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}

// A certificate for 127.0.0.1 and localhost, reached under another name:
// the hint names REWIND_TEMPORAL_TLS_SERVER_NAME, and setting it works.
func TestServerName(t *testing.T) {
	pki := itest.NewPKI(t)
	f := startFrontend(t, pki)
	env := map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr, "REWIND_TEMPORAL_TLS_CA": pki.CA, "REWIND_TEMPORAL_TLS_SERVER_NAME": "temporal.example.com"}
	if err := dialWith(t, env); err == nil || !strings.Contains(err.Error(), "REWIND_TEMPORAL_TLS_SERVER_NAME") {
		t.Fatalf("got %v", err)
	}
	env["REWIND_TEMPORAL_TLS_SERVER_NAME"] = "localhost"
	if err := dialWith(t, env); err != nil {
		t.Fatal(err)
	}
}

func TestPlaintextToATLSServerSaysSo(t *testing.T) {
	f := startFrontend(t, itest.NewPKI(t))
	err := dialWith(t, map[string]string{"REWIND_TEMPORAL_ADDRESS": f.addr})
	if err == nil || !strings.Contains(err.Error(), "REWIND_TEMPORAL_TLS=true") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
}
