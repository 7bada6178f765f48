// Package identity signs and verifies who asked for a change. rewind's own
// clients (the CLI and `rewind serve`) sign the requester, the deployment,
// the workflow id and the time with a key the workers hold; a worker checks
// the signature before it records anything, so history, search attributes
// and log events say whether the requester was verified or only claimed
// (R18). Anyone who can start workflows in the Temporal namespace can claim
// any name; only holders of the key can sign one.
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Claim is what a signature covers.
type Claim struct {
	RequestedBy  string
	DeploymentID string
	WorkflowID   string
	SignedAt     time.Time
}

// MaxAge bounds how old a signature may be when a worker checks it, so a
// signed input captured from history cannot be started again later.
const MaxAge = 15 * time.Minute

// MinKeyLength is the shortest signing key accepted.
const MinKeyLength = 32

const version = "v1"

func mac(key []byte, c Claim, at int64) []byte {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two claims serialise alike.
	for _, f := range []string{version, c.RequestedBy, c.DeploymentID, c.WorkflowID, strconv.FormatInt(at, 10)} {
		fmt.Fprintf(m, "%d:%s;", len(f), f)
	}
	return m.Sum(nil)
}

// Sign returns the signature of c: "v1.<unix seconds>.<mac>".
func Sign(key []byte, c Claim) string {
	at := c.SignedAt.Unix()
	return version + "." + strconv.FormatInt(at, 10) + "." + base64.RawURLEncoding.EncodeToString(mac(key, c, at))
}

// Errors of Verify; none of them says anything about the key.
var (
	ErrUnsigned  = errors.New("the request carries no requester signature")
	ErrMalformed = errors.New("the requester signature is malformed")
	ErrMismatch  = errors.New("the requester signature does not match the requester, deployment and workflow")
	ErrExpired   = errors.New("the requester signature is too old or from the future")
)

// Verify checks sig against c (SignedAt is taken from sig) as of now.
func Verify(key []byte, c Claim, sig string, now time.Time) error {
	if sig == "" {
		return ErrUnsigned
	}
	parts := strings.Split(sig, ".")
	if len(parts) != 3 || parts[0] != version || len(sig) > 200 {
		return ErrMalformed
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return ErrMalformed
	}
	if len(key) == 0 || !hmac.Equal(got, mac(key, c, at)) {
		return ErrMismatch
	}
	if d := now.Sub(time.Unix(at, 0)); d > MaxAge || d < -time.Minute {
		return ErrExpired
	}
	return nil
}
