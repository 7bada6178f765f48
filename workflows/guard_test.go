package workflows_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/bundle"
)

// A rollback stays rolled back: after rolling back from r3 to r2, a deploy
// of r3's DAG bundle or git commit is refused with RolledBack naming the
// rollback and who did it, until it is forced with a description (the
// override recorded) or something else lands.
func TestRollbackGuard(t *testing.T) {
	f := threeDeploys(t) // r1 9.1.0/v1, r2 9.1.0/v2, r3 8.0.0/v3
	const commit = "0123456789abcdef0123456789abcdef01234567"
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.0","requestedBy":"alice","type":"IMAGE_ONLY",`+
		`"git":{"commit":"`+commit+`","branch":"main","author":"Dev <dev@example.com>","remote":"https://git.example.com/etl.git","subject":"Speed up the ETL"}}`); err != nil {
		t.Fatal(err)
	}
	r4 := f.history(t)[0]
	if r4.Git == nil || r4.Git.Commit != commit || r4.Git.Branch != "main" || r4.Description != "Speed up the ETL" {
		t.Fatalf("provenance, and the subject as the description: %+v %+v", r4, r4.Git)
	}
	if _, _, err := f.rollback(t, rb(2, "")); err != nil { // r5: back to r2, away from r4
		t.Fatal(err)
	}
	r5 := f.history(t)[0]
	if r5.RollbackOf != 2 || r5.RolledBackFrom != 4 {
		t.Fatalf("r5: %+v", r5)
	}
	before := len(f.history(t))
	_, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.1","requestedBy":"ci","type":"IMAGE_ONLY","git":{"commit":"`+commit[:12]+`"}}`)
	if errType(err) != "PermissionDenied" { // ci has no grant; R10 first
		t.Fatalf("ci: %v", err)
	}
	_, _, err = f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.1","requestedBy":"alice","type":"IMAGE_ONLY","git":{"commit":"`+commit[:12]+`"}}`)
	if errType(err) != "RolledBack" || !strings.Contains(err.Error(), "revision 5 (alice") || !strings.Contains(err.Error(), "git commit "+commit) {
		t.Fatalf("redeploying the rolled-back commit: %v", err)
	}
	_, _, err = f.deploy(t, `{"deploymentId":"d1","requestedBy":"alice","type":"DAG_ONLY"`+bundleArgs(v3)+`}`)
	if errType(err) == "" {
		t.Fatal("r4 kept r3's bundle v3, which r5 moved away from; it must be refused")
	}
	if len(f.history(t)) != before {
		t.Fatal("a refused deploy recorded a revision")
	}
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.1","requestedBy":"alice","type":"IMAGE_ONLY","force":true,"git":{"commit":"`+commit+`"}}`); errType(err) != "InvalidInput" {
		t.Fatalf("--force without a description: %v", err)
	}
	res, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.1","requestedBy":"alice","type":"IMAGE_ONLY","force":true,`+
		`"description":"the fix is in the database, not the code","git":{"commit":"`+commit+`"}}`)
	if err != nil || res.Revision.ForcedPast != 5 {
		t.Fatalf("forced: %+v %v", res.Revision, err)
	}
	// Something newer landed: the guard is gone.
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"reg:5000/airflow:9.1.1","requestedBy":"alice","type":"IMAGE_ONLY","git":{"commit":"`+commit+`"}}`); err != nil {
		t.Fatalf("after another deploy landed: %v", err)
	}
}

// Hostile provenance is refused before anything is recorded.
func TestGitProvenanceIsChecked(t *testing.T) {
	f := newFixture(t)
	for name, git := range map[string]string{
		"not hex":               `{"commit":"not-a-commit"}`,
		"oversized subject":     `{"commit":"abcdef1","subject":"` + strings.Repeat("s", 501) + `"}`,
		"newline in author":     `{"commit":"abcdef1","author":"x\ny"}`,
		"credentials in remote": `{"commit":"abcdef1","remote":"https://bob:hunter2@git.example.com/etl.git"}`,
	} {
		_, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","git":`+git+`}`)
		if errType(err) != "InvalidInput" || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(f.history(t)) != 0 {
		t.Fatal("hostile provenance recorded a revision")
	}
}

// A deploy's dry run plans only: the DAG files it adds, removes and
// changes against the current bundle, and nothing recorded or touched.
func TestDeployDryRunShowsTheDagDiff(t *testing.T) {
	f := newFixture(t)
	root := t.TempDir()
	f.acts.Bundles, f.acts.Config.BundleRoot = bundle.NewFSStore(root), root
	pack := func(files map[string]string) string {
		dir := t.TempDir()
		for n, b := range files {
			os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644)
		}
		d, _, err := bundle.PackTo(context.Background(), f.acts.Bundles, dir)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a := pack(map[string]string{"etl.py": "load()\n", "old.py": "# old\n"})
	b := pack(map[string]string{"etl.py": "transform()\nload()\n", "new.py": "# new\n"})
	if _, _, err := f.deploy(t, `{"deploymentId":"d1","imageRef":"r:1","requestedBy":"alice","dagBundleVersion":"`+v1+`","dagBundleDigest":"`+a+`"}`); err != nil {
		t.Fatal(err)
	}
	f.docker.calls = nil
	res, _, err := f.deploy(t, `{"deploymentId":"d1","requestedBy":"alice","type":"DAG_ONLY","dryRun":true,"diff":true,"dagBundleVersion":"`+v2+`","dagBundleDigest":"`+b+`"}`)
	if err != nil || !res.DryRun || res.Plan == nil || res.Plan.DagDiff == nil {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	d := res.Plan.DagDiff
	if len(d.Added) != 1 || d.Added[0].Name != "new.py" || len(d.Removed) != 1 || len(d.Changed) != 1 || !strings.Contains(d.Changed[0].Unified, "+transform()") {
		t.Fatalf("diff: %+v", d)
	}
	if len(f.history(t)) != 1 || len(f.docker.calls) != 0 {
		t.Fatalf("a dry run must record and touch nothing: %d revisions, calls %v", len(f.history(t)), f.docker.calls)
	}
}
