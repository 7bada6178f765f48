package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"

	"github.com/rewindhq/rewind/internal/codec"
	"github.com/rewindhq/rewind/internal/config"
)

const (
	codecMarker = "s3cret-marker"
	uiOrigin    = "http://localhost:8233"
)

type codecEnv struct {
	s     *Server
	url   string
	keys  *codec.Keyring
	token map[string]string // user → token
}

func startCodecEnv(t *testing.T, users ...string) *codecEnv {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	cfg := &config.Config{TaskQueue: "rewind", Namespace: "default", RollbackWindowDays: 90,
		PayloadKeys: "k1:" + base64.StdEncoding.EncodeToString(key), CodecUsers: users, CodecCORSOrigins: []string{uiOrigin}}
	keys, err := cfg.PayloadKeyring()
	if err != nil {
		t.Fatal(err)
	}
	e := &codecEnv{s: offlineServerWith(t, cfg), keys: keys, token: map[string]string{}}
	for _, u := range []string{"alice", "bob"} {
		plain, _, err := IssueToken(context.Background(), e.s.opts.Store, u, "codec test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.token[u] = plain
	}
	srv := httptest.NewServer(e.s.Handler())
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// encrypted is what a worker with the keys writes into history.
func (e *codecEnv) encrypted(t *testing.T) []*commonpb.Payload {
	t.Helper()
	p, err := codec.DataConverter(e.keys).ToPayload(map[string]string{"description": codecMarker})
	if err != nil {
		t.Fatal(err)
	}
	return []*commonpb.Payload{p}
}

// remote is the SDK's client of the codec protocol, as the Temporal CLI
// uses it with --codec-endpoint and --codec-auth.
func (e *codecEnv) remote(auth string) converter.PayloadCodec {
	return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: e.url + "/codec",
		ModifyRequest: func(r *http.Request) error {
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
			r.Header.Set("X-Namespace", "default")
			return nil
		}})
}

func decodedText(t *testing.T, ps []*commonpb.Payload) string {
	t.Helper()
	var v map[string]string
	if err := converter.GetDefaultDataConverter().FromPayload(ps[0], &v); err != nil {
		return ""
	}
	return v["description"]
}

func TestCodecEndpointDecodesForAllowedTokenHoldersOnly(t *testing.T) {
	e := startCodecEnv(t, "alice")
	in := e.encrypted(t)
	out, err := e.remote("Bearer " + e.token["alice"]).Decode(in)
	if err != nil || decodedText(t, out) != codecMarker {
		t.Fatalf("alice decodes: %v %v", out, err)
	}
	// Encode through the endpoint, decode locally: the same keys.
	enc, err := e.remote("Bearer " + e.token["alice"]).Encode(out)
	if err != nil || string(enc[0].Metadata[converter.MetadataEncoding]) != codec.Encoding {
		t.Fatalf("encode: %v %v", enc, err)
	}
	if back, err := codec.New(e.keys).Decode(enc); err != nil || decodedText(t, back) != codecMarker {
		t.Fatalf("decoding what the endpoint encoded: %v", err)
	}

	for name, c := range map[string]struct {
		auth   string
		status string
	}{
		"no token":        {"", "Unauthorized"},
		"not a token":     {"Bearer hello", "Unauthorized"},
		"basic auth":      {"Basic YWxpY2U6eA==", "Unauthorized"},
		"bob, not listed": {"Bearer " + e.token["bob"], "Forbidden"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := e.remote(c.auth).Decode(in)
			if err == nil || !strings.Contains(err.Error(), c.status) {
				t.Fatalf("want %s, got %v", c.status, err)
			}
			if strings.Contains(err.Error(), codecMarker) || decodedText(t, out) == codecMarker {
				t.Fatal("a refused request decoded")
			}
		})
	}
}

func TestCodecEndpointStarAllowsEveryTokenHolder(t *testing.T) {
	e := startCodecEnv(t, "*")
	if out, err := e.remote("Bearer " + e.token["bob"]).Decode(e.encrypted(t)); err != nil || decodedText(t, out) != codecMarker {
		t.Fatalf("bob with *: %v", err)
	}
	if _, err := e.remote("").Decode(e.encrypted(t)); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("no token with *: %v", err)
	}
}

func codecRequest(t *testing.T, method, url, origin string, body string, c *http.Client) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The Temporal UI calls from its own origin: the preflight is answered
// without credentials for the configured origin only.
func TestCodecEndpointCORS(t *testing.T) {
	e := startCodecEnv(t, "alice")
	res, _ := codecRequest(t, http.MethodOptions, e.url+codecDecodePath, uiOrigin, "", http.DefaultClient)
	h := res.Header
	if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != uiOrigin || h.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-Namespace") || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("preflight from the UI: %d %v", res.StatusCode, h)
	}
	res, _ = codecRequest(t, http.MethodOptions, e.url+codecDecodePath, "https://evil.example", "", http.DefaultClient)
	if res.StatusCode != http.StatusForbidden || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight from another origin: %d %v", res.StatusCode, res.Header)
	}
	res, _ = codecRequest(t, http.MethodGet, e.url+codecDecodePath, "", "", http.DefaultClient)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", res.StatusCode)
	}
}

// The UI sends no rewind token, but with "include cross-origin
// credentials" it sends the session cookie of a person signed in to
// rewind's page: that works from the configured origin and from nowhere
// else.
func TestCodecEndpointTakesThePageSessionFromTheUI(t *testing.T) {
	e := startCodecEnv(t, "alice")
	body := `{"payloads":[` + protoJSON(t, e.encrypted(t)[0]) + `]}`
	for user, want := range map[string]int{"alice": http.StatusOK, "bob": http.StatusForbidden} {
		c := browser(t)
		signIn(t, c, e.url, e.token[user])
		res, out := codecRequest(t, http.MethodPost, e.url+codecDecodePath, uiOrigin, body, c)
		if res.StatusCode != want {
			t.Fatalf("%s from the UI: %d %s", user, res.StatusCode, out)
		}
		decoded := strings.Contains(out, base64.StdEncoding.EncodeToString([]byte(`{"description":"`+codecMarker+`"}`)))
		if decoded != (want == http.StatusOK) || res.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Fatalf("%s: decoded %v, headers %v", user, decoded, res.Header)
		}
		res, out = codecRequest(t, http.MethodPost, e.url+codecDecodePath, "https://evil.example", body, c)
		if res.StatusCode != http.StatusUnauthorized || strings.Contains(out, "description") {
			t.Fatalf("%s's session from another origin: %d %s", user, res.StatusCode, out)
		}
	}
}

func protoJSON(t *testing.T, p *commonpb.Payload) string {
	t.Helper()
	b, err := converter.NewProtoJSONPayloadConverter().ToPayload(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b.Data)
}
