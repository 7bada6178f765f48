package api

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/rewindhq/rewind/internal/store"
)

// Brakes on authentication. Every failed authentication (a wrong,
// malformed, unknown, revoked or expired token, at sign-in or as a bearer
// token) is charged to the client's address and, when the token parses, to
// its id. While either bucket is empty every attempt from that client, or
// with that id, is refused with 429 before the token is even looked at, so
// a right guess cannot be told from a wrong one. Successes cost nothing.

// Limit is one bucket: Burst failures at once, one more forgiven every Every.
type Limit struct {
	Burst int
	Every time.Duration
}

// AuthLimits are the brakes' sizes.
type AuthLimits struct {
	PerClient Limit // per client address (an IPv6 /64, where one host usually has many)
	PerToken  Limit // per token id, from anywhere
	MaxKeys   int   // buckets kept per table; the idlest go first
}

// DefaultAuthLimits: a client gets 15 failures, then one every 4 s (so 20
// wrong tokens in a row meet a 429). A token id gets 30, then one a second:
// more than one client can take, so a single client that learnt a token's
// (public) id cannot keep its owner locked out.
var DefaultAuthLimits = AuthLimits{PerClient: Limit{15, 4 * time.Second}, PerToken: Limit{30, time.Second}, MaxKeys: 10_000}

// maxLockout caps the debt of failures made in parallel: all of them are
// charged, but no client waits longer than this after its last one.
const maxLockout = 15 * time.Minute

// buckets is one table of token buckets, bounded in size.
type buckets struct {
	limit Limit
	max   int
	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newBuckets(l Limit, max int) *buckets {
	return &buckets{limit: l, max: max, m: map[string]*bucket{}}
}

// wait is how long key must wait before its next attempt; 0: it may try.
func (b *buckets) wait(key string, now time.Time) time.Duration {
	if key == "" {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	if e == nil {
		return 0
	}
	if tokens := e.lim.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) * float64(b.limit.Every))
	}
	return 0
}

// charge counts one failure against key. Failures that passed the gate
// together all count: the bucket goes into debt, until the wait would pass
// maxLockout (or one interval, if that is longer).
func (b *buckets) charge(key string, now time.Time) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.m[key]
	if e == nil {
		b.makeRoom(now)
		e = &bucket{lim: rate.NewLimiter(rate.Every(b.limit.Every), b.limit.Burst)}
		b.m[key] = e
	}
	e.seen = now
	if tokens := e.lim.TokensAt(now); tokens >= 1 || time.Duration((2-tokens)*float64(b.limit.Every)) <= maxLockout {
		e.lim.ReserveN(now, 1)
	}
}

// makeRoom keeps the table bounded. A bucket that has refilled is the same
// as no bucket, so those go (at most once a minute, or when full); if the
// table is still full, the bucket idle longest goes.
func (b *buckets) makeRoom(now time.Time) {
	if len(b.m) < b.max && now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for k, e := range b.m {
		if e.lim.TokensAt(now) >= float64(b.limit.Burst) {
			delete(b.m, k)
		}
	}
	for len(b.m) >= b.max {
		oldest := ""
		for k, e := range b.m {
			if oldest == "" || e.seen.Before(b.m[oldest].seen) {
				oldest = k
			}
		}
		delete(b.m, oldest)
	}
}

func (b *buckets) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// limitError is a 429: too many failed authentications.
type limitError struct{ retry time.Duration }

func (e *limitError) Error() string {
	return "too many failed authentications from this client or for this token; retry in " + e.seconds() + " s"
}

// seconds is Retry-After's value: whole seconds, rounded up, at least 1.
func (e *limitError) seconds() string {
	return strconv.Itoa(max(1, int(math.Ceil(e.retry.Seconds()))))
}

// setRetryAfter sets Retry-After when err is a 429.
func setRetryAfter(w http.ResponseWriter, err error) {
	var le *limitError
	if errors.As(err, &le) {
		w.Header().Set("Retry-After", le.seconds())
	}
}

// braked runs one authentication under the brakes: refused while the
// client is over its limit, before the token is looked at; charged and
// logged (client, token id, reason; never the token) when it fails. The
// token id's limit brakes only failures: a valid token is never held off
// by failures others charged to its (public) id from elsewhere (issue 26),
// and a wrong one presented while the id is braked gets 429, not 401.
func (s *Server) braked(r *http.Request, via, tokenID string, check func(ctx context.Context, now time.Time) (store.Token, error)) (store.Token, error) {
	now := s.opts.Now()
	client := s.clientAddr(r)
	key := clientKey(client)
	refuse := func(d time.Duration) error {
		le := &limitError{d}
		s.log.Warn("authentication refused: too many failures", "client", client.String(), "tokenId", tokenID, "via", via,
			"method", r.Method, "path", r.URL.Path, "retryAfter", le.seconds())
		return le
	}
	if d := s.byClient.wait(key, now); d > 0 {
		return store.Token{}, refuse(d)
	}
	t, err := check(r.Context(), now)
	var ae *authError
	if errors.As(err, &ae) {
		braked := s.byToken.wait(tokenID, now)
		s.byClient.charge(key, now)
		s.byToken.charge(tokenID, now)
		s.log.Warn("authentication failed", "client", client.String(), "tokenId", tokenID, "via", via,
			"method", r.Method, "path", r.URL.Path, "reason", ae.msg)
		if braked > 0 {
			return store.Token{}, refuse(braked)
		}
	}
	return t, err
}

// authenticate checks a presented token under the brakes.
func (s *Server) authenticate(r *http.Request, via, plain string) (store.Token, error) {
	id := ""
	if m := tokenPattern.FindStringSubmatch(plain); m != nil {
		id = m[1]
	}
	return s.braked(r, via, id, func(ctx context.Context, now time.Time) (store.Token, error) {
		return AuthenticateAt(ctx, s.opts.Store, plain, now)
	})
}

// clientAddr is the address the brakes count against: the connection's,
// unless it is a trusted proxy (REWIND_HTTP_TRUSTED_PROXIES); then
// X-Forwarded-For is read from the right, past every trusted proxy, to the
// first address a trusted proxy saw connect. Entries left of that are
// whatever the client wrote and are never believed.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			return addr // unreadable: stop at the last proxy we trust
		}
		addr = hop
		if !s.trusted(hop) {
			return hop
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// clientKey buckets IPv6 clients by /64, which one host or customer usually
// holds whole; an address that could not be read shares one bucket.
func clientKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is6():
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
