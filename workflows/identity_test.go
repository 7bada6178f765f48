package workflows_test

import (
	"fmt"

	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"

	"github.com/rewindhq/rewind/internal/identity"
)

// R18: a requester signed by rewind's own clients for this deployment and
// workflow is recorded as verified; anything else as claimed — or refused
// when the installation requires verified requesters, recording nothing.
func TestRequestersAreVerifiedOrClaimed(t *testing.T) {
	f := newFixture(t)
	key := strings.Repeat("k", 32)
	f.acts.Config.RequestSigningKey = key
	sign := func(by, wf string, at time.Time) string {
		return identity.Sign([]byte(key), identity.Claim{RequestedBy: by, DeploymentID: "d1", WorkflowID: wf, SignedAt: at})
	}
	next := func() string { return fmt.Sprintf("change/d1-test-%d", f.runs+1) }
	deploy := func(sig string) (bool, error) {
		in := `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"`
		if sig != "" {
			in += `,"requesterSignature":"` + sig + `"`
		}
		res, _, err := f.deploy(t, in+"}")
		return res.Revision.RequestedByVerified, err
	}
	if v, err := deploy(""); err != nil || v {
		t.Fatalf("unsigned: verified %v, %v", v, err)
	}
	if v, err := deploy(sign("alice", next(), time.Now())); err != nil || !v {
		t.Fatalf("signed: verified %v, %v", v, err)
	}
	for name, sig := range map[string]string{
		"signed for someone else":     sign("mallory", next(), time.Now()),
		"signed for another workflow": sign("alice", "change/d1-other", time.Now()),
		"replayed an hour later":      sign("alice", next(), time.Now().Add(-time.Hour)),
		"garbage":                     "v1.123.abc",
	} {
		if v, err := deploy(sig); err != nil || v {
			t.Errorf("%s: verified %v, %v", name, v, err)
		}
	}
	revs := f.history(t)
	if len(revs) != 6 || !revs[4].RequestedByVerified || revs[0].RequestedByVerified {
		t.Fatalf("history: %d revisions, %+v", len(revs), revs)
	}

	f.acts.Config.RequireVerifiedRequests = true
	before := len(f.history(t))
	_, err := deploy("")
	if errType(err) != "PermissionDenied" || !strings.Contains(err.Error(), "not verified") {
		t.Fatalf("unsigned under the switch: %v", err)
	}
	_, _, err = f.rollback(t, rb(1, `,"dryRun":true`))
	if errType(err) != "PermissionDenied" {
		t.Fatalf("an unsigned dry run under the switch: %v", err)
	}
	if len(f.history(t)) != before {
		t.Fatal("a refused request recorded a revision")
	}
	if v, err := deploy(sign("alice", next(), time.Now())); err != nil || !v {
		t.Fatalf("signed under the switch: verified %v, %v", v, err)
	}
}

// The Temporal UI shows a change's steps live, as its current details, with
// a first line saying what the change is — the summary a run started from
// the Temporal CLI otherwise lacks.
func TestCurrentDetailsShowTheSteps(t *testing.T) {
	f := newFixture(t)
	_, env, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"}`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := env.QueryWorkflow("__temporal_workflow_metadata")
	if err != nil {
		t.Fatal(err)
	}
	var md sdkpb.WorkflowMetadata
	if err := v.Get(&md); err != nil {
		t.Fatal(err)
	}
	d := md.GetCurrentDetails()
	for _, want := range []string{"**rewind deploy of d1, revision 1 by alice** — done", "| pull image | done | 1 |", "| preflight | done | 1 |", "| metadata downgrade | skipped | 0 | not a downgrade |"} {
		if !strings.Contains(d, want) {
			t.Fatalf("current details lack %q:\n%s", want, d)
		}
	}
}
