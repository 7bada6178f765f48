// Package testregistry gives tests a private registry: Debian's
// docker-registry behind HTTP basic authentication (an htpasswd file of
// bcrypt hashes, made here), images pushed into it with the docker CLI and
// a throwaway DOCKER_CONFIG (never the machine's ~/.docker), docker config
// files naming its credentials, and docker-credential-rewindtest, a
// stand-in for a real credential helper (ECR's, GCR's, …, which cannot run
// here) that speaks the same protocol. It fails the test, never skips it,
// when docker-registry or the docker CLI is missing.
//
// It imports nothing of rewind's, so the runtime package's own tests can
// use it as well as the integration tests.
package testregistry

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Registry is a running registry that requires User and Password.
type Registry struct {
	Addr, User, Password string
}

// HelperName is the stand-in credential helper's name: credHelpers and
// credsStore name it, docker runs docker-credential-rewindtest.
const HelperName = "rewindtest"

// Start starts a registry with basic authentication on a free port of
// 127.0.0.1 (the Docker Engine treats 127.0.0.0/8 as insecure, so plain
// HTTP carries the credentials; no TLS is needed) with a random user and
// password, and stops it, by PID, when the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), User: "rewind-" + Random(3), Password: Random(12)}
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(htpasswd, []byte(r.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(RepoRoot(t), "scripts", "registry.sh")
	run := func(verb string) ([]byte, error) {
		cmd := exec.Command(script, verb, filepath.Join(dir, "registry"))
		cmd.Env = append(os.Environ(), "REWIND_TEST_REGISTRY="+r.Addr, "REWIND_TEST_REGISTRY_HTPASSWD="+htpasswd)
		return cmd.CombinedOutput()
	}
	if out, err := run("start"); err != nil {
		t.Fatalf("start the registry with authentication (scripts/registry.sh, docker-registry): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := run("stop"); err != nil {
			t.Errorf("stop the registry on %s: %v\n%s", r.Addr, err, out)
		}
		r.untagAll()
	})
	return r
}

// Push pushes the local image src as <registry>/<repoTag> with the docker
// CLI and a throwaway DOCKER_CONFIG holding the registry's credentials, and
// returns the reference and the digest the registry serves. The local
// names it made are removed again, so a later pull of that reference, by tag
// or by digest, has to ask the registry (the layers stay, under src).
func (r *Registry) Push(t testing.TB, src, repoTag string) (ref, digest string) {
	t.Helper()
	ref = r.Addr + "/" + repoTag
	dockerConfig := t.TempDir()
	r.WriteAuths(t, filepath.Join(dockerConfig, "config.json"), r.Password)
	docker := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	docker("tag", src, ref)
	docker("push", "-q", ref)
	repo, _, _ := strings.Cut(ref[len(r.Addr)+1:], ":")
	for _, rd := range strings.Fields(docker("image", "inspect", "--format", `{{range .RepoDigests}}{{.}} {{end}}`, ref)) {
		if d, ok := strings.CutPrefix(rd, r.Addr+"/"+repo+"@"); ok {
			digest = d
		}
	}
	if digest == "" {
		t.Fatalf("push %s: no repo digest for it afterwards", ref)
	}
	docker("rmi", ref)
	return ref, digest
}

// untagAll removes the Engine's names under the registry's address that
// the test's pulls left (the layers stay under the names they came with):
// each test's registry has a port of its own, so they would pile up. This
// cleanup runs after the test's containers are removed; a name still in
// use is left.
func (r *Registry) untagAll() {
	out, _ := exec.Command("docker", "image", "ls", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !strings.HasPrefix(f[0], r.Addr+"/") {
			continue
		}
		if f[1] != "<none>" {
			_ = exec.Command("docker", "rmi", f[0]+":"+f[1]).Run()
		}
		if f[2] != "<none>" {
			_ = exec.Command("docker", "rmi", f[0]+"@"+f[2]).Run()
		}
	}
}

// WriteAuths writes a docker config file whose auths hold the registry's
// user with password (base64 user:password, as `docker login` writes it).
func (r *Registry) WriteAuths(t testing.TB, path, password string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + password))
	writeJSON(t, path, map[string]any{"auths": map[string]any{r.Addr: map[string]string{"auth": auth}}})
}

// WriteHelperConfig writes a docker config file whose credHelpers send the
// registry to the stand-in helper (or, with store, whose credsStore sends
// every registry there).
func (r *Registry) WriteHelperConfig(t testing.TB, path string, store bool) {
	t.Helper()
	if store {
		writeJSON(t, path, map[string]any{"credsStore": HelperName})
		return
	}
	writeJSON(t, path, map[string]any{"credHelpers": map[string]string{r.Addr: HelperName}})
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Helper is docker-credential-rewindtest in its own directory: put Dir on
// PATH. It answers `get` for the registry with the registry's user and
// the password last set (SetPassword), "credentials not found" for any
// other server, records every call, and with Hang never answers.
type Helper struct {
	Dir string
}

// helperScript is the stand-in: the credential-helper protocol is a
// command (get) with the server URL on stdin and JSON on stdout.
const helperScript = `#!/bin/sh
# docker-credential-rewindtest: a stand-in for a real credential helper
# (docker-credential-ecr-login, -gcloud, -pass), written by rewind's tests.
dir=$(dirname "$0")
read -r server
echo "$1 $server" >>"$dir/calls"
[ "$1" = get ] || { echo "rewindtest: only get is supported"; exit 1; }
[ -e "$dir/hang" ] && exec sleep 600
[ "$server" = "$(cat "$dir/server")" ] || { echo "credentials not found in native keychain"; exit 1; }
printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "$server" "$(cat "$dir/user")" "$(cat "$dir/secret")"
`

// NewHelper writes the stand-in helper answering for r with r's password.
func NewHelper(t testing.TB, r *Registry) *Helper {
	t.Helper()
	h := &Helper{Dir: t.TempDir()}
	for name, content := range map[string]string{"server": r.Addr, "user": r.User, "secret": r.Password} {
		h.write(t, name, content, 0o600)
	}
	h.write(t, "docker-credential-"+HelperName, helperScript, 0o700)
	return h
}

func (h *Helper) write(t testing.TB, name, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(h.Dir, name), []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// SetPassword changes what the helper answers from now on.
func (h *Helper) SetPassword(t testing.TB, password string) { h.write(t, "secret", password, 0o600) }

// Hang makes the helper never answer (it sleeps), like one waiting for a
// keychain prompt.
func (h *Helper) Hang(t testing.TB) { h.write(t, "hang", "", 0o600) }

// Calls lists the calls so far, "get <server>" each.
func (h *Helper) Calls() []string {
	b, _ := os.ReadFile(filepath.Join(h.Dir, "calls"))
	return strings.FieldsFunc(string(b), func(r rune) bool { return r == '\n' })
}

// Random is n random bytes in hex: unique repositories, users, passwords.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RepoRoot is the module's root directory (where go.mod is), found from the
// test's working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
