package runtime

import (
	"testing"
)

// The fingerprint a passed preflight is reused by: the same for the same
// target whichever revision runs now (the check containers copy the running
// containers' Engine settings), and different as soon as anything the
// checks could see differs: the image, the environment, the DAG folder,
// the checks.
func TestPreflightFingerprint(t *testing.T) {
	e := setup(t)
	a, b := e.pull("9.1.0"), e.pull("9.1.0-healthcheck")
	checks := [][]string{{"airflow", "version"}, {"airflow", "dags", "list-import-errors"}}
	v1 := DefaultMountPath + "/bundles/v1"
	fp := func(img Image, folder string, checks [][]string) string {
		t.Helper()
		f, err := e.rt.PreflightFingerprint(e.ctx, e.dep, img, folder, checks)
		if err != nil || len(f) != 64 {
			t.Fatalf("fingerprint: %q %v", f, err)
		}
		return f
	}
	e.swap(a, 1)
	whileA := fp(a, v1, checks)
	e.swap(b, 2)
	whileB := fp(a, v1, checks)
	if whileA != whileB {
		t.Fatal("the same target's fingerprint must not depend on which revision runs")
	}
	if again := fp(a, v1, checks); again != whileB {
		t.Fatal("a fingerprint must be repeatable")
	}
	differs := map[string]string{
		"another image":       fp(b, v1, checks),
		"another DAG folder":  fp(a, DefaultMountPath+"/bundles/v2", checks),
		"the stored DAG path": fp(a, "", checks),
		"fewer checks":        fp(a, v1, checks[:1]),
	}
	e.dep.Env["AIRFLOW__CORE__PARALLELISM"] = "64"
	differs["another environment"] = fp(a, v1, checks)
	delete(e.dep.Env, "AIRFLOW__CORE__PARALLELISM")
	for what, f := range differs {
		if f == whileB {
			t.Errorf("%s must change the fingerprint", what)
		}
	}
	// Taking a fingerprint starts nothing.
	cs, _ := e.rt.Containers(e.ctx, e.dep.ID)
	for _, c := range cs {
		if c.OneOff != "" {
			t.Fatalf("a fingerprint created a container: %s", c.Name)
		}
	}
}
