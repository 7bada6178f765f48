package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rewindhq/rewind/internal/codec"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
)

const secretMarker = "s3cret-marker"

// showsMarker says whether the Temporal CLI's JSON shows the marker, in
// clear or inside any base64 string (how it prints payloads it cannot
// render), so "not shown" cannot pass merely because of the encoding.
func showsMarker(out string) bool { return shows(out, secretMarker) }

func shows(out, secretMarker string) bool {
	if strings.Contains(out, secretMarker) {
		return true
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch v := v.(type) {
		case string:
			b, err := base64.StdEncoding.DecodeString(v)
			return err == nil && strings.Contains(string(b), secretMarker)
		case []any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			for _, e := range v {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var v any
		if dec.Decode(&v) != nil {
			return false
		}
		if walk(v) {
			return true
		}
	}
}

// startServe runs `rewind serve` in process on a free port until the test
// ends, and returns its base URL once it answers.
func startServe(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() {
		var out, errb strings.Builder
		code := Run(ctx, []string{"serve", "--address", addr}, strings.NewReader(""), &out, &errb)
		done <- result{code, out.String(), errb.String()}
	}()
	t.Cleanup(func() {
		cancel()
		if r := <-done; r.code != ExitOK {
			t.Errorf("rewind serve: exit %d: %s", r.code, r.stderr)
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if res, err := http.Get(base + "/api/v1/openapi.json"); err == nil {
			res.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatal("rewind serve did not answer")
		}
	}
}

// With REWIND_PAYLOAD_KEYS set, a deploy's history in Temporal holds no
// plaintext of its input: the Temporal CLI shows none of it on its own,
// and all of it through `rewind serve`'s codec endpoint with a token of an
// allowed user. Plain JSON from the Temporal CLI still starts a deploy.
func TestPayloadsAreEncryptedInTemporalAndDecodeThroughServe(t *testing.T) {
	s := itest.StartServer(t)
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("REWIND_PAYLOAD_KEYS", "k1:"+base64.StdEncoding.EncodeToString(key))
	t.Setenv("REWIND_CODEC_USERS", "alice")
	itest.StartWorker(t)

	// Both halves: remote, the deploy goes through rewind serve, whose
	// client must encrypt the payloads too; its codec endpoint decodes them.
	eachMode(t, func(t *testing.T, m *cliMode) {
		dep := itest.UniqueID("codec")
		itest.RemoveContainers(t, dep)
		m.mustRewind("deployment", "create", dep, "--dag-source", "image", "--component", "scheduler=airflow scheduler")
		m.mustRewind("grant", "alice", "--deployment", dep, "--role", "editor")
		m.mustAs("alice", "deploy", dep, "--image", itest.Image(t, "9.1.0"), "--description", secretMarker, "--wait")
		if revs := m.historyJSON(dep); len(revs) != 1 || revs[0].Status != domain.StatusDeployed || revs[0].Description != secretMarker {
			t.Fatalf("history: %+v", revs)
		}

		temporal := func(args ...string) (string, error) {
			args = append([]string{"workflow", "show", "--workflow-id", "change/" + dep, "--address", s.Addr, "--output", "json"}, args...)
			out, err := exec.Command(itest.TemporalCLI(t), args...).CombinedOutput()
			return string(out), err
		}
		plain, err := temporal()
		if err != nil {
			t.Fatalf("temporal workflow show: %v\n%s", err, plain)
		}
		// The CLI prints metadata values in base64.
		if showsMarker(plain) || !strings.Contains(plain, base64.StdEncoding.EncodeToString([]byte(codec.Encoding))) {
			t.Fatalf("the history shows the input without the codec:\n%s", plain)
		}

		base := m.url
		if !m.remote {
			base = startServe(t)
		}
		var tok struct{ Token string }
		if err := json.Unmarshal([]byte(m.mustRewind("token", "create", "--user", "alice", "--output", "json")), &tok); err != nil {
			t.Fatal(err)
		}
		decoded, err := temporal("--codec-endpoint", base+"/codec", "--codec-auth", "Bearer "+tok.Token)
		if err != nil || !showsMarker(decoded) {
			t.Fatalf("through the codec endpoint (err %v):\n%s", err, decoded)
		}
		// Without a token the endpoint answers 401 and decodes nothing; the
		// Temporal CLI retries it until its timeout and shows nothing.
		res, err := http.Post(base+"/codec/decode", "application/json", strings.NewReader(encryptedPayloads(t, plain)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || showsMarker(string(body)) {
			t.Fatalf("POST /codec/decode without a token: %d %s", res.StatusCode, body)
		}
		refused, err := temporal("--codec-endpoint", base+"/codec", "--command-timeout", "3s")
		if err == nil || showsMarker(refused) {
			t.Fatalf("without a token (err %v):\n%s", err, refused)
		}

		// What the Temporal CLI sends is plain JSON; the worker reads it as it is.
		out, err := exec.Command(itest.TemporalCLI(t), "workflow", "execute", "--address", s.Addr, "--type", "DeployWorkflow",
			"--task-queue", s.TaskQueue, "--workflow-id", "change/"+dep, "--output", "json",
			"--input", `{"deploymentId":"`+dep+`","imageRef":"`+itest.Image(t, "8.0.0")+`","description":"plain JSON","requestedBy":"alice"}`).CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow execute with plain JSON: %v\n%s", err, out)
		}
		if revs := m.historyJSON(dep); len(revs) != 2 || revs[0].Status != domain.StatusDeployed || revs[0].Description != "plain JSON" {
			t.Fatalf("history after the plain-JSON deploy: %+v", revs)
		}
	})
}

// encryptedPayloads picks the workflow's input out of `temporal workflow
// show -o json` as a codec request body: {"payloads":[…]}.
func encryptedPayloads(t *testing.T, show string) string {
	t.Helper()
	var h struct {
		Events []struct {
			Attrs *struct {
				Input json.RawMessage `json:"input"`
			} `json:"workflowExecutionStartedEventAttributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(show), &h); err != nil || len(h.Events) == 0 || h.Events[0].Attrs == nil {
		t.Fatalf("no start event in the history: %v", err)
	}
	return string(h.Events[0].Attrs.Input)
}
