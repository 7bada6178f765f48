package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/rewindhq/rewind/internal/domain"
)

// Egress decides where webhooks may go (issue 26): out, never in. A
// webhook's host must resolve only to public addresses — no loopback,
// link-local (the cloud metadata service), private, shared (CGNAT),
// multicast, broadcast or unspecified addresses, in IPv4 or IPv6 or the
// IPv6 forms that carry an IPv4 address — unless an administrator names
// that exact host in REWIND_WEBHOOK_ALLOW_HOSTS. It is checked when a
// webhook is added and again at every connection of every delivery (DNS
// can change in between), and deliveries never follow redirects.
type Egress struct {
	// Allow holds hosts (as in the URL, lowercased, without the port) that
	// may be internal.
	Allow map[string]bool
	// Resolver looks hosts up; nil: net.DefaultResolver.
	Resolver *net.Resolver
}

// NewEgress is the egress policy for an allow-list of exact hosts.
func NewEgress(allowHosts []string) Egress {
	e := Egress{Allow: map[string]bool{}}
	for _, h := range allowHosts {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" {
			e.Allow[strings.Trim(h, "[]")] = true
		}
	}
	return e
}

// blocked are the ranges a webhook may not reach besides what netip's
// predicates say (loopback, private, link-local, multicast, unspecified).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, and broadcast
	netip.MustParsePrefix("::/96"),              // IPv4-compatible (deprecated), ::, ::1
	netip.MustParsePrefix("64:ff9b::/96"),       // NAT64: checked as the IPv4 it carries too
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
	netip.MustParsePrefix("2002::/16"),          // 6to4 carries an IPv4 address
	netip.MustParsePrefix("2001::/32"),          // Teredo carries an IPv4 address
	netip.MustParsePrefix("fec0::/10"),          // site-local (deprecated)
	netip.MustParsePrefix("100::/64"),           // discard-only
	netip.MustParsePrefix("2001:db8::/32"),      // documentation
	netip.MustParsePrefix("fc00::/7"),           // unique local (IsPrivate says so too)
	netip.MustParsePrefix("ff00::/8"),           // multicast (IsMulticast says so too)
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, metadata services
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
}

// Internal reports whether a webhook may not reach addr.
func Internal(addr netip.Addr) bool {
	addr = addr.Unmap() // ::ffff:127.0.0.1 is 127.0.0.1
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast() ||
		addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return true
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Redact is a URL as errors and logs may show it: scheme and host only,
// since the path or query of many webhook URLs (Slack's) is the secret.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// UnresolvedError is a host that did not resolve: InvalidInput when a
// webhook is added, a failure worth retrying at a delivery (DNS can be
// down for a while).
type UnresolvedError struct {
	URL string
	Err error
}

func (e *UnresolvedError) Error() string {
	return fmt.Sprintf("webhook %s: its host does not resolve: %v", e.URL, e.Err)
}

// Unwrap makes it an InvalidInput refusal for domain.TypeOf and the API.
func (e *UnresolvedError) Unwrap() error { return domain.Errorf(domain.InvalidInput, "%s", e.Error()) }

// Check resolves the URL's host and refuses it, InvalidInput, if any of its
// addresses is internal and the host is not allowed, or if it does not
// resolve (*UnresolvedError).
func (e Egress) Check(ctx context.Context, raw string) error {
	if err := CheckURL(raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	host := strings.ToLower(u.Hostname())
	if e.Allow[host] {
		return nil
	}
	addrs, err := e.lookup(ctx, host)
	if err != nil {
		return &UnresolvedError{URL: Redact(raw), Err: errors.Unwrap(err)}
	}
	for _, a := range addrs {
		if Internal(a) {
			return domain.Errorf(domain.InvalidInput, "webhook %s resolves to %s, an internal address; webhooks only go out "+
				"(an administrator can allow this exact host with REWIND_WEBHOOK_ALLOW_HOSTS)", Redact(raw), a)
		}
	}
	return nil
}

func (e Egress) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	r := e.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("lookup: %w", err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("lookup: %w", errors.New("no addresses"))
	}
	return ips, nil
}

// Client is the HTTP client of deliveries: no proxy from the environment
// (it would connect on rewind's behalf to anything), no redirects (a 3xx
// is returned as the answer), and a
// dialer that checks the address of every connection it makes, after DNS,
// unless the host is allowed.
func (e Egress) Client(timeout time.Duration) *http.Client {
	guarded := &net.Dialer{Timeout: 10 * time.Second, Resolver: e.Resolver, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("webhook connection to %q: not an address", address)
		}
		if Internal(ap.Addr()) {
			return fmt.Errorf("webhook connection refused: %s is an internal address", ap.Addr())
		}
		return nil
	}}
	plain := &net.Dialer{Timeout: 10 * time.Second, Resolver: e.Resolver}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err == nil && e.Allow[strings.ToLower(host)] {
				return plain.DialContext(ctx, network, addr)
			}
			return guarded.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		DisableKeepAlives:     true,
	}
	// A redirect is the receiver's answer, not a place to go: it could
	// point anywhere, inside included.
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// ScrubError is err as a delivery reports it: the URL the HTTP client
// quotes is cut to its scheme and host.
func ScrubError(err error, raw string) string {
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Op + " " + Redact(raw) + ": " + ue.Err.Error()
	}
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, Redact(raw))
	}
	return msg
}
