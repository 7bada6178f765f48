package app

import (
	"fmt"
	"log/slog"
	"strings"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"github.com/rewindhq/rewind/internal/codec"
	"github.com/rewindhq/rewind/internal/config"
)

// ClientOptions are the options of every Temporal client rewind makes — the
// worker's, the CLI's, `rewind serve`'s and the tests' — so TLS, the API
// key and payload encryption cannot differ between them.
func ClientOptions(cfg *config.Config, logger *slog.Logger, metrics client.MetricsHandler) (client.Options, error) {
	tlsCfg, err := cfg.TemporalTLSConfig()
	if err != nil {
		return client.Options{}, err
	}
	dc, err := DataConverter(cfg)
	if err != nil {
		return client.Options{}, err
	}
	o := client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.Namespace, Logger: tlog.NewStructuredLogger(logger),
		MetricsHandler: metrics, DataConverter: dc, ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg}}
	if cfg.TemporalAPIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(cfg.TemporalAPIKey)
		// The SDK turns TLS on for API keys unless told not to; the
		// configuration has already decided.
		o.ConnectionOptions.TLSDisabled = tlsCfg == nil
		if tlsCfg == nil {
			logger.Warn("REWIND_TEMPORAL_TLS=false: the Temporal API key is sent without TLS")
		}
	}
	return o, nil
}

// DataConverter is the converter of every client: payloads encrypted with
// REWIND_PAYLOAD_KEYS, or the SDK's default when no keys are set. Code that
// decodes payloads by hand (heartbeat details from a describe call) must
// use it too.
func DataConverter(cfg *config.Config) (converter.DataConverter, error) {
	keys, err := cfg.PayloadKeyring()
	if err != nil {
		return nil, err
	}
	return codec.DataConverter(keys), nil
}

// dialError says what failed and, for the TLS failures an operator meets
// first, which setting to look at. gRPC flattens the TLS error into its
// status message, so the cause is recognised by crypto/tls's wording.
func dialError(cfg *config.Config, err error) error {
	how := "REWIND_TEMPORAL_ADDRESS"
	if cfg.TemporalTLSOn() {
		how += ", over TLS"
	}
	msg := err.Error()
	hint := ""
	switch {
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate"):
		if cfg.TemporalTLSCert == "" {
			hint = "the server requires a client certificate (mutual TLS): set REWIND_TEMPORAL_TLS_CERT and REWIND_TEMPORAL_TLS_KEY"
		} else {
			hint = "the server refused the client certificate in REWIND_TEMPORAL_TLS_CERT: is it signed by a CA the server trusts, and unexpired?"
		}
	case cfg.TemporalTLSOn() && cfg.TemporalTLSCert == "" && (strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset by peer")):
		// TLS 1.3: the client's handshake ends before the server checks for
		// a client certificate, so a client that writes first sees the
		// closed connection rather than the server's alert.
		hint = "the server closed the connection after the TLS handshake: it likely requires a client certificate (mutual TLS): set REWIND_TEMPORAL_TLS_CERT and REWIND_TEMPORAL_TLS_KEY"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		hint = "the server's certificate is not signed by a CA rewind trusts: set REWIND_TEMPORAL_TLS_CA to the CA that signed it"
	case strings.Contains(msg, "certificate is valid for"):
		hint = "the server's certificate does not name the address: set REWIND_TEMPORAL_TLS_SERVER_NAME to a name it carries"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		hint = "the server does not speak TLS: set REWIND_TEMPORAL_TLS=false, or use its TLS address"
	case !cfg.TemporalTLSOn() && (strings.Contains(msg, "server preface") || strings.Contains(msg, "EOF")):
		hint = "the server may require TLS: set REWIND_TEMPORAL_TLS=true (and REWIND_TEMPORAL_TLS_CA if its CA is private)"
	}
	if hint != "" {
		return fmt.Errorf("connecting to Temporal at %s (%s): %s; %w", cfg.TemporalAddress, how, hint, err)
	}
	return fmt.Errorf("connecting to Temporal at %s (%s): %w", cfg.TemporalAddress, how, err)
}

// payloadEncryption says how payloads are written, for the start-up log:
// the encrypting key's id, never a key.
func payloadEncryption(cfg *config.Config) string {
	keys, err := cfg.PayloadKeyring()
	if err != nil || keys == nil {
		return "off"
	}
	return codec.Cipher + " with key " + keys.IDs()[0]
}
