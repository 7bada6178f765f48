package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/rewindhq/rewind/internal/codec"
	"github.com/rewindhq/rewind/internal/domain"
)

// hidden stands for a secret's value in an Error.
const hidden = "(hidden)"

// TemporalTLSOn says whether clients connect to Temporal over TLS:
// REWIND_TEMPORAL_TLS when set; otherwise on as soon as a CA, a client
// certificate, a server name or an API key is configured, since each of
// them means nothing without TLS (and Temporal Cloud requires it with API
// keys). REWIND_TEMPORAL_TLS=false with an API key sends the key in the
// clear, for a local proxy that adds TLS itself.
func (c *Config) TemporalTLSOn() bool {
	if on, err := strconv.ParseBool(c.TemporalTLS); err == nil {
		return on
	}
	return c.TemporalTLSCA != "" || c.TemporalTLSCert != "" || c.TemporalTLSServerName != "" || c.TemporalAPIKey != ""
}

// TemporalTLSConfig is the TLS configuration of every Temporal client, nil
// when TLS is off. The client certificate is read again at each handshake,
// so a certificate renewed on disk is used on the next connection without a
// restart.
func (c *Config) TemporalTLSConfig() (*tls.Config, error) {
	if !c.TemporalTLSOn() {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TemporalTLSServerName}
	if c.TemporalTLSCA != "" {
		pem, err := os.ReadFile(c.TemporalTLSCA)
		if err != nil {
			return nil, &Error{"REWIND_TEMPORAL_TLS_CA", c.TemporalTLSCA, "cannot read it: " + unwrapPath(err)}
		}
		t.RootCAs = x509.NewCertPool()
		if !t.RootCAs.AppendCertsFromPEM(pem) {
			return nil, &Error{"REWIND_TEMPORAL_TLS_CA", c.TemporalTLSCA, "holds no PEM certificate"}
		}
	}
	if c.TemporalTLSCert != "" {
		certFile, keyFile := c.TemporalTLSCert, c.TemporalTLSKey
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, &Error{"REWIND_TEMPORAL_TLS_CERT", certFile, "cannot load it with REWIND_TEMPORAL_TLS_KEY: " + unwrapPath(err)}
		}
		t.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("REWIND_TEMPORAL_TLS_CERT %s: %s", certFile, unwrapPath(err))
			}
			return &cert, nil
		}
	}
	return t, nil
}

// unwrapPath keeps a file error's reason without repeating the path.
func unwrapPath(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkTemporalSecurity validates the TLS, API-key and payload-codec
// settings. Secrets (the API key, the payload keys) never appear in its
// errors.
func (c *Config) checkTemporalSecurity() error {
	if c.TemporalTLS != "" {
		if _, err := strconv.ParseBool(c.TemporalTLS); err != nil {
			return &Error{"REWIND_TEMPORAL_TLS", c.TemporalTLS, "must be true or false (or unset: on when a TLS setting or an API key is given)"}
		}
	}
	if (c.TemporalTLSCert == "") != (c.TemporalTLSKey == "") {
		if c.TemporalTLSCert == "" {
			return &Error{"REWIND_TEMPORAL_TLS_CERT", "", "must be set with REWIND_TEMPORAL_TLS_KEY: a client certificate needs both"}
		}
		return &Error{"REWIND_TEMPORAL_TLS_KEY", "", "must be set with REWIND_TEMPORAL_TLS_CERT: a client certificate needs both"}
	}
	if !c.TemporalTLSOn() {
		for name, v := range map[string]string{"REWIND_TEMPORAL_TLS_CA": c.TemporalTLSCA, "REWIND_TEMPORAL_TLS_CERT": c.TemporalTLSCert,
			"REWIND_TEMPORAL_TLS_KEY": c.TemporalTLSKey, "REWIND_TEMPORAL_TLS_SERVER_NAME": c.TemporalTLSServerName} {
			if v != "" {
				return &Error{name, v, "is set but REWIND_TEMPORAL_TLS is false"}
			}
		}
	}
	if strings.ContainsFunc(c.TemporalAPIKey, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return &Error{"REWIND_TEMPORAL_API_KEY", hidden, "must not contain spaces, newlines or control characters"}
	}
	if _, err := c.TemporalTLSConfig(); err != nil {
		return err
	}
	if _, err := codec.ParseKeys(c.PayloadKeys); err != nil {
		return &Error{codec.Variable, hidden, err.Error()}
	}
	for _, u := range c.CodecUsers {
		if u != "*" && domain.CheckUser(u) != nil {
			return &Error{"REWIND_CODEC_USERS", strings.Join(c.CodecUsers, ","), fmt.Sprintf("%q is not a user name (or * for every token holder)", u)}
		}
	}
	for _, o := range c.CodecCORSOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return &Error{"REWIND_CODEC_CORS_ORIGINS", strings.Join(c.CodecCORSOrigins, ","), fmt.Sprintf("%q is not an origin such as http://localhost:8233", o)}
		}
	}
	return nil
}

// PayloadKeyring is the parsed REWIND_PAYLOAD_KEYS, nil when unset (no
// encryption). Load has validated it.
func (c *Config) PayloadKeyring() (*codec.Keyring, error) {
	k, err := codec.ParseKeys(c.PayloadKeys)
	if err != nil {
		return nil, &Error{codec.Variable, hidden, err.Error()}
	}
	return k, nil
}
