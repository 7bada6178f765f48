package hostile

import (
	"net/http"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/policy"
)

// adminCases are issue 14's remote CLI and administrator role: through
// `rewind serve` the requester is the token's user, so --as is refused
// rather than believed, and granting, revoking, issuing tokens and
// changing deployments need system.admin, which no battery user holds.
func (e *env) adminCases(t *testing.T) []hcase {
	var cs []hcase
	img, b := e.image, e.bundle
	otherID := strings.Split(e.tokens[viewer], "_")[1] // a token the editor does not own

	// The remote CLI, as the editor (who may deploy everything).
	remote := func(name, want string, args ...string) {
		cs = append(cs, hcase{via: viaCLI, name: "remote: " + name, want: want, run: func(t *testing.T) (string, int, string) {
			defer setEnv(map[string]string{"REWIND_API_URL": e.http.URL, "REWIND_TOKEN": e.tokens[editor], "XDG_CONFIG_HOME": t.TempDir()})()
			code, _, stderr := rewind(args...)
			return cliType(code, stderr), 0, stderr
		}})
	}
	remote("deploy --as another user", "InvalidInput", "deploy", img, "--image", itest.Image(t, "9.1.0"), "--as", viewer, "--wait")
	remote("rollback --as another user", "InvalidInput", "rollback", b, "--to", "2", "--description", "as someone else", "--yes", "--as", viewer)
	remote("deployment update --apply --as another user", "InvalidInput", "deployment", "update", img, "--apply", "--as", viewer)
	remote("grant itself system.admin (not an admin)", "PermissionDenied", "grant", editor, "--system", "--permission", policy.SystemAdmin)
	remote("revoke another user's grant (not an admin)", "PermissionDenied", "revoke", viewer, "--deployment", img, "--role", "viewer")
	remote("token create for another user (not an admin)", "PermissionDenied", "token", "create", "--user", viewer)
	remote("token revoke of another user's token (not an admin)", "PermissionDenied", "token", "revoke", otherID)
	remote("token list (not an admin)", "PermissionDenied", "token", "list")
	remote("deployment create (not an admin)", "PermissionDenied", "deployment", "create", "hx-made-by-editor")
	remote("deployment update (not an admin)", "PermissionDenied", "deployment", "update", img, "--rollback-enabled=false")
	// The cleanup and the test notification are administration through
	// rewind serve too.
	remote("cleanup --now (not an admin)", "PermissionDenied", "cleanup", "--now", "--wait")
	remote("cleanup --status (not an admin)", "PermissionDenied", "cleanup", "--status")
	remote("cleanup --reset-schedule (not an admin)", "PermissionDenied", "cleanup", "--reset-schedule")
	remote("cleanup --release (not an admin)", "PermissionDenied", "cleanup", "--release")
	remote("notify test (not an admin)", "PermissionDenied", "notify", "test", "--deployment", img)

	// The same over HTTP: refused with 403 before the body is read.
	j := "application/json"
	api := func(name, method, path, user, body string) {
		cs = append(cs, hcase{via: viaAPI, name: name, want: "PermissionDenied", status: http.StatusForbidden, run: func(t *testing.T) (string, int, string) {
			r := e.call(t, method, path, user, j, []byte(body))
			return r.typ, r.status, r.msg
		}})
	}
	api("non-admin grants itself system.admin", "POST", "/api/v1/grants", editor, `{"user":"`+editor+`","permission":"`+policy.SystemAdmin+`"}`)
	api("non-admin revokes a grant", "POST", "/api/v1/grants/revoke", editor, `{"user":"`+viewer+`","deploymentId":"`+img+`","role":"viewer"}`)
	api("non-admin issues a token", "POST", "/api/v1/tokens", editor, `{"user":"`+editor+`","expires":"87600h"}`)
	api("non-admin revokes another's token", "POST", "/api/v1/tokens/"+otherID+"/revoke", editor, ``)
	api("non-admin lists tokens", "GET", "/api/v1/tokens", editor, ``)
	api("non-admin creates a deployment", "POST", "/api/v1/deployments", editor, `{"id":"hx-made-by-editor"}`)
	api("non-admin turns rollbacks off", "PATCH", "/api/v1/deployments/"+img, editor, `{"rollbackEnabled":false}`)
	api("non-admin runs a cleanup", "POST", "/api/v1/cleanup/runs", editor, ``)
	api("non-admin reads the cleanup's status", "GET", "/api/v1/cleanup", editor, ``)
	api("non-admin reads a cleanup run", "GET", "/api/v1/cleanup/runs/rewind-cleanup-1", editor, ``)
	api("non-admin rewrites the cleanup schedule", "POST", "/api/v1/cleanup/reset-schedule", editor, ``)
	api("non-admin releases what cleanup set aside", "POST", "/api/v1/cleanup/release", editor, ``)
	api("non-admin sends a test notification", "POST", "/api/v1/notify/test", editor, `{"deploymentId":"`+img+`"}`)
	api("no grant: read a deployment's settings", "GET", "/api/v1/deployments/"+img, nobody, ``)
	api("viewer recreates the containers (deployment update --apply)", "POST", "/api/v1/deployments/"+img+"/apply", viewer, ``)
	return cs
}
