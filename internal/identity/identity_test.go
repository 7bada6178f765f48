package identity

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignAndVerify(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	now := time.Now()
	digest := InputDigest([]byte(`{"deploymentId":"d1","revision":3}`))
	c := Claim{RequestedBy: "alice", DeploymentID: "d1", WorkflowID: "change/d1", WorkflowType: "RollbackWorkflow", InputDigest: digest, SignedAt: now}
	sig := Sign(key, c)
	nonce, err := Verify(key, c, sig, now.Add(time.Minute))
	if err != nil || nonce == "" || !strings.Contains(sig, "."+nonce+".") {
		t.Fatalf("nonce %q, %v", nonce, err)
	}
	if other := Sign(key, c); other == sig {
		t.Fatal("two signatures of one claim must carry different nonces")
	}
	with := func(f func(*Claim)) Claim { d := c; f(&d); return d }
	parts := strings.Split(sig, ".")
	for name, tc := range map[string]struct {
		key []byte
		c   Claim
		sig string
		at  time.Time
		err error
	}{
		"unsigned":         {key, c, "", now, ErrUnsigned},
		"other requester":  {key, with(func(c *Claim) { c.RequestedBy = "mallory" }), sig, now, ErrMismatch},
		"other deployment": {key, with(func(c *Claim) { c.DeploymentID = "d2" }), sig, now, ErrMismatch},
		"other workflow":   {key, with(func(c *Claim) { c.WorkflowID = "plan/d1/x" }), sig, now, ErrMismatch},
		"other type":       {key, with(func(c *Claim) { c.WorkflowType = "DeployWorkflow" }), sig, now, ErrMismatch},
		"other input":      {key, with(func(c *Claim) { c.InputDigest = InputDigest([]byte(`{"deploymentId":"d1","revision":2}`)) }), sig, now, ErrMismatch},
		"other key":        {[]byte(strings.Repeat("x", 32)), c, sig, now, ErrMismatch},
		"no key":           {nil, c, sig, now, ErrMismatch},
		"replayed later":   {key, c, sig, now.Add(MaxAge + time.Second), ErrExpired},
		"from the future":  {key, c, sig, now.Add(-2 * time.Minute), ErrExpired},
		"garbage":          {key, c, "v2.x.y.z", now, ErrMalformed},
		"version 1":        {key, c, "v1." + parts[1] + "." + parts[3], now, ErrMalformed},
		"nonce swapped":    {key, c, parts[0] + "." + parts[1] + "." + NewNonce() + "." + parts[3], now, ErrMismatch},
		"time tampered":    {key, c, "v2.1." + parts[2] + "." + parts[3], now, ErrMismatch},
		"field boundary":   {key, with(func(c *Claim) { c.RequestedBy, c.DeploymentID = "alic", "ed1" }), sig, now, ErrMismatch},
		"oversized":        {key, c, sig + strings.Repeat("A", 300), now, ErrMalformed},
	} {
		if _, err := Verify(tc.key, tc.c, tc.sig, tc.at); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", name, err, tc.err)
		}
	}
}
