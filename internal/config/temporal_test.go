package config_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/config"
	"github.com/rewindhq/rewind/internal/itest"
)

func load(t *testing.T, env map[string]string) (*config.Config, error) {
	t.Helper()
	t.Setenv("REWIND_DATA_DIR", t.TempDir())
	for k, v := range env {
		t.Setenv(k, v)
	}
	return config.Load()
}

func TestTLSIsOnWhenAnySettingNeedsIt(t *testing.T) {
	pki := itest.NewPKI(t)
	cases := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"REWIND_TEMPORAL_TLS": "true"}, true},
		{map[string]string{"REWIND_TEMPORAL_TLS_CA": pki.CA}, true},
		{map[string]string{"REWIND_TEMPORAL_TLS_CERT": pki.ClientCert, "REWIND_TEMPORAL_TLS_KEY": pki.ClientKey}, true},
		{map[string]string{"REWIND_TEMPORAL_TLS_SERVER_NAME": "temporal.internal"}, true},
		{map[string]string{"REWIND_TEMPORAL_API_KEY": "k"}, true},
		{map[string]string{"REWIND_TEMPORAL_API_KEY": "k", "REWIND_TEMPORAL_TLS": "false"}, false},
	}
	for _, c := range cases {
		cfg, err := load(t, c.env)
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		tc, err := cfg.TemporalTLSConfig()
		if err != nil || cfg.TemporalTLSOn() != c.want || (tc != nil) != c.want {
			t.Errorf("%v: TLS on %v, config %v, err %v; want on %v", c.env, cfg.TemporalTLSOn(), tc != nil, err, c.want)
		}
		for k := range c.env {
			os.Unsetenv(k)
		}
	}
}

func TestClientCertificateIsReadAtEachHandshake(t *testing.T) {
	pki := itest.NewPKI(t)
	cfg, err := load(t, map[string]string{"REWIND_TEMPORAL_TLS_CERT": pki.ClientCert, "REWIND_TEMPORAL_TLS_KEY": pki.ClientKey, "REWIND_TEMPORAL_TLS_CA": pki.CA})
	if err != nil {
		t.Fatal(err)
	}
	tc, err := cfg.TemporalTLSConfig()
	if err != nil || tc.RootCAs == nil || tc.GetClientCertificate == nil {
		t.Fatalf("%+v %v", tc, err)
	}
	if c, err := tc.GetClientCertificate(nil); err != nil || len(c.Certificate) == 0 {
		t.Fatalf("client certificate: %v", err)
	}
	// Renewed on disk (here: broken), the next handshake sees the new file.
	os.WriteFile(pki.ClientCert, []byte("renewing"), 0o600)
	if _, err := tc.GetClientCertificate(nil); err == nil || !strings.Contains(err.Error(), "REWIND_TEMPORAL_TLS_CERT") {
		t.Fatalf("got %v", err)
	}
}

func TestSecuritySettingsNameTheVariable(t *testing.T) {
	pki := itest.NewPKI(t)
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	key := make([]byte, 32)
	rand.Read(key)
	goodKeys := "k1:" + base64.StdEncoding.EncodeToString(key)
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"REWIND_TEMPORAL_TLS", map[string]string{"REWIND_TEMPORAL_TLS": "maybe"}},
		{"REWIND_TEMPORAL_TLS_CA", map[string]string{"REWIND_TEMPORAL_TLS_CA": "/nonexistent/ca.pem"}},
		{"REWIND_TEMPORAL_TLS_CA", map[string]string{"REWIND_TEMPORAL_TLS_CA": notPEM}},
		{"REWIND_TEMPORAL_TLS_CA", map[string]string{"REWIND_TEMPORAL_TLS": "false", "REWIND_TEMPORAL_TLS_CA": pki.CA}},
		{"REWIND_TEMPORAL_TLS_KEY", map[string]string{"REWIND_TEMPORAL_TLS_CERT": pki.ClientCert}},
		{"REWIND_TEMPORAL_TLS_CERT", map[string]string{"REWIND_TEMPORAL_TLS_KEY": pki.ClientKey}},
		{"REWIND_TEMPORAL_TLS_CERT", map[string]string{"REWIND_TEMPORAL_TLS_CERT": pki.ClientCert, "REWIND_TEMPORAL_TLS_KEY": pki.ServerKey}},
		{"REWIND_TEMPORAL_API_KEY", map[string]string{"REWIND_TEMPORAL_API_KEY": "secret-api-key\n"}},
		{"REWIND_PAYLOAD_KEYS", map[string]string{"REWIND_PAYLOAD_KEYS": goodKeys + ",k2:c2hvcnQ="}},
		{"REWIND_PAYLOAD_KEYS", map[string]string{"REWIND_PAYLOAD_KEYS": goodKeys + "," + goodKeys}},
		{"REWIND_CODEC_USERS", map[string]string{"REWIND_CODEC_USERS": "alice,bob smith"}},
		{"REWIND_CODEC_CORS_ORIGINS", map[string]string{"REWIND_CODEC_CORS_ORIGINS": "*"}},
		{"REWIND_CODEC_CORS_ORIGINS", map[string]string{"REWIND_CODEC_CORS_ORIGINS": "http://localhost:8233/ui"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(t, c.env)
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Var != c.name {
				t.Fatalf("%v: want *config.Error naming %s, got %v", c.env, c.name, err)
			}
			for _, secret := range []string{"secret-api-key", goodKeys[3:]} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestCodecSettings(t *testing.T) {
	cfg, err := load(t, map[string]string{"REWIND_CODEC_USERS": "alice,*", "REWIND_CODEC_CORS_ORIGINS": "http://localhost:8233,https://temporal.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CodecUsers) != 2 || len(cfg.CodecCORSOrigins) != 2 {
		t.Fatalf("%v %v", cfg.CodecUsers, cfg.CodecCORSOrigins)
	}
	if k, err := cfg.PayloadKeyring(); k != nil || err != nil {
		t.Fatalf("no keys: %v %v", k, err)
	}
}
