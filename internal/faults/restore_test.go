package faults

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/rewindhq/rewind/internal/action"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/store"
	"github.com/rewindhq/rewind/workflows"
)

// killDuringRestore rolls back to an 8.0.0 image that passes the preflight
// but never turns healthy, so the change fails after its metadata
// downgrade and compensation restores the snapshot; the worker is killed
// during that restore (before, and in the full suite also after it). A
// fresh worker finishes the compensation: the revision is FAILED with the
// metadata restored, the previous components run again, the table the
// downgrade dropped is back, and the downgrade ran once.
func (su *suite) killDuringRestore(i int) {
	t := su.t
	moments := []string{"before"}
	if full {
		moments = append(moments, "after")
	}
	for _, m := range moments {
		target := su.seedUnhealthy()
		if tag[i%2 == 0] != "9.1.0" {
			i++
		}
		su.deploy(i, true) // a 9.1.0 revision after it, to roll back from
		i++
		prev := history(t, su.dep)[0]
		feature := su.query(`SELECT note FROM feature_3_0_2 ORDER BY id`)
		su.w.Kill()
		su.w = su.startWorker(fmt.Sprintf("RestoreMetadata=%s:4s", m))
		before := len(history(t, su.dep))
		events := itest.RecordEvents(t, su.dep)
		id := workflows.ChangeWorkflowID(su.dep)
		if _, err := action.StartChange(context.Background(), itest.Config(t), su.s.Client, su.dep, workflows.RollbackWorkflowName, workflows.KindRollback,
			"alice", "fault test", workflows.RollbackInput{DeploymentID: su.dep, Revision: target, Description: "fault: restore", RequestedBy: "alice", Scope: "all"}); err != nil {
			t.Fatal(err)
		}
		su.waitStarted(id, "RestoreMetadata")
		time.Sleep(1500 * time.Millisecond)
		su.w.Kill()
		su.w = su.startWorker("")
		if err := su.wait(id, "", nil); err == nil {
			t.Errorf("a rollback to an image that never turns healthy succeeded")
		}
		fault := fmt.Sprintf("SIGKILL %s RestoreMetadata (failed downgrade)", m)
		lost, dup := 0, 0
		revs := history(t, su.dep)
		top := revs[0]
		switch {
		case len(revs) != before+1:
			t.Errorf("%s: %d new revisions", fault, len(revs)-before)
			dup++
		case top.Status != domain.StatusFailed || !strings.Contains(top.FailureReason, "metadata restored from snapshot"):
			t.Errorf("%s: revision %+v", fault, top)
			lost++
		}
		for _, comp := range []string{"scheduler", "worker"} {
			out, _ := exec.Command("docker", "inspect", "--format", "{{.State.Status}} {{.Config.Image}}", "rewind-"+su.dep+"-"+comp).Output()
			if !strings.HasPrefix(string(out), "running") || !strings.Contains(string(out), prev.ImageDigest) {
				t.Errorf("%s: %s is %s, want running on %s", fault, comp, out, prev.ImageDigest)
				lost++
			}
		}
		if now := su.query(`SELECT note FROM feature_3_0_2 ORDER BY id`); len(now) < len(feature) || strings.Join(now[:len(feature)], "|") != strings.Join(feature, "|") {
			t.Errorf("%s: feature_3_0_2 has %d rows, had %d", fault, len(now), len(feature))
			lost++
		}
		// The run log of the stand-in's downgrade lives in the database the
		// restore puts back, so Docker's events count the runs.
		if n := itest.CountEvents(events(), "start", "oneoff-db-downgrade"); n != 1 {
			t.Errorf("%s: the downgrade ran %d times", fault, n)
			dup += max(0, n-1)
		}
		su.record(fault, lost, dup)
	}
}

// seedUnhealthy records an 8.0.0 revision that deployed a week ago and
// whose image now never turns healthy, and returns its number.
func (su *suite) seedUnhealthy() int {
	t := su.t
	ctx := context.Background()
	ref := itest.Image(t, "8.0.0-unhealthy")
	if out, err := exec.Command("docker", "pull", "-q", ref).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, _ := exec.Command("docker", "image", "inspect", "--format", "{{index .RepoDigests 0}}", ref).Output()
	_, digest, _ := strings.Cut(strings.TrimSpace(string(out)), "@")
	st := itest.Store(t, itest.Config(t))
	r, err := st.CreateRevision(ctx, domain.Revision{DeploymentID: su.dep, CreatedAt: time.Now(), CreatedBy: "alice", Description: "seeded",
		Type: domain.DeployImageOnly, ImageRef: ref, WorkflowID: "seed/" + su.dep, RunID: fmt.Sprint("seed-", time.Now().UnixNano())})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetImage(ctx, su.dep, r.Number, digest, "8.0.0", "2.9.3"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishRevision(ctx, store.Finish{DeploymentID: su.dep, Number: r.Number, Status: domain.StatusDeployed, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return r.Number
}

func (su *suite) query(q string) []string {
	rs, err := su.db.Query(context.Background(), q)
	if err != nil {
		return nil
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		rs.Scan(&v)
		out = append(out, v)
	}
	return out
}
