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
	c := Claim{RequestedBy: "alice", DeploymentID: "d1", WorkflowID: "change/d1", SignedAt: now}
	sig := Sign(key, c)
	if err := Verify(key, c, sig, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		key []byte
		c   Claim
		sig string
		at  time.Time
		err error
	}{
		"unsigned":         {key, c, "", now, ErrUnsigned},
		"other requester":  {key, Claim{"mallory", "d1", "change/d1", now}, sig, now, ErrMismatch},
		"other deployment": {key, Claim{"alice", "d2", "change/d1", now}, sig, now, ErrMismatch},
		"other workflow":   {key, Claim{"alice", "d1", "change/d2", now}, sig, now, ErrMismatch},
		"other key":        {[]byte(strings.Repeat("x", 32)), c, sig, now, ErrMismatch},
		"no key":           {nil, c, sig, now, ErrMismatch},
		"replayed later":   {key, c, sig, now.Add(MaxAge + time.Second), ErrExpired},
		"from the future":  {key, c, sig, now.Add(-2 * time.Minute), ErrExpired},
		"garbage":          {key, c, "v1.x.y", now, ErrMalformed},
		"other version":    {key, c, "v2" + sig[2:], now, ErrMalformed},
		"time tampered":    {key, c, "v1.1." + strings.Split(sig, ".")[2], now, ErrMismatch},
		"field boundary":   {key, Claim{"alic", "ed1", "change/d1", now}, sig, now, ErrMismatch},
		"oversized":        {key, c, sig + strings.Repeat("A", 300), now, ErrMalformed},
	} {
		if err := Verify(tc.key, tc.c, tc.sig, tc.at); !errors.Is(err, tc.err) {
			t.Errorf("%s: got %v, want %v", name, err, tc.err)
		}
	}
}
