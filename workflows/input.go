package workflows

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/distribution/reference"

	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/policy"
)

// DeployInput is DeployWorkflow's input, SPEC §3.
type DeployInput struct {
	DeploymentID     string            `json:"deploymentId"`
	ImageRef         string            `json:"imageRef,omitempty"`
	DagBundleVersion string            `json:"dagBundleVersion,omitempty"`
	DagBundleDigest  string            `json:"dagBundleDigest,omitempty"`
	Description      string            `json:"description,omitempty"`
	RequestedBy      string            `json:"requestedBy"`
	Type             domain.DeployType `json:"type,omitempty"`
	// RequesterSignature is set by rewind's own clients (R18); a request
	// without one is recorded as claimed, or refused where the
	// installation requires verified requesters.
	RequesterSignature string `json:"requesterSignature,omitempty"`
	// Git is where the code came from (`rewind deploy` fills it in inside a
	// work tree); an empty description falls back to the commit's subject.
	Git *domain.GitInfo `json:"git,omitempty"`
	// Force deploys what the current rollback moved away from anyway; it
	// needs a description, recorded with the override.
	Force bool `json:"force,omitempty"`
	// DryRun returns the plan — with the DAG diff, unified with Diff — and
	// changes nothing.
	DryRun bool `json:"dryRun,omitempty"`
	Diff   bool `json:"diff,omitempty"`
	// AllowUnknownVersion deploys an image whose Airflow version cannot be
	// determined (R20); recorded on the revision.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
}

// decodeStrict reads JSON the way a careful API does: unknown fields and
// trailing data are errors, so a typo such as "revison" is refused instead of
// silently ignored. Workflows take json.RawMessage and call this, so that
// bad JSON from the Temporal CLI fails the workflow with InvalidInput
// rather than failing the workflow task forever.
func decodeStrict(raw []byte, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return domain.Errorf(domain.InvalidInput, "input is missing: pass a JSON object (see SPEC §3)")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return domain.Errorf(domain.InvalidInput, "input field %q must be a JSON %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return domain.Errorf(domain.InvalidInput, "input is not valid JSON for this workflow: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Errorf(domain.InvalidInput, "input has data after the JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32", "uint", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "string":
		return "string"
	}
	return goKind
}

// ParseDeployInput decodes and validates DeployWorkflow's input. It is pure,
// so the workflow can run it, and the CLI and HTTP API run the same checks
// before starting anything.
func ParseDeployInput(raw []byte) (DeployInput, error) {
	var in DeployInput
	if err := decodeStrict(raw, &in); err != nil {
		return in, err
	}
	return in, in.Validate()
}

func (in *DeployInput) Validate() error {
	if err := domain.CheckDeploymentID(in.DeploymentID); err != nil {
		return err
	}
	if err := domain.CheckUser(in.RequestedBy); err != nil {
		return domain.Errorf(domain.InvalidInput, "requestedBy: %v", err)
	}
	if in.Type == "" {
		in.Type = domain.DeployImageAndDAG
	}
	if !in.Type.Valid() {
		return domain.Errorf(domain.InvalidInput, "type %q is not one of IMAGE_AND_DAG, IMAGE_ONLY, DAG_ONLY", in.Type)
	}
	if in.Type.ChangesImage() {
		if in.ImageRef == "" {
			return domain.Errorf(domain.InvalidInput, "imageRef is required for a %s deploy", in.Type)
		}
		if _, err := reference.ParseNormalizedNamed(in.ImageRef); err != nil || len(in.ImageRef) > 512 {
			return domain.Errorf(domain.InvalidInput, "imageRef %q is not an image reference like registry:5000/repo:tag", clip(in.ImageRef))
		}
	} else if in.ImageRef != "" {
		// SPEC §3's synopsis passes --image with DAG_ONLY: allowed when it
		// names the image the deployment runs (checked on current data).
		if _, err := reference.ParseNormalizedNamed(in.ImageRef); err != nil || len(in.ImageRef) > 512 {
			return domain.Errorf(domain.InvalidInput, "imageRef %q is not an image reference like registry:5000/repo:tag", clip(in.ImageRef))
		}
	}
	if in.DagBundleVersion != "" {
		if err := domain.CheckDagBundleVersion(in.DagBundleVersion); err != nil {
			return err
		}
	}
	if (in.DagBundleVersion == "") != (in.DagBundleDigest == "") {
		return domain.Errorf(domain.InvalidInput, "dagBundleVersion and dagBundleDigest go together (rewind deploy --dags DIR sets both)")
	}
	if in.DagBundleDigest != "" {
		if err := bundle.CheckDigest(in.DagBundleDigest); err != nil {
			return err
		}
	}
	if in.Type == domain.DeployDAGOnly && in.DagBundleVersion == "" {
		return domain.Errorf(domain.InvalidInput, "a DAG_ONLY deploy needs dagBundleVersion (rewind deploy --dags DIR)")
	}
	if len(in.RequesterSignature) > 200 {
		return domain.Errorf(domain.InvalidInput, "requesterSignature is too long")
	}
	if err := domain.CheckGit(in.Git); err != nil {
		return err
	}
	if in.Force && strings.TrimSpace(in.Description) == "" {
		return domain.Errorf(domain.InvalidInput, "--force overrides a rollback on purpose: say why with --description")
	}
	if in.Type == domain.DeployImageOnly && in.DagBundleVersion != "" {
		return domain.Errorf(domain.InvalidInput, "an IMAGE_ONLY deploy keeps the current DAG bundle; leave dagBundleVersion empty")
	}
	return policy.CheckDeployDescription(in.Description)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return fmt.Sprint(s)
}

var planDigestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// RollbackInput is RollbackWorkflow's input, SPEC §3.
type RollbackInput struct {
	DeploymentID string       `json:"deploymentId"`
	Revision     int          `json:"revision"`
	Description  string       `json:"description"`
	RequestedBy  string       `json:"requestedBy"`
	Scope        policy.Scope `json:"scope,omitempty"`
	DryRun       bool         `json:"dryRun,omitempty"`
	// What the requester confirmed (R15): the current revision the plan
	// started from and the plan's digest. The rollback is refused with
	// PlanChanged when the plan computed now differs. Both optional, so the
	// Temporal CLI can omit them (the plan is then in the result and UI).
	ExpectedCurrentRevision int    `json:"expectedCurrentRevision,omitempty"`
	PlanDigest              string `json:"planDigest,omitempty"`
	RequesterSignature      string `json:"requesterSignature,omitempty"` // R18, see DeployInput
	// Diff adds the unified diff of changed DAG files to the plan.
	Diff bool `json:"diff,omitempty"`
	// AllowUnknownVersion rolls back even when the versions cannot be
	// compared (R20); recorded on the revision.
	AllowUnknownVersion bool `json:"allowUnknownVersion,omitempty"`
}

// ParseRollbackInput decodes and validates RollbackWorkflow's input.
func ParseRollbackInput(raw []byte) (RollbackInput, error) {
	var in RollbackInput
	if err := decodeStrict(raw, &in); err != nil {
		return in, err
	}
	return in, in.Validate()
}

func (in *RollbackInput) Validate() error {
	if err := domain.CheckDeploymentID(in.DeploymentID); err != nil {
		return err
	}
	if err := domain.CheckUser(in.RequestedBy); err != nil {
		return domain.Errorf(domain.InvalidInput, "requestedBy: %v", err)
	}
	if in.Revision < 1 {
		return domain.Errorf(domain.InvalidInput, "revision must be a revision number (1 or more), not %d", in.Revision)
	}
	if in.Scope == "" {
		in.Scope = policy.ScopeAll
	}
	switch in.Scope {
	case policy.ScopeAll, policy.ScopeImage, policy.ScopeDags:
	default:
		return domain.Errorf(domain.InvalidInput, "scope %q is not one of all, image, dags", clip(string(in.Scope)))
	}
	if in.ExpectedCurrentRevision < 0 {
		return domain.Errorf(domain.InvalidInput, "expectedCurrentRevision must be a revision number, not %d", in.ExpectedCurrentRevision)
	}
	if len(in.RequesterSignature) > 200 {
		return domain.Errorf(domain.InvalidInput, "requesterSignature is too long")
	}
	if in.PlanDigest != "" && !planDigestPattern.MatchString(in.PlanDigest) {
		return domain.Errorf(domain.InvalidInput, "planDigest %q is not a plan digest (sha256:<64 hex>, from a dry run)", clip(in.PlanDigest))
	}
	return policy.CheckRollbackDescription(in.Description)
}
