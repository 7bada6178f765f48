package runtime

import (
	"testing"

	"github.com/docker/docker/api/types/volume"
)

func TestVersionsFromLabelsInOrder(t *testing.T) {
	r := &Runtime{cfg: Config{RuntimeVersionLabel: "com.example.runtime", AirflowVersionLabel: "com.example.airflow"}.withDefaults()}
	cases := []struct {
		name                 string
		labels               map[string]string
		rt, rtSrc, af, afSrc string
	}{
		{"configured first", map[string]string{"com.example.airflow": "2.10.1", AstronomerAirflowLabel: "2.9.3", OfficialAirflowLabel: "2.8.0", "com.example.runtime": "12.0.0", AstronomerRuntimeLabel: "9.1.0"},
			"12.0.0", "label com.example.runtime", "2.10.1", "label com.example.airflow"},
		{"Astronomer next", map[string]string{AstronomerAirflowLabel: "3.0.2", OfficialAirflowLabel: "2.8.0", AstronomerRuntimeLabel: "9.1.0"},
			"9.1.0", "label " + AstronomerRuntimeLabel, "3.0.2", "label " + AstronomerAirflowLabel},
		{"official only", map[string]string{OfficialAirflowLabel: "2.9.3"}, "", "", "2.9.3", "label " + OfficialAirflowLabel},
		{"none", map[string]string{"maintainer": "x"}, "", "", "", ""},
	}
	for _, c := range cases {
		img := Image{Ref: "r:1"}
		if err := r.readVersions(&img, c.labels); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if img.RuntimeVersion != c.rt || img.RuntimeVersionSource != c.rtSrc || img.AirflowVersion != c.af || img.AirflowVersionSource != c.afSrc {
			t.Errorf("%s: got %+v", c.name, img)
		}
	}
	img := Image{Ref: "r:1"}
	if err := r.readVersions(&img, map[string]string{OfficialAirflowLabel: "2.9.0 --to-version 2.3.0"}); err == nil {
		t.Error("a hostile official label must be refused")
	}
}

func TestParseAirflowVersion(t *testing.T) {
	for out, want := range map[string]string{
		"2.9.3\n": "2.9.3",
		"/usr/lib/python3: DeprecationWarning: x\n3.0.2\n": "3.0.2",
		"3.0.2+astro.1":                      "3.0.2+astro.1",
		"Traceback (most recent call last):": "",
		"":                                   "",
		"2.9.3; rm -rf /":                    "",
	} {
		if got := ParseAirflowVersion(out); got != want {
			t.Errorf("%q: got %q, want %q", out, got, want)
		}
	}
}

// A snapshot taken by a client image is a volume of the Engine; cleanup
// removes it, and one already gone is no error.
func TestRemoveSnapshotVolume(t *testing.T) {
	e := setup(t)
	prefix := "rewind-test-snap-" + randHex(4)
	name := SnapshotVolume(prefix, e.dep.ID+"/r3.dump")
	if name != prefix+"-"+e.dep.ID+"-r3" {
		t.Fatalf("volume name %q", name)
	}
	if _, err := e.rt.cli.VolumeCreate(e.ctx, volume.CreateOptions{Name: name}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := e.rt.RemoveSnapshotVolume(e.ctx, prefix, e.dep.ID+"/r3.dump"); err != nil {
			t.Fatalf("remove %d: %v", i, err)
		}
	}
	if _, err := e.rt.cli.VolumeInspect(e.ctx, name); err == nil {
		t.Fatal("the volume must be gone")
	}
}
