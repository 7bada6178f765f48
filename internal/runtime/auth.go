package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dockerconfig "github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	clicreds "github.com/docker/cli/cli/config/credentials"
	"github.com/docker/cli/cli/config/types"
	helperclient "github.com/docker/docker-credential-helpers/client"
	helpercreds "github.com/docker/docker-credential-helpers/credentials"
	registrytypes "github.com/docker/docker/api/types/registry"

	"github.com/distribution/reference"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/redact"
)

// Registry credentials are resolved the way the docker CLI resolves them,
// from a docker config file (github.com/docker/cli/cli/config parses it):
// credHelpers[registry] names a docker-credential-<helper> program for that
// registry, else credsStore names one for every registry, else auths holds
// them (base64 user:password or an identity token). They are resolved here,
// on the worker that makes the call, at every registry call: they never
// travel in a workflow payload, and a rotated token or an edited file
// applies to the next call without a restart.

// DefaultHelperTimeout bounds one credential helper run: a helper that
// hangs (waiting for a keychain prompt, a dead metadata service) must not
// hold a change while its activity keeps heartbeating.
const DefaultHelperTimeout = 30 * time.Second

// dockerHubKey is the key docker's config uses for Docker Hub.
const dockerHubKey = "https://index.docker.io/v1/"

// helperName is what may follow "docker-credential-": a program name, never
// a path, whatever the config file says.
var helperName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// credentials are what one registry call sends, and how messages may speak
// of them (never their value).
type credentials struct {
	registry string   // host[:port] of the reference; docker.io for Docker Hub
	header   string   // X-Registry-Auth value (base64url JSON); "" for none
	source   string   // where they came from: "auths in FILE", "credential helper docker-credential-X (credHelpers in FILE)"
	config   string   // the config file consulted
	secrets  []string // masked in every message
	auth     types.AuthConfig
}

// sent says whether the call carried credentials.
func (c credentials) sent() bool { return c.header != "" }

// scrub masks the secrets, and the header that carries them, in a message.
func (c credentials) scrub(msg string) string {
	return redact.Scrub(msg, c.secrets)
}

// configFile is the docker config file credentials are read from:
// Config.RegistryConfig when it names a file, its config.json when it names
// a directory; by default docker's own ($DOCKER_CONFIG or ~/.docker).
func (r *Runtime) configFile() string {
	p := r.cfg.RegistryConfig
	if p == "" {
		return filepath.Join(dockerconfig.Dir(), dockerconfig.ConfigFileName)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return filepath.Join(p, dockerconfig.ConfigFileName)
	}
	return p
}

// authKey is the key docker's config files and credential helpers use for
// the registry of a reference.
func authKey(named reference.Named) string {
	if d := reference.Domain(named); d != "docker.io" {
		return d
	}
	return dockerHubKey
}

// credentialsFor resolves the credentials for the registry of named.
// Whatever keeps them from being known — an unreadable or malformed config
// file, a helper that is not installed, fails or hangs — is RegistryAuth,
// naming the registry and what was consulted: retrying cannot fix a
// configuration, and the operator needs to know where to look.
func (r *Runtime) credentialsFor(ctx context.Context, named reference.Named) (credentials, error) {
	key := authKey(named)
	c := credentials{registry: reference.Domain(named), config: r.configFile()}
	cf := configfile.New(c.config)
	f, err := os.Open(c.config)
	switch {
	case err == nil:
		err = cf.LoadFromReader(f)
		f.Close()
		if err != nil {
			return c, domain.Errorf(domain.RegistryAuth, "registry %s: cannot read credentials from %s: %s", c.registry, c.config, clip(err.Error(), 200))
		}
	case errors.Is(err, os.ErrNotExist) && r.cfg.RegistryConfig == "":
		// No docker config on this worker: anonymous, as docker does.
	default:
		return c, domain.Errorf(domain.RegistryAuth, "registry %s: cannot read credentials from %s: %v", c.registry, c.config, err)
	}

	var ac types.AuthConfig
	helper, from := cf.CredentialHelpers[key], "credHelpers"
	if helper == "" {
		helper, from = cf.CredentialsStore, "credsStore"
	}
	if helper != "" {
		c.source = fmt.Sprintf("credential helper docker-credential-%s (%s in %s)", clip(helper, 64), from, c.config)
		if ac, err = r.runHelper(ctx, helper, key); err != nil {
			if ctx.Err() != nil {
				return c, ctx.Err()
			}
			return c, domain.Errorf(domain.RegistryAuth, "registry %s: %s: %s", c.registry, c.source, err)
		}
	} else {
		c.source = "auths in " + c.config
		ac, _ = clicreds.NewFileStore(cf).Get(key) // never fails: a map lookup
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return c, nil // none: the call goes anonymous
	}
	header, err := registrytypes.EncodeAuthConfig(registrytypes.AuthConfig{Username: ac.Username, Password: ac.Password,
		ServerAddress: key, IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken})
	if err != nil {
		return c, domain.Errorf(domain.RegistryAuth, "registry %s: credentials from %s cannot be encoded", c.registry, c.source)
	}
	c.header, c.auth = header, ac
	for _, s := range []string{ac.Password, ac.IdentityToken, ac.RegistryToken, header} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	return c, nil
}

// runHelper asks docker-credential-<helper> for key's credentials through
// the credential-helper protocol (docker-credential-helpers' client), with
// a timeout and the activity's context: a helper is killed, not waited for.
// "Not found" from the helper means none, as docker treats it. The
// helper's own output is quoted in errors only when it cannot be an answer
// carrying a secret.
func (r *Runtime) runHelper(ctx context.Context, helper, key string) (types.AuthConfig, error) {
	if !helperName.MatchString(helper) {
		return types.AuthConfig{}, errors.New("the helper name is not a program name")
	}
	if _, err := exec.LookPath("docker-credential-" + helper); err != nil {
		return types.AuthConfig{}, errors.New("not installed on this worker's PATH")
	}
	hctx, cancel := context.WithTimeout(ctx, r.cfg.HelperTimeout)
	defer cancel()
	prog := func(args ...string) helperclient.Program {
		cmd := exec.CommandContext(hctx, "docker-credential-"+helper, args...)
		cmd.WaitDelay = time.Second // a helper's children must not hold us after it is killed
		return helperProgram{cmd}
	}
	creds, err := helperclient.Get(prog, key)
	switch {
	case err == nil:
	case helpercreds.IsErrCredentialsNotFound(err):
		return types.AuthConfig{}, nil
	case errors.Is(hctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		return types.AuthConfig{}, fmt.Errorf("no answer within %s", r.cfg.HelperTimeout)
	default:
		msg := err.Error()
		if strings.Contains(strings.ToLower(msg), "secret") {
			msg = "it failed (its output is not shown: it may hold a secret)"
		}
		return types.AuthConfig{}, errors.New(clip(msg, 300))
	}
	// The helper protocol's convention: user "<token>" carries an identity token.
	if creds.Username == "<token>" {
		return types.AuthConfig{IdentityToken: creds.Secret, ServerAddress: key}, nil
	}
	return types.AuthConfig{Username: creds.Username, Password: creds.Secret, ServerAddress: key}, nil
}

// helperProgram is helperclient.Program over an exec.Cmd bound to a context.
type helperProgram struct{ cmd *exec.Cmd }

func (p helperProgram) Output() ([]byte, error) { return p.cmd.Output() }
func (p helperProgram) Input(in io.Reader)      { p.cmd.Stdin = in }

// authRefusal says whether err is the registry refusing access, and if so
// returns the RegistryAuth refusal for it, naming the registry and where
// the credentials came from (or were looked for), never their value.
// "Denied" without credentials is left to the caller: an open registry
// (Docker Hub) answers it for a repository that does not exist.
func authRefusal(what string, err error, c credentials) error {
	msg := strings.ToLower(err.Error())
	unauthorized := cerrdefs.IsUnauthorized(err) || containsAny(msg, "unauthorized", "authentication required",
		"no basic auth credentials", "incorrect username or password", "forbidden")
	denied := containsAny(msg, "requested access to the resource is denied", "pull access denied", "denied: ")
	switch {
	case c.sent() && (unauthorized || denied):
		return domain.Errorf(domain.RegistryAuth, "%s: registry %s refused the credentials from %s: %s", what, c.registry, c.source, clip(c.scrub(err.Error()), 300))
	case unauthorized:
		return domain.Errorf(domain.RegistryAuth, "%s: registry %s requires credentials and none were found for it in %s (auths, credsStore, credHelpers): %s", what, c.registry, c.config, clip(err.Error(), 300))
	}
	return nil
}

func containsAny(s string, subs ...string) bool {
	for _, t := range subs {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// Credential resolves, like every registry call rewind makes, the
// credentials for a registry host, for clients that talk to the registry
// themselves (oras-go, for DAG bundles). Empty when there are none.
func (r *Runtime) Credential(ctx context.Context, host string) (username, password, token string, err error) {
	named, err := reference.ParseNormalizedNamed(host + "/rewind")
	if err != nil {
		return "", "", "", domain.Errorf(domain.InvalidInput, "registry %q is not a registry host", clip(host, 80))
	}
	c, err := r.credentialsFor(ctx, named)
	if err != nil {
		return "", "", "", err
	}
	token = c.auth.IdentityToken
	if token == "" {
		token = c.auth.RegistryToken
	}
	return c.auth.Username, c.auth.Password, token, nil
}
