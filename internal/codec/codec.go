// Package codec encrypts Temporal payloads with AES-256-GCM, so workflow
// inputs, results and activity arguments are unreadable at rest in
// Temporal's database and to anyone who can read the namespace but holds no
// key (issue 13). It is a converter.PayloadCodec: the SDK's codec data
// converter applies it in every client and worker, and the SDK's HTTP
// handler serves it to the Temporal UI and CLI from `rewind serve`.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// The metadata of an encrypted payload. "binary/encrypted" is the
// convention of Temporal's samples and tools for "not readable without a
// codec"; the cipher names rewind's format, so a payload some other codec
// encrypted under the same marker is an error rather than garbage.
const (
	Encoding       = "binary/encrypted"
	MetadataKeyID  = "encryption-key-id"
	MetadataCipher = "encryption-cipher"
	Cipher         = "AES-256-GCM"
)

// Variable is where the keys come from; errors name it so an operator knows
// what to fix.
const Variable = "REWIND_PAYLOAD_KEYS"

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Keyring holds the keys by id: the first encrypts, all decrypt. Only the
// ciphers built from the keys are kept, never the key bytes, and String
// shows the ids alone, so printing a Keyring cannot leak a key.
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// ParseKeys reads "id:base64key,id:base64key": each key 32 bytes in
// standard base64 (`openssl rand -base64 32`), ids unique. Empty means no
// encryption (nil, nil). Errors name the entry and its id, never the key.
func ParseKeys(s string) (*Keyring, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(s, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(entry), ":")
		if !ok {
			return nil, fmt.Errorf("entry %d is not id:base64key", i+1)
		}
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("entry %d: key id must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", i+1)
		}
		if _, dup := k.aeads[id]; dup {
			return nil, fmt.Errorf("entry %d: key id %q appears twice", i+1, id)
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key %q must be 32 bytes in standard base64 (openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		clear(raw)
		k.ids = append(k.ids, id)
		k.aeads[id] = aead
	}
	return k, nil
}

// IDs are the key ids, the encrypting one first.
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

func (k *Keyring) String() string { return "payload keys " + strings.Join(k.ids, ",") }

// Codec is the PayloadCodec over a Keyring.
type Codec struct{ keys *Keyring }

// New returns the codec; keys must not be nil.
func New(keys *Keyring) *Codec { return &Codec{keys: keys} }

// DataConverter is the SDK's default converter with payloads encrypted by
// keys, or the default converter itself when keys is nil, so an
// installation without keys behaves exactly as before.
func DataConverter(keys *Keyring) converter.DataConverter {
	if keys == nil {
		return converter.GetDefaultDataConverter()
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(keys))
}

// additionalData binds the format version and key id into the tag, so
// relabelling a payload with another key id fails authentication.
func additionalData(id string) []byte { return []byte("rewind payload v1\x00" + id) }

// Encode encrypts every payload, metadata included, with the first key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.ids[0]
	aead := c.keys.aeads[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypting payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("encrypting payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataCipher:             []byte(Cipher),
				MetadataKeyID:              []byte(id),
			},
			Data: aead.Seal(nonce, nonce, plain, additionalData(id)),
		}
	}
	return out, nil
}

// ErrNotOurs is wrapped by decode errors of payloads marked encrypted in a
// format this codec does not write.
var ErrNotOurs = errors.New("not rewind's payload encryption")

// Decode decrypts rewind's encrypted payloads and passes every other
// payload through untouched: JSON sent by the Temporal CLI or UI, and
// everything written before encryption was switched on.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		plain, err := c.open(p)
		if err != nil {
			return payloads, err
		}
		out[i] = plain
	}
	return out, nil
}

func (c *Codec) open(p *commonpb.Payload) (*commonpb.Payload, error) {
	if got := string(p.Metadata[MetadataCipher]); got != Cipher {
		return nil, fmt.Errorf("payload encrypted with cipher %q: %w (want %s)", got, ErrNotOurs, Cipher)
	}
	id := string(p.Metadata[MetadataKeyID])
	aead, ok := c.keys.aeads[id]
	if !ok {
		return nil, fmt.Errorf("payload encrypted with key id %q, which %s does not hold (it has %s): add that key back to decrypt it",
			id, Variable, strings.Join(c.keys.ids, ", "))
	}
	n := aead.NonceSize()
	if len(p.Data) < n+aead.Overhead() {
		return nil, fmt.Errorf("payload encrypted with key id %q is truncated", id)
	}
	plain, err := aead.Open(nil, p.Data[:n], p.Data[n:], additionalData(id))
	if err != nil {
		return nil, fmt.Errorf("payload encrypted with key id %q failed authentication: it was altered, or the key under that id is not the one it was encrypted with", id)
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("payload encrypted with key id %q: decrypted data is not a payload: %w", id, err)
	}
	return &out, nil
}
