package config

import (
	"fmt"
	"net/netip"
	"strings"
)

// finishSecurity checks the settings of `rewind serve`'s authentication
// brakes and of token lifetimes.
func (c *Config) finishSecurity() error {
	if c.TokenTTL <= 0 {
		return &Error{"REWIND_TOKEN_TTL", c.TokenTTL.String(), "must be a positive duration such as 720h (30 days)"}
	}
	if _, err := ParseProxies(c.HTTPTrustedProxies); err != nil {
		return &Error{"REWIND_HTTP_TRUSTED_PROXIES", strings.Join(c.HTTPTrustedProxies, ","), err.Error()}
	}
	return nil
}

// ParseProxies reads REWIND_HTTP_TRUSTED_PROXIES: IP addresses (a /32 or
// /128) and CIDR prefixes.
func ParseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
