package policy

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rewindhq/rewind/internal/domain"
)

// CheckText (R2, issue 26) refuses text that could rewrite a terminal or
// disguise itself when printed: control characters (C0 but for tab, C1,
// DEL, so also every ESC sequence), Unicode's bidirectional overrides and
// isolates, and invalid UTF-8. Newlines are refused too: a description is
// one line in the history.
func CheckText(field, s string) error {
	if !utf8.ValidString(s) {
		return domain.Errorf(domain.InvalidInput, "%s is not valid UTF-8", field)
	}
	for i, r := range s {
		if r != '\t' && (unicode.IsControl(r) || IsBidiControl(r)) {
			return domain.Errorf(domain.InvalidInput, "%s contains the control character %U at byte %d; only printable text is accepted", field, r, i)
		}
	}
	return nil
}

// IsBidiControl reports the characters that reorder the text around them
// (U+061C, U+200E/F, U+202A–E, U+2066–9): shown raw, "evil ‮txt.exe" reads
// as something else.
func IsBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// CheckTokenLifetime (issue 26): a token lasts a positive time no longer
// than the installation allows (REWIND_TOKEN_MAX_TTL), so a leaked token
// cannot outlive every review.
func CheckTokenLifetime(ttl, max time.Duration) error {
	if ttl <= 0 {
		return domain.Errorf(domain.InvalidInput, "a token's lifetime must be positive, e.g. 720h for 30 days (got %s)", ttl)
	}
	if max > 0 && ttl > max {
		return domain.Errorf(domain.InvalidInput, "a token's lifetime of %s is longer than this installation allows (%s, REWIND_TOKEN_MAX_TTL)", ttl, max)
	}
	return nil
}

// CheckChangeWorkflow (R14, R22): a change that records anything runs under
// a change id; a plan's id (plan/…) runs dry runs only, whatever its input
// says, so a plan can never change anything.
func CheckChangeWorkflow(workflowID, deploymentID string, dryRun bool) error {
	if dryRun || !strings.HasPrefix(workflowID, "plan/") {
		return nil
	}
	return domain.Errorf(domain.PermissionDenied, "workflow %s is a plan: plans change nothing; start the change under change/%s", workflowID, deploymentID)
}

// CheckAutomaticRollback (R22, R10): an automatic rollback is authorised by
// the bake that decided it — a recorded decision for exactly this input —
// and runs under the permissions of whoever enabled that bake.
func CheckAutomaticRollback(decided bool, enabledBy string, p Permissions, d domain.Deployment) error {
	if !decided {
		return domain.Errorf(domain.PermissionDenied, "no bake of deployment %s decided this automatic rollback; only a failed bake may request one as %q (R22)",
			d.ID, domain.AutomaticRequester)
	}
	if enabledBy == "" {
		return domain.Errorf(domain.PermissionDenied, "nobody is recorded as enabling automatic rollback on deployment %s; enable it again with `rewind deployment update %s --auto-rollback` (R22)", d.ID, d.ID)
	}
	if err := CheckRollbackScope(enabledBy, p, d, ScopeAll); err != nil {
		return domain.Errorf(domain.PermissionDenied, "the automatic rollback runs as %s, who enabled it: %s", enabledBy, err.Error())
	}
	return nil
}
