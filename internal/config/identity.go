package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/rewindhq/rewind/internal/identity"
)

// signingKeyFile holds the request signing key of an installation that
// sets none: the embedded `make run`, where the worker and the CLI share
// the data directory.
const signingKeyFile = "request-signing.key"

// SigningKey is the key rewind's clients sign requesters with and workers
// verify them with (R18): REWIND_REQUEST_SIGNING_KEY, else the key file in
// the data directory (nil when there is none yet).
func (c *Config) SigningKey() ([]byte, error) {
	if c.RequestSigningKey != "" {
		return []byte(c.RequestSigningKey), nil
	}
	b, err := os.ReadFile(filepath.Join(c.DataDir, signingKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimSpace(string(b))), nil
}

// EnsureSigningKey returns the signing key, creating the data directory's
// key file (0600) when none is configured: a worker does this at start, so
// an embedded installation verifies requesters without setup.
func (c *Config) EnsureSigningKey() ([]byte, error) {
	if k, err := c.SigningKey(); err != nil || k != nil {
		return k, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	key := hex.EncodeToString(b)
	path := filepath.Join(c.DataDir, signingKeyFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.SigningKey() // another process made it first
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.WriteString(key + "\n"); err != nil {
		return nil, err
	}
	return []byte(key), f.Sync()
}

func (c *Config) finishIdentity() error {
	if c.RequestSigningKey != "" && len(c.RequestSigningKey) < identity.MinKeyLength {
		return &Error{"REWIND_REQUEST_SIGNING_KEY", "(hidden)", "must be at least 32 bytes"}
	}
	return nil
}
