package workflows

import (
	"encoding/json"

	"github.com/rewindhq/rewind/internal/identity"
)

// What rewind's clients sign (R22) is the digest of a workflow's canonical
// input: decoded, validated (so defaults such as type and scope are filled
// in alike on both sides) and encoded again without the signature. Every
// field that changes what runs — image, bundle, revision, scope, dry run,
// plan digest, force, git provenance, description — is in it. These are
// pure, so workflow code computes them from the input it runs.

// Digest of a deploy's canonical input.
func (in DeployInput) Digest() string {
	in.RequesterSignature = ""
	_ = in.Validate()
	return canonicalDigest(in)
}

// Digest of a rollback's canonical input.
func (in RollbackInput) Digest() string {
	in.RequesterSignature = ""
	_ = in.Validate()
	return canonicalDigest(in)
}

// Digest of a configuration change's canonical input.
func (in ApplyConfigInput) Digest() string {
	in.RequesterSignature = ""
	return canonicalDigest(in)
}

func canonicalDigest(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// The inputs are plain data: this cannot fail; a digest of nothing
		// matches no signature.
		return ""
	}
	return identity.InputDigest(b)
}
