package hostile

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/rewindhq/rewind/internal/api"
	"github.com/rewindhq/rewind/internal/bundle"
	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/itest"
	"github.com/rewindhq/rewind/internal/policy"
	"github.com/rewindhq/rewind/workflows"
)

// Entry points.
const (
	viaTemporal = "temporal CLI"
	viaCLI      = "rewind CLI"
	viaAPI      = "HTTP API"
)

// hcase is one hostile request. run sends it and returns the error type it
// got (and, over HTTP, the status); want and status are what it must get.
// failedRow marks the refusals a workflow makes after recording its
// revision, which R1 keeps in the history as FAILED (see diff).
type hcase struct {
	via, name string
	want      string
	status    int
	failedRow string // deployment that gets the FAILED revision
	run       func(t *testing.T) (typ string, status int, msg string)
}

// The bundle worker's limits are lowered so the bombs are refused after
// 64 MiB / 10,000 entries rather than 1 GiB / 100,000 (the defaults, which
// the bombs exceed too): same code path, a fraction of the disk writes.
const (
	maxBytes = 64 << 20
	maxFiles = 10_000
)

func TestBattery(t *testing.T) {
	t.Setenv("REWIND_BUNDLE_MAX_BYTES", fmt.Sprint(maxBytes))
	t.Setenv("REWIND_BUNDLE_MAX_FILES", fmt.Sprint(maxFiles))
	start := time.Now()
	e := setup(t)
	cases := e.cases(t)
	setupTook := time.Since(start)

	type row struct {
		via, name, want, got, changed string
		ok                            bool
	}
	var rows []row
	for _, c := range cases {
		want := c.want
		if c.status != 0 {
			want = fmt.Sprintf("%d %s", c.status, c.want)
		}
		before := e.snapshot(t)
		typ, status, msg := c.run(t)
		after := e.snapshot(t)
		got := typ
		if c.via == viaAPI {
			got = fmt.Sprintf("%d %s", status, typ)
		}
		changes, failed := diff(before, after, c.failedRow, c.want)
		changed := "no"
		if len(changes) > 0 {
			changed = "YES: " + strings.Join(changes, "; ")
		} else if failed != nil {
			changed = fmt.Sprintf("no (FAILED revision %d recorded, R1)", failed.Number)
		} else if c.failedRow != "" {
			changed = "no (no FAILED revision recorded)"
		}
		ok := got == want && len(changes) == 0 && (c.failedRow == "" || failed != nil)
		if !ok {
			t.Errorf("%s / %s: want %s, got %s (%s); changed: %s", c.via, c.name, want, got, clip(msg, 300), changed)
		}
		rows = append(rows, row{c.via, c.name, want, got, changed, ok})
	}

	// The summary table, with -v.
	var b strings.Builder
	counts := map[string][2]int{}
	fmt.Fprintf(&b, "\n%-13s | %-58s | %-26s | %-26s | %s\n", "ENTRY POINT", "CASE", "EXPECTED", "GOT", "CHANGED")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-13s | %-58s | %-26s | %-26s | %s\n", r.via, clip(r.name, 58), r.want, clip(r.got, 26), r.changed)
		n := counts[r.via]
		n[0]++
		if r.ok {
			n[1]++
		}
		counts[r.via] = n
	}
	total, passed := 0, 0
	for _, via := range []string{viaTemporal, viaCLI, viaAPI} {
		n := counts[via]
		fmt.Fprintf(&b, "%s: %d cases, %d refused as expected with nothing changed\n", via, n[0], n[1])
		total, passed = total+n[0], passed+n[1]
		if n[0] < 8 {
			t.Errorf("%s has %d cases; the battery wants at least 8 per entry point", via, n[0])
		}
	}
	fmt.Fprintf(&b, "total: %d cases, %d passed (setup %s, cases %s)\n", total, passed, setupTook.Round(time.Second), (time.Since(start) - setupTook).Round(time.Second))
	t.Log(b.String())
	if total < 40 {
		t.Errorf("%d cases; the battery wants at least 40", total)
	}
}

// setup makes the one stack and the data the cases aim at. Everything a
// case may compare is made here, before the first snapshot: deployments,
// real deploys, grants, tokens, and the hostile objects in the bundle store.
func setup(t *testing.T) *env {
	srv := itest.StartServer(t)
	itest.StartWorker(t)
	cfg := itest.Config(t)
	st, tc := itest.Store(t, cfg), itest.Client(t, cfg)
	s, err := api.New(api.Options{Config: cfg, Store: st, Temporal: tc, Logger: itest.QuietSlog(), PlanTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: srv, cfg: cfg, st: st, http: httptest.NewServer(s.Handler()), tokens: map[string]string{}, unsafe: map[string]string{}}
	t.Cleanup(e.http.Close)

	e.bundle, e.image, e.gitsync, e.moved = itest.UniqueID("hx-bundle"), itest.UniqueID("hx-image"), itest.UniqueID("hx-gitsync"), itest.UniqueID("hx-moved")
	e.deps = []string{e.bundle, e.image, e.gitsync, e.moved}
	for _, d := range e.deps {
		itest.RemoveContainers(t, d)
	}
	comp := []string{"--component", "scheduler=airflow scheduler"}
	mustRewind(t, append([]string{"deployment", "create", e.bundle, "--dag-source", "bundle", "--dag-deploy", "--rollback-enabled"}, comp...)...)
	mustRewind(t, append([]string{"deployment", "create", e.image, "--rollback-enabled"}, comp...)...)
	mustRewind(t, append([]string{"deployment", "create", e.gitsync, "--dag-source", "git-sync", "--rollback-enabled"}, comp...)...)
	mustRewind(t, append([]string{"deployment", "create", e.moved, "--rollback-enabled"}, comp...)...)
	for _, d := range e.deps {
		mustRewind(t, "grant", editor, "--deployment", d, "--role", "editor")
		mustRewind(t, "grant", viewer, "--deployment", d, "--role", "viewer")
	}
	mustRewind(t, "grant", imagesOnly, "--deployment", e.bundle, "--permission", policy.ImagesPush)
	mustRewind(t, "grant", dagsOnly, "--deployment", e.bundle, "--permission", policy.DagsPush)
	for _, u := range []string{editor, imagesOnly, dagsOnly, viewer, nobody} {
		plain, _, err := api.IssueToken(context.Background(), st, u, "hostile battery", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[u] = plain
	}
	plain, tok, err := api.IssueToken(context.Background(), st, editor, "revoked", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeToken(context.Background(), tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.revoked = plain

	// Real deploys, one goroutine per deployment.
	dags := func(name string) string {
		dir := filepath.Join(t.TempDir(), name)
		os.MkdirAll(filepath.Join(dir, "dags"), 0o755)
		os.WriteFile(filepath.Join(dir, "dags", name+".py"), []byte("# "+name+"\n"), 0o644)
		return dir
	}
	dagsA, dagsB, dagsC := dags("a"), dags("b"), dags("c")
	// B and C both hold a binary file and a 1 MB text file, changed between
	// them: what a diff of the plan must summarise, never print.
	for i, dir := range []string{dagsB, dagsC} {
		os.WriteFile(filepath.Join(dir, "dags", "model.bin"), []byte{0, 1, 2, 0xff, byte(i)}, 0o644)
		os.WriteFile(filepath.Join(dir, "dags", "huge.py"), bytes.Repeat([]byte{'a' + byte(i), '\n'}, 1<<19), 0o644)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	deploy := func(args ...string) {
		args = append(args, "--as", editor, "--wait")
		if code, _, stderr := rewind(args...); code != 0 {
			errs <- fmt.Errorf("rewind %s: %s", strings.Join(args, " "), stderr)
		}
	}
	wg.Add(3)
	go func() { // bundle: 4.2.0 (below the R7 floor), 9.1.0, then DAGs only
		defer wg.Done()
		deploy("deploy", e.bundle, "--image", itest.Image(t, "4.2.0"), "--dags", dagsA, "--description", "old runtime")
		deploy("deploy", e.bundle, "--image", itest.Image(t, "9.1.0"), "--dags", dagsB, "--description", "upgrade")
		deploy("deploy", e.bundle, "--dags", dagsC, "--description", "DAGs only")
	}()
	go func() {
		defer wg.Done()
		deploy("deploy", e.image, "--image", itest.Image(t, "9.1.0"), "--description", "only deploy")
	}()
	go func() { // an image whose tag moves and whose first content vanishes
		defer wg.Done()
		if err := e.moveImage(t); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Hostile bundles in the store.
	fs := bundle.NewFSStore(cfg.BundleRoot)
	ok := []ent{{name: "dags/", typ: tar.TypeDir}, {name: "dags/ok.py", typ: tar.TypeReg, body: "ok"}}
	plant := map[string][]byte{
		"dot-dot":            tarGz(t, append(ok, ent{name: "dags/../../escape.py", typ: tar.TypeReg, body: "pwned"})...),
		"absolute":           tarGz(t, append(ok, ent{name: "/tmp/rewind-hostile-escape.py", typ: tar.TypeReg, body: "pwned"})...),
		"symlink escape":     tarGz(t, append(ok, ent{name: "dags/passwd", link: "../../../../../../etc/passwd", typ: tar.TypeSymlink})...),
		"symlink absolute":   tarGz(t, append(ok, ent{name: "dags/root", link: "/", typ: tar.TypeSymlink})...),
		"write via symlink":  tarGz(t, append(ok, ent{name: "dags/l", link: ".", typ: tar.TypeSymlink}, ent{name: "dags/l/x.py", typ: tar.TypeReg, body: "x"})...),
		"hardlink escape":    tarGz(t, append(ok, ent{name: "dags/h", link: "../../../etc/passwd", typ: tar.TypeLink})...),
		"device":             tarGz(t, append(ok, ent{name: "dags/null", typ: tar.TypeChar})...),
		"bomb (bytes)":       bomb(t, 2<<30),
		"bomb (entries)":     many(t, maxFiles+500),
		"marker name forged": tarGz(t, append(ok, ent{name: bundle.MarkerName, typ: tar.TypeReg, body: "sha256:forged"})...),
		"data after the end": trailing(t, 256<<20),
	}
	for name, data := range plant {
		d, _, err := fs.Put(context.Background(), strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		e.unsafe[name] = d
	}
	return e
}

// moveImage deploys a throwaway tag, re-pushes the tag with other content
// and deploys it again, then makes the first content unservable: deleted
// from the registry and from the Engine. Rolling back to revision 1 must
// then be refused with DigestMismatch rather than run other code.
func (e *env) moveImage(t *testing.T) error {
	reg := os.Getenv("REWIND_TEST_REGISTRY")
	name := fmt.Sprintf("rewind-test/hostile-%d", time.Now().UnixNano())
	ref := reg + "/" + name + ":v1"
	docker := func(args ...string) error {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	// The first content is the 9.1.0 image with a label of its own, so no
	// other repository or local reference shares its digest.
	ctxDir := t.TempDir()
	df := "FROM " + itest.Image(t, "9.1.0") + "\nLABEL rewind.test.hostile=\"" + name + "\"\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return err
	}
	if err := docker("pull", "-q", itest.Image(t, "9.1.0")); err != nil {
		return err
	}
	build := exec.Command("docker", "build", "-q", "-t", ref, ctxDir)
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build: %v: %s", err, out)
	}
	for i, tag := range []string{"9.1.0", "8.0.0"} {
		if i > 0 {
			if err := docker("pull", "-q", itest.Image(t, tag)); err != nil {
				return err
			}
			if err := docker("tag", itest.Image(t, tag), ref); err != nil {
				return err
			}
		}
		if err := docker("push", "-q", ref); err != nil {
			return err
		}
		if code, _, stderr := rewind("deploy", e.moved, "--image", ref, "--as", editor, "--wait", "--description", "tag v1 from "+tag); code != 0 {
			return fmt.Errorf("deploy %s: %s", ref, stderr)
		}
	}
	revs, err := e.st.ListRevisions(context.Background(), e.moved, 10, 0)
	if err != nil || len(revs) != 2 || revs[0].ImageDigest == revs[1].ImageDigest {
		return fmt.Errorf("moved image history: %+v %v", revs, err)
	}
	first := revs[1].ImageDigest
	req, _ := http.NewRequest("DELETE", "http://"+reg+"/v2/"+name+"/manifests/"+first, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		return fmt.Errorf("registry DELETE manifest %s: %s (the test registry must allow deletes, as scripts/registry.sh configures)", first, res.Status)
	}
	head, _ := http.NewRequest("HEAD", "http://"+reg+"/v2/"+name+"/manifests/"+first, nil)
	head.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	res, err = http.DefaultClient.Do(head)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		return fmt.Errorf("the registry still serves %s after deleting it: %s", first, res.Status)
	}
	return docker("rmi", reg+"/"+name+"@"+first)
}

func (e *env) cases(t *testing.T) []hcase {
	b, img, gs, mv := e.bundle, e.image, e.gitsync, e.moved
	now := time.Now()
	ver := func(i int) string { return domain.NewDagBundleVersion(now.Add(time.Duration(i) * time.Second)) }
	megabyte := strings.Repeat("x", 1<<20)
	d501 := strings.Repeat("y", 501)
	sqlID := "d1'; DROP TABLE revisions;--"
	lookalike := "hx-bundlе" // Cyrillic "е"
	var cs []hcase

	// --- The Temporal CLI: JSON input straight into the workflows. ---
	tw := func(name, typ, want, input string) {
		cs = append(cs, hcase{via: viaTemporal, name: name, want: want, run: func(t *testing.T) (string, int, string) {
			got, msg := e.temporalRun(t, typ, input)
			return got, 0, msg
		}})
	}
	rb := func(fields string) string {
		return `{"deploymentId":"` + b + `","requestedBy":"` + editor + `","description":"why"` + fields + `}`
	}
	dw, rw := workflows.DeployWorkflowName, workflows.RollbackWorkflowName
	tw("malformed JSON (truncated object)", dw, notStarted, `{"deploymentId":"`+img+`","imageRef":`)
	tw("not an object (array)", rw, "InvalidInput", `[1,2,3]`)
	tw("null input", rw, "InvalidInput", `null`)
	tw("trailing data after the object", rw, notStarted, rb(`,"revision":2`)+`{"revision":1}`)
	tw("wrong type: revision as a string", rw, "InvalidInput", rb(`,"revision":"2"`))
	tw("wrong type: dryRun as a string", rw, "InvalidInput", rb(`,"revision":2,"dryRun":"false"`))
	tw("unknown field (force)", rw, "InvalidInput", rb(`,"revision":2,"force":true`))
	tw("huge description (1 MB)", dw, "InvalidInput", `{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+editor+`","description":"`+megabyte+`"}`)
	tw("huge deploymentId (1 MB)", rw, "InvalidInput", `{"deploymentId":"`+megabyte+`","revision":1,"requestedBy":"`+editor+`","description":"why"}`)
	tw("SQL in deploymentId", rw, "InvalidInput", `{"deploymentId":`+mustJSON(sqlID)+`,"revision":1,"requestedBy":"`+editor+`","description":"why"}`)
	tw("SQL in requestedBy", dw, "InvalidInput", `{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"x' OR '1'='1"}`)
	tw("path traversal in deploymentId (../../etc)", dw, "InvalidInput", `{"deploymentId":"../../etc","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+editor+`"}`)
	tw("NUL byte in deploymentId", rw, "InvalidInput", `{"deploymentId":"`+b+`\u0000x","revision":2,"requestedBy":"`+editor+`","description":"why"}`)
	tw("unicode lookalike deploymentId", rw, "InvalidInput", `{"deploymentId":"`+lookalike+`","revision":2,"requestedBy":"`+editor+`","description":"why"}`)
	tw("path traversal in dagBundleVersion", dw, "InvalidInput", `{"deploymentId":"`+b+`","dagBundleVersion":"../../../../tmp/x","dagBundleDigest":"`+e.unsafe["dot-dot"]+`","requestedBy":"`+editor+`","type":"DAG_ONLY"}`)
	tw("path traversal in dagBundleDigest", dw, "InvalidInput", `{"deploymentId":"`+b+`","dagBundleVersion":"`+ver(1)+`","dagBundleDigest":"sha256:../../../etc/passwd","requestedBy":"`+editor+`","type":"DAG_ONLY"}`)
	tw("revision of another deployment", rw, "NotFound", `{"deploymentId":"`+img+`","revision":3,"requestedBy":"`+editor+`","description":"revision 3 is the bundle deployment's"}`)
	tw("zero revision", rw, "InvalidInput", rb(`,"revision":0`))
	tw("negative revision", rw, "InvalidInput", rb(`,"revision":-2`))
	tw("revision beyond int64", rw, "InvalidInput", rb(`,"revision":99999999999999999999`))
	tw("description of 501 characters", rw, "InvalidInput", `{"deploymentId":"`+b+`","revision":2,"requestedBy":"`+editor+`","description":"`+d501+`"}`)
	tw("scope dags by an images-only user", rw, "PermissionDenied", `{"deploymentId":"`+b+`","revision":2,"requestedBy":"`+imagesOnly+`","description":"why","scope":"dags"}`)
	tw("deploy by a user with no grant", dw, "PermissionDenied", `{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+nobody+`"}`)
	tw("rollback to Runtime 4.2.0 (R7)", rw, "RuntimeTooOld", rb(`,"revision":1`))
	// Issue 16's inputs: git provenance that is not what a work tree gives.
	gitDeploy := func(git string) string {
		return `{"deploymentId":"` + img + `","imageRef":"` + itest.Image(t, "9.1.0") + `","requestedBy":"` + editor + `","git":` + git + `}`
	}
	tw("git commit that is not hex", dw, "InvalidInput", gitDeploy(`{"commit":"$(rm -rf /)"}`))
	tw("git subject of 1 MB", dw, "InvalidInput", gitDeploy(`{"commit":"abcdef1","subject":"`+megabyte+`"}`))
	tw("git author with a forged log line", dw, "InvalidInput", gitDeploy(`{"commit":"abcdef1","author":"x\n{\"level\":\"ERROR\"}"}`))
	tw("git remote carrying a token", dw, "InvalidInput", gitDeploy(`{"commit":"abcdef1","remote":"https://ci:ghp_secret@github.com/x/y.git"}`))
	tw("--force without a description", dw, "InvalidInput", `{"deploymentId":"`+img+`","imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"`+editor+`","force":true}`)
	tw("requestedBy claiming to be rewind (automatic), unsigned", rw, "PermissionDenied", `{"deploymentId":"`+b+`","revision":2,"requestedBy":"rewind (automatic)","description":"forged"}`)
	tw("rollback of a git-sync deployment (R8)", rw, "UnsupportedDagSource", `{"deploymentId":"`+gs+`","revision":1,"requestedBy":"`+editor+`","description":"why"}`)
	for i, name := range []string{"dot-dot", "absolute", "symlink escape", "symlink absolute", "write via symlink", "hardlink escape", "device", "bomb (bytes)", "bomb (entries)", "marker name forged", "data after the end"} {
		cs = append(cs, hcase{via: viaTemporal, name: "bundle: " + name, want: "UnsafeBundle", run: func(t *testing.T) (string, int, string) {
			got, msg := e.temporalRun(t, dw, `{"deploymentId":"`+b+`","dagBundleVersion":"`+ver(10+i)+`","dagBundleDigest":"`+e.unsafe[name]+
				`","requestedBy":"`+editor+`","type":"DAG_ONLY","description":"hostile bundle: `+name+`"}`)
			return got, 0, msg
		}})
	}
	cs = append(cs, hcase{via: viaTemporal, name: "rollback to a digest the registry no longer serves", want: "DigestMismatch",
		run: func(t *testing.T) (string, int, string) {
			got, msg := e.temporalRun(t, rw, `{"deploymentId":"`+mv+`","revision":1,"requestedBy":"`+editor+`","description":"back to the first v1"}`)
			return got, 0, msg
		}})

	// --- The rewind CLI. ---
	cw := func(name, want string, args ...string) {
		cs = append(cs, hcase{via: viaCLI, name: name, want: want, run: func(t *testing.T) (string, int, string) {
			code, _, stderr := rewind(args...)
			if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); code != 0 && n > 0 {
				return "multi-line refusal", 0, stderr
			}
			return cliType(code, stderr), 0, stderr
		}})
	}
	roll := func(dep string, to string, extra ...string) []string {
		return append([]string{"rollback", dep, "--to", to, "--yes", "--wait", "--as", editor, "--description", "why"}, extra...)
	}
	cw("SQL in deployment id (deploy)", "InvalidInput", "deploy", sqlID, "--image", itest.Image(t, "9.1.0"), "--as", editor)
	cw("path traversal in id (history ../../etc)", "InvalidInput", "history", "../../etc")
	cw("encoded traversal id (%2e%2e%2f)", "InvalidInput", roll("%2e%2e%2f", "1")...)
	cw("NUL byte in id", "InvalidInput", "history", b+"\x00")
	cw("unicode lookalike id (deployment update)", "InvalidInput", "deployment", "update", lookalike, "--rollback-enabled=false")
	cw("traversal id (deployment create)", "InvalidInput", "deployment", "create", "../../etc", "--dag-source", "bundle")
	cw("SQL in user name (grant)", "InvalidInput", "grant", "x'; DROP TABLE grants;--", "--deployment", b, "--role", "editor")
	cw("SQL in deployment id (grant)", "InvalidInput", "grant", viewer, "--deployment", sqlID, "--role", "viewer")
	cw("zero revision (--to 0)", "InvalidInput", roll(b, "0")...)
	cw("negative revision (--to -1)", "InvalidInput", roll(b, "-1")...)
	cw("wrong type (--to three)", "Usage", roll(b, "three")...)
	cw("revision of another deployment", "NotFound", roll(img, "3")...)
	cw("description of 501 characters", "InvalidInput", append(roll(b, "2"), "--description", d501)...)
	cw("huge description (1 MB)", "InvalidInput", append(roll(b, "2"), "--description", megabyte)...)
	cw("huge image reference (1 MB)", "InvalidInput", "deploy", img, "--image", "r/"+megabyte, "--as", editor)
	cw("image reference with traversal", "InvalidInput", "deploy", img, "--image", "../../etc/passwd", "--as", editor)
	cw("unknown deploy type", "Usage", "deploy", img, "--image", itest.Image(t, "9.1.0"), "--type", "EVERYTHING", "--as", editor)
	cw("unknown scope", "Usage", append(roll(b, "2"), "--scope", "everything")...)
	cw("history --limit -5", "InvalidInput", "history", b, "--limit", "-5")
	cw("scope dags by an images-only user", "PermissionDenied", "rollback", b, "--to", "2", "--yes", "--as", imagesOnly, "--description", "why", "--scope", "dags")
	cw("scope all by a dags-only user", "PermissionDenied", "rollback", b, "--to", "2", "--yes", "--as", dagsOnly, "--description", "why")
	cw("rollback by a viewer", "PermissionDenied", "rollback", b, "--to", "2", "--yes", "--as", viewer, "--description", "why")
	cw("deploy by a user with no grant", "PermissionDenied", "deploy", img, "--image", itest.Image(t, "9.1.0"), "--as", nobody)
	cw("rollback to Runtime 4.2.0 (R7)", "RuntimeTooOld", roll(b, "1")...)
	cw("rollback of a git-sync deployment (R8)", "UnsupportedDagSource", roll(gs, "1")...)
	cw("--dags on an image deployment", "InvalidInput", "deploy", img, "--dags", t.TempDir(), "--as", editor)
	// A plan's diff of a binary and of a 1 MB file is neutralised: each is
	// named with a note, its content is not printed.
	cs = append(cs, hcase{via: viaCLI, name: "plan diff of a binary and a 1 MB file", want: "neutralised", run: func(t *testing.T) (string, int, string) {
		code, out, stderr := rewind("rollback", b, "--to", "2", "--dry-run", "--diff", "--as", editor, "--description", "why")
		if code != 0 {
			return cliType(code, stderr), 0, stderr
		}
		if !strings.Contains(out, "model.bin") || !strings.Contains(out, "huge.py") || !strings.Contains(out, "binary") ||
			len(out) > 64<<10 || strings.Contains(out, strings.Repeat("a\n", 100)) {
			return "printed", 0, clip(out, 2000)
		}
		return "neutralised", 0, ""
	}})
	escape := filepath.Join(t.TempDir(), "dags")
	os.MkdirAll(filepath.Join(escape, "dags"), 0o755)
	os.WriteFile(filepath.Join(escape, "dags", "ok.py"), []byte("ok"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(escape, "dags", "passwd"))
	cw("--dags DIR with a symlink to /etc/passwd", "UnsafeBundle", "deploy", b, "--dags", escape, "--as", editor, "--wait")
	escape2 := filepath.Join(t.TempDir(), "dags")
	os.MkdirAll(escape2, 0o755)
	os.Symlink("../../..", filepath.Join(escape2, "up"))
	cw("--dags DIR with a symlink to ../../..", "UnsafeBundle", "deploy", b, "--dags", escape2, "--as", editor, "--wait")
	cs = append(cs, hcase{via: viaCLI, name: "a second change while one runs (R14)", want: "ChangeInProgress", run: func(t *testing.T) (string, int, string) {
		stop := e.busy(t, img)
		defer stop()
		code, _, stderr := rewind("deploy", img, "--image", itest.Image(t, "9.1.0"), "--as", editor)
		return cliType(code, stderr), 0, stderr
	}})

	// --- The HTTP API. ---
	aw := func(name string, status int, want, method, path, user, ctype, body string) {
		cs = append(cs, hcase{via: viaAPI, name: name, want: want, status: status, run: func(t *testing.T) (string, int, string) {
			r := e.call(t, method, path, user, ctype, []byte(body))
			return r.typ, r.status, r.msg
		}})
	}
	j := "application/json"
	deploys := func(id string) string { return "/api/v1/deployments/" + id + "/deploys" }
	rollback := func(id, rev string) string { return deploys(id) + "/" + rev + "/rollback" }
	okRollback := `{"description":"why"}`
	okDeploy := `{"imageRef":"` + itest.Image(t, "9.1.0") + `","description":"from CI"}`
	aw("no token", 401, "Unauthenticated", "POST", deploys(img), "", j, okDeploy)
	aw("not a rewind token", 401, "Unauthenticated", "POST", rollback(b, "2"), "Bearer ' OR 1=1 --", j, okRollback)
	aw("revoked token", 401, "Unauthenticated", "POST", deploys(img), "Bearer "+e.revoked, j, okDeploy)
	aw("token in the Basic scheme", 401, "Unauthenticated", "GET", deploys(b), "Basic "+e.tokens[editor], "", "")
	aw("malformed JSON", 400, "InvalidInput", "POST", rollback(b, "2"), editor, j, `{"description":"why"`)
	aw("wrong type: description a number", 400, "InvalidInput", "POST", rollback(b, "2"), editor, j, `{"description":5}`)
	aw("wrong type: dryRun a string", 400, "InvalidInput", "POST", rollback(b, "2"), editor, j, `{"description":"why","dryRun":"no"}`)
	aw("unknown field (requestedBy)", 400, "InvalidInput", "POST", deploys(img), editor, j, `{"imageRef":"`+itest.Image(t, "9.1.0")+`","requestedBy":"mallory"}`)
	aw("trailing data", 400, "InvalidInput", "POST", rollback(b, "2"), editor, j, okRollback+`{"description":"again"}`)
	aw("oversized body (1 MB description)", 413, "RequestTooLarge", "POST", rollback(b, "2"), editor, j, `{"description":"`+megabyte+`"}`)
	aw("wrong content type (form)", 400, "InvalidInput", "POST", rollback(b, "2"), editor, "application/x-www-form-urlencoded", "description=why&scope=all")
	aw("wrong content type (multipart)", 400, "InvalidInput", "POST", deploys(img), editor, "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"imageRef\"\r\n\r\nr:1\r\n--x--\r\n")
	aw("SQL in id", 400, "InvalidInput", "GET", deploys(url.PathEscape(sqlID)), editor, "", "")
	aw("encoded traversal id (..%2F..%2Fetc)", 400, "InvalidInput", "GET", deploys("..%2F..%2Fetc"), editor, "", "")
	aw("double-encoded traversal id (%252e%252e%252f)", 400, "InvalidInput", "POST", rollback("%252e%252e%252f", "1"), editor, j, okRollback)
	aw("NUL byte in id (%00)", 400, "InvalidInput", "POST", deploys(b+"%00"), editor, j, okDeploy)
	aw("unicode lookalike id", 400, "InvalidInput", "GET", deploys(url.PathEscape(lookalike)), editor, "", "")
	aw("huge id (100 KB)", 400, "InvalidInput", "GET", deploys(strings.Repeat("a", 100<<10)), editor, "", "")
	aw("revision of another deployment", 404, "NotFound", "POST", rollback(img, "3"), editor, j, okRollback)
	aw("zero revision", 400, "InvalidInput", "POST", rollback(b, "0"), editor, j, okRollback)
	aw("negative revision", 400, "InvalidInput", "POST", rollback(b, "-1"), editor, j, okRollback)
	aw("revision beyond int64", 400, "InvalidInput", "POST", rollback(b, "99999999999999999999"), editor, j, okRollback)
	aw("description of 501 characters", 400, "InvalidInput", "POST", rollback(b, "2"), editor, j, `{"description":"`+d501+`"}`)
	aw("scope dags by an images-only user", 403, "PermissionDenied", "POST", rollback(b, "2"), imagesOnly, j, `{"description":"why","scope":"dags"}`)
	aw("deploy by a viewer", 403, "PermissionDenied", "POST", deploys(b), viewer, j, okDeploy)
	aw("history read by a user with no grant", 403, "PermissionDenied", "GET", deploys(b), nobody, "", "")
	aw("progress read by a user with no grant", 403, "PermissionDenied", "GET", "/api/v1/workflows/change/"+b+"/progress", nobody, "", "")
	aw("dagBundleDigest with traversal", 400, "InvalidInput", "POST", deploys(b), editor, j, `{"dagBundleVersion":"`+ver(99)+`","dagBundleDigest":"sha256:../../x","type":"DAG_ONLY"}`)
	aw("limit=-1", 400, "InvalidInput", "GET", deploys(b)+"?limit=-1", editor, "", "")
	aw("rollback to Runtime 4.2.0 (R7)", 422, "RuntimeTooOld", "POST", rollback(b, "1"), editor, j, okRollback)
	aw("rollback of a git-sync deployment (R8)", 422, "UnsupportedDagSource", "POST", rollback(gs, "1"), editor, j, okRollback)
	// R10 before anything else: a token with no grant learns nothing of the
	// deployment's settings (here R8's) and starts no dry run.
	for _, body := range []string{`{"description":"why","dryRun":true}`, okRollback} {
		cs = append(cs, hcase{via: viaAPI, name: "rollback " + body + " by a user with no grant", want: "PermissionDenied", status: 403,
			run: func(t *testing.T) (string, int, string) {
				plans := `WorkflowId STARTS_WITH "plan/` + gs + `/"`
				before := e.workflowsOf(t, plans)
				r := e.call(t, "POST", rollback(gs, "1"), nobody, j, []byte(body))
				time.Sleep(time.Second) // visibility is eventually consistent
				if n := e.workflowsOf(t, plans) - before; n != 0 {
					return fmt.Sprintf("%d dry runs started", n), r.status, r.msg
				}
				return r.typ, r.status, r.msg
			}})
	}
	cs = append(cs, hcase{via: viaAPI, name: "a second change while one runs (R14)", want: "ChangeInProgress", status: 409, run: func(t *testing.T) (string, int, string) {
		stop := e.busy(t, img)
		defer stop()
		r := e.call(t, "POST", rollback(img, "1"), editor, j, []byte(okRollback))
		return r.typ, r.status, r.msg
	}})
	cs = append(cs, e.securityCases(t)...)
	cs = append(cs, e.issue26Cases(t)...)
	return append(cs, e.adminCases(t)...)
}

// busy holds a deployment's change id with a workflow no worker runs, the
// way a long deploy would, until stop.
func (e *env) busy(t *testing.T, dep string) (stop func()) {
	t.Helper()
	run, err := e.srv.Client.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.ChangeWorkflowID(dep), TaskQueue: "hostile-nobody-polls"},
		workflows.DeployWorkflowName, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		e.srv.Client.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "hostile battery: case over")
	}
}
