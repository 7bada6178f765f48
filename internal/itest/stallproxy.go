package itest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// StallProxy is a test stand-in for a registry that accepts connections
// and then stops sending: a TCP proxy in front of the test registry that,
// once it has sent a set number of response bytes, holds every connection
// open and forwards nothing more until Release.
type StallProxy struct {
	ln      net.Listener
	target  string
	after   atomic.Int64 // stall once this many response bytes were sent; <0 never
	sent    atomic.Int64
	release chan struct{}
	once    sync.Once
}

// StartStallProxy proxies to target (host:port) on a free local port; it
// stops with the test.
func StartStallProxy(t testing.TB, target string) *StallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &StallProxy{ln: ln, target: target, release: make(chan struct{})}
	p.after.Store(-1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Release() })
	return p
}

// Addr is the proxy's host:port, a registry address the Engine treats as
// insecure (127.0.0.0/8).
func (p *StallProxy) Addr() string { return p.ln.Addr().String() }

// StallAfter makes the proxy freeze once n more response bytes are sent.
func (p *StallProxy) StallAfter(n int64) { p.after.Store(p.sent.Load() + n) }

// Stalled says whether the proxy is holding its connections now.
func (p *StallProxy) Stalled() bool {
	a := p.after.Load()
	select {
	case <-p.release:
		return false
	default:
		return a >= 0 && p.sent.Load() >= a
	}
}

// Release lets every held connection go on, and no more stalls happen.
func (p *StallProxy) Release() { p.once.Do(func() { close(p.release) }) }

func (p *StallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *StallProxy) handle(c net.Conn) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := up.Read(buf)
		if n > 0 {
			for p.Stalled() {
				select {
				case <-p.release:
				case <-time.After(50 * time.Millisecond):
				}
			}
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
			p.sent.Add(int64(n))
		}
		if err != nil {
			return
		}
	}
}
