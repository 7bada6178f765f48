package runtime

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/errdefs"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/testregistry"
)

// These tests run against a real registry with htpasswd authentication
// (testregistry.Start: Debian's docker-registry, bcrypt) and the real
// Engine: every credential reaches the registry through the Engine's
// X-Registry-Auth, as in production.

type authEnv struct {
	t           *testing.T
	ctx         context.Context
	reg         *testregistry.Registry
	ref, digest string // rewind-test/airflow:9.1.0 pushed to a repository of this test's own
}

func newAuthEnv(t *testing.T) *authEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	reg := testregistry.Start(t)
	ref, digest := reg.Push(t, testImage("9.1.0"), "t-"+randHex(4)+"/airflow:9.1.0")
	return &authEnv{t: t, ctx: ctx, reg: reg, ref: ref, digest: digest}
}

// runtime reads credentials from config (a file or a directory).
func (e *authEnv) runtime(config string) *Runtime {
	e.t.Helper()
	rt, err := New(Config{RegistryConfig: config, HelperTimeout: 2 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { rt.Close() })
	return rt
}

// config writes a docker config file with the registry's user and password.
func (e *authEnv) config(password string) string {
	p := filepath.Join(e.t.TempDir(), "config.json")
	e.reg.WriteAuths(e.t, p, password)
	return p
}

// forget removes the local names of the test's image, so that the next
// pull or check, by tag or by digest, has to ask the registry.
func (e *authEnv) forget(rt *Runtime) {
	e.t.Helper()
	repo, _, _ := strings.Cut(e.ref, ":9.1.0")
	for _, ref := range []string{e.ref, repo + "@" + e.digest} {
		if _, err := rt.cli.ImageRemove(e.ctx, ref, image.RemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			e.t.Fatal(err)
		}
	}
	if _, err := rt.cli.ImageInspect(e.ctx, repo+"@"+e.digest); err == nil {
		e.t.Fatalf("%s@%s is still local", repo, e.digest)
	}
}

func (e *authEnv) pinned() string {
	repo, _, _ := strings.Cut(e.ref, ":9.1.0")
	return repo + "@" + e.digest
}

// wantRefusal checks a refusal's type, that it names the registry and
// what, and that no password is in it.
func (e *authEnv) wantRefusal(what string, err error, typ domain.ErrorType, mentions ...string) {
	e.t.Helper()
	if domain.TypeOf(err) != typ {
		e.t.Fatalf("%s: want %s, got %v (%T)", what, typ, err, err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			e.t.Errorf("%s: %q does not mention %q", what, err, m)
		}
	}
	if strings.Contains(err.Error(), e.reg.Password) {
		e.t.Errorf("%s: the message holds the password: %q", what, err)
	}
}

func TestPrivateRegistryPullWithCredentialsFromAuths(t *testing.T) {
	e := newAuthEnv(t)
	rt := e.runtime(e.config(e.reg.Password)) // a config file named directly

	img, err := rt.Pull(e.ctx, e.ref, "", nil)
	if err != nil {
		t.Fatalf("pull by tag: %v", err)
	}
	if img.Digest != e.digest || img.RuntimeVersion != "9.1.0" {
		t.Fatalf("pulled %+v, want digest %s", img, e.digest)
	}
	if d, err := rt.ResolveDigest(e.ctx, e.ref); err != nil || d != e.digest {
		t.Fatalf("resolve: %q %v", d, err)
	}
	e.forget(rt)
	if err := rt.Available(e.ctx, e.ref, e.digest); err != nil {
		t.Fatalf("available from the registry: %v", err)
	}
	img, err = rt.Pull(e.ctx, e.ref, e.digest, nil, VerifyTag())
	if err != nil || img.Digest != e.digest {
		t.Fatalf("pull by digest with the tag verified: %+v %v", img, err)
	}
	// Credentials for one registry leave the open one anonymous.
	if _, err := rt.Pull(e.ctx, testImage("8.0.0"), "", nil); err != nil {
		t.Fatalf("pull from the open registry: %v", err)
	}
}

func TestPrivateRegistryPullWithCredentialsFromHelper(t *testing.T) {
	e := newAuthEnv(t)
	h := testregistry.NewHelper(t, e.reg)
	t.Setenv("PATH", h.Dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir() // a docker config directory, like DOCKER_CONFIG
	e.reg.WriteHelperConfig(t, filepath.Join(dir, "config.json"), false)
	rt := e.runtime(dir)

	if img, err := rt.Pull(e.ctx, e.ref, "", nil); err != nil || img.Digest != e.digest {
		t.Fatalf("pull by tag: %+v %v", img, err)
	}
	e.forget(rt)
	if img, err := rt.Pull(e.ctx, e.ref, e.digest, nil); err != nil || img.Digest != e.digest {
		t.Fatalf("pull by digest: %+v %v", img, err)
	}
	want := "get " + e.reg.Addr
	if calls := h.Calls(); len(calls) != 2 || calls[0] != want || calls[1] != want {
		t.Fatalf("the helper must have been asked once per pull: %q", calls)
	}

	// credsStore: the helper for every registry; "not found" for the open
	// one means anonymous, as docker has it.
	e.reg.WriteHelperConfig(t, filepath.Join(dir, "config.json"), true)
	e.forget(rt)
	if img, err := rt.Pull(e.ctx, e.ref, "", nil); err != nil || img.Digest != e.digest {
		t.Fatalf("pull with credsStore: %+v %v", img, err)
	}
	if _, err := rt.Pull(e.ctx, testImage("8.0.0"), "", nil); err != nil {
		t.Fatalf("pull from the open registry with credsStore: %v", err)
	}
}

// A wrong password is RegistryAuth from every call that reaches the
// registry: typed (so activities do not retry it), naming the registry
// and the config consulted, never the password.
func TestPrivateRegistryWrongPasswordIsRegistryAuth(t *testing.T) {
	e := newAuthEnv(t)
	cfg := e.config("wrong-" + testregistry.Random(8))
	rt := e.runtime(cfg)

	_, err := rt.Pull(e.ctx, e.ref, "", nil)
	e.wantRefusal("pull by tag", err, domain.RegistryAuth, e.reg.Addr, cfg, "refused the credentials")
	_, err = rt.Pull(e.ctx, e.ref, e.digest, nil)
	e.wantRefusal("pull by digest", err, domain.RegistryAuth, e.reg.Addr)
	_, err = rt.Pull(e.ctx, e.ref, e.digest, nil, VerifyTag())
	e.wantRefusal("pull with the tag verified", err, domain.RegistryAuth, e.reg.Addr)
	_, err = rt.ResolveDigest(e.ctx, e.ref)
	e.wantRefusal("resolve", err, domain.RegistryAuth, e.reg.Addr)
	err = rt.Available(e.ctx, e.ref, e.digest)
	e.wantRefusal("available", err, domain.RegistryAuth, e.reg.Addr, cfg)
	if strings.Contains(err.Error(), "wrong-") {
		t.Fatalf("the wrong password is in the message: %q", err)
	}

	// From a credential helper: refused in one attempt, the helper asked once.
	h := testregistry.NewHelper(t, e.reg)
	h.SetPassword(t, "wrong-"+testregistry.Random(8))
	t.Setenv("PATH", h.Dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	e.reg.WriteHelperConfig(t, cfg, false)
	_, err = rt.Pull(e.ctx, e.ref, "", nil)
	e.wantRefusal("pull with the helper's wrong password", err, domain.RegistryAuth, e.reg.Addr, "docker-credential-"+testregistry.HelperName)
	if calls := h.Calls(); len(calls) != 1 {
		t.Fatalf("one attempt, one question to the helper: %q", calls)
	}
}

func TestPrivateRegistryWithoutCredentialsIsRegistryAuth(t *testing.T) {
	e := newAuthEnv(t)
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, []byte(`{"auths":{"other.example:5000":{"auth":"dTpw"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := e.runtime(cfg)
	_, err := rt.Pull(e.ctx, e.ref, "", nil)
	e.wantRefusal("pull", err, domain.RegistryAuth, e.reg.Addr, cfg, "none were found")
	err = rt.Available(e.ctx, e.ref, e.digest)
	e.wantRefusal("available", err, domain.RegistryAuth, e.reg.Addr, "none were found")
}

// Good credentials and no such repository, tag or digest: the registry
// answers "unknown", which stays NotFound (DigestMismatch for a recorded
// digest), not RegistryAuth.
func TestPrivateRegistryMissingRepositoryIsNotFound(t *testing.T) {
	e := newAuthEnv(t)
	rt := e.runtime(e.config(e.reg.Password))
	_, err := rt.Pull(e.ctx, e.reg.Addr+"/t-"+randHex(4)+"/missing:9.1.0", "", nil)
	e.wantRefusal("missing repository", err, domain.NotFound)
	_, err = rt.Pull(e.ctx, strings.Replace(e.ref, ":9.1.0", ":no-such-tag", 1), "", nil)
	e.wantRefusal("missing tag", err, domain.NotFound)
	missing := "sha256:" + strings.Repeat("0", 64)
	err = rt.Available(e.ctx, e.ref, missing)
	e.wantRefusal("missing digest", err, domain.DigestMismatch, e.reg.Addr)
}

// Whatever keeps credentials from being known is RegistryAuth naming what
// was consulted: a helper that is not installed, is not a program name,
// hangs, or a config that cannot be read.
func TestPrivateRegistryCredentialSourceFailures(t *testing.T) {
	e := newAuthEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rt := e.runtime(dir)
	pull := func() error { _, err := rt.Pull(e.ctx, e.ref, "", nil); return err }

	write(`{"credHelpers":{"` + e.reg.Addr + `":"rewind-absent"}}`)
	e.wantRefusal("absent helper", pull(), domain.RegistryAuth, e.reg.Addr, "docker-credential-rewind-absent", "not installed")
	write(`{"credsStore":"../../../bin/sh"}`)
	e.wantRefusal("helper path", pull(), domain.RegistryAuth, e.reg.Addr, "not a program name")
	write(`{"auths": {`)
	e.wantRefusal("malformed config", pull(), domain.RegistryAuth, e.reg.Addr, cfg)

	h := testregistry.NewHelper(t, e.reg)
	h.Hang(t)
	t.Setenv("PATH", h.Dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	e.reg.WriteHelperConfig(t, cfg, false)
	e.wantRefusal("hanging helper", pull(), domain.RegistryAuth, e.reg.Addr, "no answer within 2s")

	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	missing := e.runtime(filepath.Join(dir, "gone.json"))
	_, err := missing.Pull(e.ctx, e.ref, "", nil)
	e.wantRefusal("missing config", err, domain.RegistryAuth, filepath.Join(dir, "gone.json"))
}

// An image already on the Engine by its digest needs neither the registry
// nor credentials: a rollback works while the helper is broken.
func TestCachedDigestNeedsNoCredentials(t *testing.T) {
	e := newAuthEnv(t)
	good := e.runtime(e.config(e.reg.Password))
	if _, err := good.Pull(e.ctx, e.ref, "", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"credsStore":"rewind-absent"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	rt := e.runtime(dir)
	if img, err := rt.Pull(e.ctx, e.ref, e.digest, nil); err != nil || img.Digest != e.digest {
		t.Fatalf("cached pull by digest: %+v %v", img, err)
	}
	if err := rt.Available(e.ctx, e.ref, e.digest); err != nil {
		t.Fatalf("cached image available: %v", err)
	}
	e.forget(rt)
}

// classify and authRefusal on the Engine's and registries' own wording.
func TestClassifyRegistryErrors(t *testing.T) {
	with := credentials{registry: "reg.example:5000", header: "eyJ4Ijoi", source: "auths in /c/config.json", config: "/c/config.json", secrets: []string{"hunter2", "eyJ4Ijoi"}}
	without := credentials{registry: "reg.example:5000", config: "/c/config.json"}
	denied := "pull access denied for reg.example:5000/x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
	cases := []struct {
		msg        string
		c          credentials
		want       domain.ErrorType
		mentioning string
	}{
		{"unauthorized: authentication required", with, domain.RegistryAuth, "refused the credentials from auths in /c/config.json"},
		{"unauthorized: authentication required", without, domain.RegistryAuth, "none were found for it in /c/config.json"},
		{`Head "http://reg.example:5000/v2/x/manifests/t": no basic auth credentials`, without, domain.RegistryAuth, "reg.example:5000"},
		{"unauthorized: incorrect username or password", with, domain.RegistryAuth, "reg.example:5000"},
		{"denied: requested access to the resource is denied", with, domain.RegistryAuth, "refused"},
		{denied, with, domain.RegistryAuth, "refused"},
		{denied, without, domain.NotFound, "no credentials for reg.example:5000 were found"},
		{"manifest for reg.example:5000/x:t not found: manifest unknown: manifest unknown", with, domain.NotFound, "manifest unknown"},
		{"repository reg.example:5000/x not found: name unknown", without, domain.NotFound, "name unknown"},
		{"open /var/lib/docker/tmp/x: permission denied", with, "", "permission denied"},
		{`Get "http://reg.example:5000/v2/": dial tcp: connection refused`, with, "", "connection refused"},
		{"received unexpected HTTP status: 500 (hunter2)", with, "", "(xxxxx)"},
	}
	for _, c := range cases {
		err := classify("pull x", errors.New(c.msg), c.c)
		if domain.TypeOf(err) != c.want || !strings.Contains(err.Error(), c.mentioning) {
			t.Errorf("%q (credentials sent: %v): got %s %q, want %s mentioning %q", c.msg, c.c.sent(), domain.TypeOf(err), err, c.want, c.mentioning)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "eyJ4Ijoi") {
			t.Errorf("%q: a secret is in %q", c.msg, err)
		}
	}
}
