package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"

	"strings"
	"testing"
	"time"

	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/identity"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// R18: a requester signed by rewind's own clients for this deployment and
// workflow is recorded as verified; anything else as claimed — or refused
// when the installation requires verified requesters, recording nothing.
func TestRequestersAreVerifiedOrClaimed(t *testing.T) {
	f := newFixture(t)
	key := strings.Repeat("k", 32)
	f.acts.Config.RequestSigningKey = key
	const input = `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"`
	digest := func(in string) string {
		parsed, err := workflows.ParseDeployInput([]byte(in + "}"))
		if err != nil {
			t.Fatal(err)
		}
		return parsed.Digest()
	}
	claim := func(by, wf string, at time.Time) identity.Claim {
		return identity.Claim{RequestedBy: by, DeploymentID: "d1", WorkflowID: wf, WorkflowType: workflows.DeployWorkflowName, InputDigest: digest(input), SignedAt: at}
	}
	sign := func(c identity.Claim) string { return identity.Sign([]byte(key), c) }
	next := func() string { return fmt.Sprintf("change/d1-test-%d", f.runs+1) }
	deployWith := func(in, sig string) (bool, error) {
		if sig != "" {
			in += `,"requesterSignature":"` + sig + `"`
		}
		res, _, err := f.deploy(t, in+"}")
		return res.Revision.RequestedByVerified, err
	}
	deploy := func(sig string) (bool, error) { return deployWith(input, sig) }
	if v, err := deploy(""); err != nil || v {
		t.Fatalf("unsigned: verified %v, %v", v, err)
	}
	if v, err := deploy(sign(claim("alice", next(), time.Now()))); err != nil || !v {
		t.Fatalf("signed: verified %v, %v", v, err)
	}
	other := claim("alice", "", time.Now())
	other.WorkflowType = workflows.RollbackWorkflowName
	for name, sig := range map[string]string{
		"signed for someone else":     sign(claim("mallory", next(), time.Now())),
		"signed for another workflow": sign(claim("alice", "change/d1-other", time.Now())),
		"signed for another type":     sign(func() identity.Claim { c := other; c.WorkflowID = next(); return c }()),
		"replayed an hour later":      sign(claim("alice", next(), time.Now().Add(-time.Hour))),
		"garbage":                     "v2.123.abc.def",
	} {
		if v, err := deploy(sig); err != nil || v {
			t.Errorf("%s: verified %v, %v", name, v, err)
		}
	}
	// Signed for one input, sent with another (R22): claimed.
	if v, err := deployWith(strings.Replace(input, "9.1.0", "6.6.6", 1), sign(claim("alice", next(), time.Now()))); err != nil || v {
		t.Fatalf("another image under alice's signature: verified %v, %v", v, err)
	}
	revs := f.history(t)
	if len(revs) != 8 || !revs[6].RequestedByVerified || revs[0].RequestedByVerified {
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
	if v, err := deploy(sign(claim("alice", next(), time.Now()))); err != nil || !v {
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

// A plan's id runs dry runs only (R22): a real change started under one is
// refused and records nothing, whoever asks.
func TestAPlanIDNeverChangesAnything(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		input, want string
	}{
		{`{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY"}`, "PermissionDenied"},
		{`{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY","dryRun":true}`, ""},
	} {
		env := f.env()
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: fmt.Sprintf("plan/d1/%d", f.runs)})
		env.ExecuteWorkflow(workflows.DeployWorkflowName, json.RawMessage(c.input))
		if err := env.GetWorkflowError(); errType(err) != c.want {
			t.Fatalf("%s: %v", c.input, err)
		}
	}
	if revs := f.history(t); len(revs) != 0 {
		t.Fatalf("a plan recorded revisions: %+v", revs)
	}
}

// R22: a rollback requested as rewind (automatic) is authorised by the
// bake decision recorded for exactly its input, while automatic rollback is
// on, under the permissions of whoever enabled it; nothing in its own input
// stands in for that.
func TestAutomaticRollbackIsTheBakesDecision(t *testing.T) {
	f := threeDeploys(t)
	ctx := context.Background()
	d, err := f.store.GetDeployment(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	d.AutoRollback = &domain.AutoRollback{Enabled: true, BakePeriod: time.Minute, Interval: time.Second, Failures: 1, EnabledBy: "alice"}
	if err := f.store.UpdateDeploymentSettings(ctx, d); err != nil {
		t.Fatal(err)
	}
	in := workflows.RollbackInput{DeploymentID: "d1", Revision: 2, Description: "scheduler unhealthy", RequestedBy: domain.AutomaticRequester, Scope: "all"}
	raw, _ := json.Marshal(in)
	decide := func(bake, digest, by string) {
		if err := f.store.RecordBakeDecision(ctx, store.BakeDecision{BakeRunID: bake, DeploymentID: "d1", InputDigest: digest, EnabledBy: by, DecidedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(why, want string) {
		t.Helper()
		if _, _, err := f.rollback(t, string(raw)); errType(err) != "PermissionDenied" || !strings.Contains(err.Error(), want) {
			t.Fatalf("%s: %v", why, err)
		}
		if n := len(f.history(t)); n != 3 {
			t.Fatalf("%s: %d revisions", why, n)
		}
	}
	refused("no bake decided it", "no bake")
	other := in
	other.Revision = 1
	decide("bake-other", other.Digest(), "alice")
	refused("a decision for another target", "no bake")
	decide("bake-imogen", in.Digest(), "imogen") // holds only deployment.images.push
	refused("enabled by someone who may not roll everything back", "imogen")
	decide("bake-alice", in.Digest(), "alice")
	d.AutoRollback.Enabled = false
	f.store.UpdateDeploymentSettings(ctx, d)
	refused("automatic rollback switched off since", "switched off")
	d.AutoRollback.Enabled = true
	f.store.UpdateDeploymentSettings(ctx, d)
	res, _, err := f.rollback(t, string(raw))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Revision; r.CreatedBy != domain.AutomaticRequester || !r.RequestedByVerified || r.RollbackOf != 2 {
		t.Fatalf("the decided rollback: %+v", r)
	}
}

// The progress route reads the deployment from the id before it asks
// Temporal anything: only change, plan and bake ids name one.
func TestDeploymentOfWorkflow(t *testing.T) {
	for id, want := range map[string]string{
		"change/d1": "d1", "plan/d1/0190aaaa": "d1", "bake/d1": "d1",
		"plan/d1": "", "change/D1!": "", "cleanup-2026-01-01": "", "hostile/1": "", "change/": "", "change/d1/x": "",
	} {
		if got := workflows.DeploymentOfWorkflow(id); got != want {
			t.Errorf("%q: %q, want %q", id, got, want)
		}
	}
}
