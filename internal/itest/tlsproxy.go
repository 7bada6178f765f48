package itest

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TLSProxy is a stand-in for a Temporal frontend secured with TLS: the dev
// server (`temporal server start-dev`) has no TLS flags, so this proxy
// terminates TLS in front of it and forwards the bytes to its plain port.
// It advertises ALPN h2, as gRPC clients insist on, and with
// RequireClientCert it refuses any client without a certificate signed by
// the test CA (mutual TLS), as a real frontend configured for mTLS does.
type TLSProxy struct {
	Addr string // host:port to point REWIND_TEMPORAL_ADDRESS at

	// Handshakes completed, with a verified client certificate among them,
	// and handshakes the proxy refused.
	Handshakes, ClientCertificates, Refused atomic.Int64

	ln     net.Listener
	target string
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// StartTLSProxy listens on 127.0.0.1 with the PKI's server certificate and
// forwards to target. It stops, closing every connection, when the test
// ends.
func StartTLSProxy(t testing.TB, pki *PKI, target string, requireClientCert bool) *TLSProxy {
	t.Helper()
	cfg := &tls.Config{Certificates: []tls.Certificate{pki.Server}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	if requireClientCert {
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, pki.Pool
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := &TLSProxy{Addr: ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Stop)
	return p
}

func (p *TLSProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // the listener was closed by Stop
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Add(1)
		go p.serve(c.(*tls.Conn))
	}
}

// track remembers a live connection so Stop can close it; false once
// stopped.
func (p *TLSProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TLSProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *TLSProxy) serve(c *tls.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := c.HandshakeContext(ctx)
	cancel()
	if err != nil {
		p.Refused.Add(1)
		return
	}
	p.Handshakes.Add(1)
	if len(c.ConnectionState().PeerCertificates) > 0 {
		p.ClientCertificates.Add(1)
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(up) {
		if up != nil {
			up.Close()
		}
		return
	}
	defer p.untrack(up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Half-close, so the other direction can still drain.
		if tc, ok := dst.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

// Stop closes the listener and every connection through the proxy, and
// waits for its goroutines.
func (p *TLSProxy) Stop() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
