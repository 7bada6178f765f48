package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A configuration error names the variable but never echoes a password.
func TestConfigErrorsDoNotEchoSecrets(t *testing.T) {
	t.Setenv("REWIND_DATABASE_URL", "mysql://rewind:hunter2-secret@db.internal/rewind")
	_, err := Load()
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "REWIND_DATABASE_URL" {
		t.Fatalf("want a REWIND_DATABASE_URL error, got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "mysql://rewind:xxxxx@db.internal/rewind") {
		t.Fatalf("message %q", err)
	}
	// Every secret-bearing setting, through the one place messages are made.
	for _, e := range []*Error{
		{"REWIND_ELASTICSEARCH_PASSWORD", "hunter2-secret", "x"},
		{"REWIND_ELASTICSEARCH_API_KEY", "hunter2-secret", "x"},
		{"REWIND_HTTP_SESSION_KEY", "hunter2-secret", "x"},
		{"REWIND_ELASTICSEARCH_ADDRESSES", "https://elastic:hunter2-secret@es1:9200,https://es2:9200", "x"},
		{"REWIND_DATABASE_URL", "postgres://u@db/x?password=hunter2-secret", "x"},
	} {
		if msg := e.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, e.Var) {
			t.Errorf("%s: %q", e.Var, msg)
		}
	}
}

func TestTokenTTL(t *testing.T) {
	c, err := Load()
	if err != nil || c.TokenTTL != 90*24*time.Hour {
		t.Fatalf("default: %v %v", c, err)
	}
	t.Setenv("REWIND_TOKEN_TTL", "720h")
	if c, err := Load(); err != nil || c.TokenTTL != 30*24*time.Hour {
		t.Fatalf("720h: %v", err)
	}
	// Unparsable values are in TestBadValuesNameTheVariable; these parse.
	for _, bad := range []string{"0", "-1h"} {
		t.Setenv("REWIND_TOKEN_TTL", bad)
		if _, err := Load(); err == nil || !strings.HasPrefix(err.Error(), "configuration: REWIND_TOKEN_TTL=") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Setenv("REWIND_HTTP_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1,fd00::/8")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := ParseProxies(c.HTTPTrustedProxies)
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8")}
	if err != nil || len(ps) != len(want) {
		t.Fatalf("%v %v", ps, err)
	}
	for i := range want {
		if ps[i] != want[i] {
			t.Errorf("%d: %v, want %v", i, ps[i], want[i])
		}
	}
}
