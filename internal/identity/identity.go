// Package identity signs and verifies who asked for a change, and what
// they asked for (R18, R22). rewind's own clients (the CLI and `rewind
// serve`) sign the requester, the deployment, the workflow id, the
// workflow type, a digest of the workflow's canonical input, a random
// nonce and the time with a key the workers hold. A worker checks the
// signature before it reads anything, against what it is about to run, and
// records the nonce so the signature is accepted once. Anyone who can start
// workflows in the Temporal namespace can claim any name; only holders of
// the key can sign one, and a signature copied from a history authorises
// nothing but the change it was made for, which has already run.
package identity

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	// WorkflowType is the workflow's registered name (DeployWorkflow, …).
	WorkflowType string
	// InputDigest is InputDigest of the workflow's canonical input: every
	// field that changes what runs, without the signature itself.
	InputDigest string
	// Nonce makes each signature unique; workers record it when they accept
	// it and refuse it afterwards. Sign makes one when it is empty.
	Nonce    string
	SignedAt time.Time
}

// MaxAge bounds how old a signature may be when a worker checks it. A
// change's first activity runs seconds after it starts; the rest of the
// window covers clock skew and a worker that was briefly busy.
const MaxAge = 5 * time.Minute

// MinKeyLength is the shortest signing key accepted.
const MinKeyLength = 32

// version 1 covered the requester, deployment, workflow id and time only;
// such signatures are no longer accepted.
const version = "v2"

// InputDigest is the digest a claim carries for a canonical input.
func InputDigest(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func mac(key []byte, c Claim, at int64) []byte {
	m := hmac.New(sha256.New, key)
	// Length-prefixed fields: no two claims serialise alike.
	for _, f := range []string{version, c.RequestedBy, c.DeploymentID, c.WorkflowID, c.WorkflowType, c.InputDigest, c.Nonce, strconv.FormatInt(at, 10)} {
		fmt.Fprintf(m, "%d:%s;", len(f), f)
	}
	return m.Sum(nil)
}

// NewNonce returns 16 random bytes, base64url.
func NewNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Sign returns the signature of c: "v2.<unix seconds>.<nonce>.<mac>".
func Sign(key []byte, c Claim) string {
	if c.Nonce == "" {
		c.Nonce = NewNonce()
	}
	at := c.SignedAt.Unix()
	return version + "." + strconv.FormatInt(at, 10) + "." + c.Nonce + "." + base64.RawURLEncoding.EncodeToString(mac(key, c, at))
}

// Errors of Verify; none of them says anything about the key.
var (
	ErrUnsigned  = errors.New("the request carries no requester signature")
	ErrMalformed = errors.New("the requester signature is malformed")
	ErrMismatch  = errors.New("the requester signature does not match the requester, deployment, workflow and input")
	ErrExpired   = errors.New("the requester signature is too old or from the future")
)

// Verify checks sig against c (SignedAt and Nonce are taken from sig) as of
// now, and returns the nonce the caller must record as used.
func Verify(key []byte, c Claim, sig string, now time.Time) (nonce string, err error) {
	if sig == "" {
		return "", ErrUnsigned
	}
	parts := strings.Split(sig, ".")
	if len(parts) != 4 || parts[0] != version || len(sig) > 200 {
		return "", ErrMalformed
	}
	at, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", ErrMalformed
	}
	if n, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil || len(n) != 16 {
		return "", ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(parts[3])
	if err != nil {
		return "", ErrMalformed
	}
	c.Nonce = parts[2]
	if len(key) == 0 || !hmac.Equal(got, mac(key, c, at)) {
		return "", ErrMismatch
	}
	if d := now.Sub(time.Unix(at, 0)); d > MaxAge || d < -time.Minute {
		return "", ErrExpired
	}
	return c.Nonce, nil
}
