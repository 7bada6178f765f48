package codec

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func keyring(t *testing.T, spec string) *Keyring {
	t.Helper()
	k, err := ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type input struct {
	DeploymentID string `json:"deploymentId"`
	Description  string `json:"description"`
}

const marker = "s3cret-marker"

func encode(t *testing.T, k *Keyring, v any) *commonpb.Payload {
	t.Helper()
	p, err := DataConverter(k).ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripHidesThePlaintext(t *testing.T) {
	k := keyring(t, "k1:"+newKey(t))
	p := encode(t, k, input{"d1", marker})
	if bytes.Contains(p.Data, []byte(marker)) || bytes.Contains(p.Data, []byte("json/plain")) {
		t.Fatal("the encrypted payload holds the plaintext or its encoding")
	}
	if string(p.Metadata[converter.MetadataEncoding]) != Encoding || string(p.Metadata[MetadataKeyID]) != "k1" || string(p.Metadata[MetadataCipher]) != Cipher {
		t.Fatalf("metadata %q", p.Metadata)
	}
	var got input
	if err := DataConverter(k).FromPayload(p, &got); err != nil {
		t.Fatal(err)
	}
	if got != (input{"d1", marker}) {
		t.Fatalf("round trip gave %+v", got)
	}
	// Two encryptions of one value differ: a fresh nonce each time.
	if bytes.Equal(p.Data, encode(t, k, input{"d1", marker}).Data) {
		t.Fatal("the same value encrypted twice gave the same bytes")
	}
}

// Rotation: a new key goes first and encrypts; the old one stays to decrypt
// what it wrote, until nothing it wrote is left.
func TestRotationOldKeyDecryptsNewKeyEncrypts(t *testing.T) {
	k1, k2 := newKey(t), newKey(t)
	old := keyring(t, "k1:"+k1)
	rotated := keyring(t, "k2:"+k2+", k1:"+k1)
	written := encode(t, old, input{"d1", "before rotation"})

	var got input
	if err := DataConverter(rotated).FromPayload(written, &got); err != nil || got.Description != "before rotation" {
		t.Fatalf("old payload after rotation: %+v, %v", got, err)
	}
	fresh := encode(t, rotated, input{"d1", "after rotation"})
	if id := string(fresh.Metadata[MetadataKeyID]); id != "k2" {
		t.Fatalf("new payloads are encrypted with %q, want k2", id)
	}
	// A worker not yet given k2 says which key it lacks.
	err := DataConverter(old).FromPayload(fresh, &got)
	if err == nil || !strings.Contains(err.Error(), `key id "k2"`) || !strings.Contains(err.Error(), Variable) {
		t.Fatalf("unknown key id: %v", err)
	}
	if strings.Contains(err.Error(), k1) || strings.Contains(err.Error(), k2) {
		t.Fatal("the error shows a key")
	}
}

func TestTamperingIsDetected(t *testing.T) {
	k := keyring(t, "k1:"+newKey(t)+",k0:"+newKey(t))
	var v input
	cases := map[string]func(p *commonpb.Payload){
		"flipped ciphertext bit": func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 },
		"flipped nonce bit":      func(p *commonpb.Payload) { p.Data[0] ^= 1 },
		"truncated":              func(p *commonpb.Payload) { p.Data = p.Data[:10] },
		"relabelled key id":      func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k0") },
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			p := encode(t, k, input{"d1", marker})
			tamper(p)
			err := DataConverter(k).FromPayload(p, &v)
			if err == nil {
				t.Fatal("a tampered payload decoded")
			}
			if !strings.Contains(err.Error(), "altered") && !strings.Contains(err.Error(), "truncated") {
				t.Fatalf("error does not say what went wrong: %v", err)
			}
		})
	}
}

func TestForeignEncryptionIsAnError(t *testing.T) {
	k := keyring(t, "k1:"+newKey(t))
	p := encode(t, k, input{"d1", marker})
	p.Metadata[MetadataCipher] = []byte("AES-128-CBC")
	if _, err := New(k).Decode([]*commonpb.Payload{p}); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("got %v", err)
	}
}

// What the Temporal CLI and UI send is plain JSON: it must reach the
// workflow as it is, and so must anything written before keys were set.
func TestPlainPayloadsPassThrough(t *testing.T) {
	k := keyring(t, "k1:"+newKey(t))
	plain, err := converter.GetDefaultDataConverter().ToPayloads(input{"d1", "from the Temporal CLI"}, nil, []byte("raw"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := New(k).Decode(plain.Payloads)
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if out[i] != plain.Payloads[i] {
			t.Fatalf("payload %d was changed", i)
		}
	}
	var v input
	if err := DataConverter(k).FromPayload(plain.Payloads[0], &v); err != nil || v.Description != "from the Temporal CLI" {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestNoKeysIsTheDefaultConverter(t *testing.T) {
	k, err := ParseKeys("  ")
	if k != nil || err != nil {
		t.Fatalf("empty keys: %v, %v", k, err)
	}
	if DataConverter(nil) != converter.GetDefaultDataConverter() {
		t.Fatal("without keys the converter must be the SDK's default")
	}
}

func TestParseKeysRefusesWithoutShowingKeys(t *testing.T) {
	good := newKey(t)
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	cases := map[string]string{
		"no colon":       good,
		"bad id":         "-k:" + good,
		"duplicate id":   "k1:" + good + ",k1:" + good,
		"short key":      "k1:" + short,
		"not base64":     "k1:" + strings.Repeat("!", 44),
		"empty entry":    "k1:" + good + ",",
		"long id":        strings.Repeat("k", 65) + ":" + good,
		"url base64 key": "k1:" + strings.NewReplacer("+", "-", "/", "_").Replace(good) + "-_",
	}
	for name, spec := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseKeys(spec)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, secret := range []string{good, short} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows the key: %v", err)
				}
			}
		})
	}
	k := keyring(t, "k2:"+good+", k1:"+newKey(t))
	if s := fmt.Sprintf("%v %+v %s", k, k, k); strings.Contains(s, good) || !strings.Contains(s, "k2,k1") {
		t.Fatalf("printing a keyring: %s", s)
	}
	if ids := k.IDs(); len(ids) != 2 || ids[0] != "k2" {
		t.Fatalf("ids %v", ids)
	}
}
