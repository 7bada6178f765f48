package runtime

import (
	"context"
	"strings"

	"github.com/Masterminds/semver/v3"

	"github.com/rewindhq/rewind/internal/domain"
)

// Version labels rewind understands besides the configured ones (R20):
// Astronomer Runtime images carry both Astronomer labels; the official
// apache/airflow images carry only the Airflow version, under the
// OpenContainers-style key of the Apache project.
const (
	AstronomerRuntimeLabel = DefaultRuntimeVersionLabel
	AstronomerAirflowLabel = DefaultAirflowVersionLabel
	OfficialAirflowLabel   = "org.apache.airflow.version"
)

// SourceAirflowVersionCommand is the source of a version read from the
// image's own `airflow version` output, when no label carries it.
const SourceAirflowVersionCommand = "airflow version"

// LabelSource names a label as a version's source.
func LabelSource(key string) string { return "label " + key }

// readVersions fills img's versions and their sources from its labels, in
// R20's order: the configured label, then Astronomer's, then (Airflow only)
// the official one. A label that is present but not a strict version is
// refused (InvalidInput): a hostile value never reaches a command line.
func (r *Runtime) readVersions(img *Image, labels map[string]string) error {
	var err error
	img.RuntimeVersion, img.RuntimeVersionSource, err = firstVersion(labels, img.Ref, r.cfg.RuntimeVersionLabel, AstronomerRuntimeLabel)
	if err != nil {
		return err
	}
	img.AirflowVersion, img.AirflowVersionSource, err = firstVersion(labels, img.Ref, r.cfg.AirflowVersionLabel, AstronomerAirflowLabel, OfficialAirflowLabel)
	return err
}

func firstVersion(labels map[string]string, ref string, keys ...string) (string, string, error) {
	for _, k := range keys {
		v, err := versionLabel(labels, k, ref)
		if err != nil {
			return "", "", err
		}
		if v != "" {
			return v, LabelSource(k), nil
		}
	}
	return "", "", nil
}

// DetectAirflowVersion runs `airflow version` in a throwaway container of
// the image, with the deployment's stored configuration beside its
// scheduler like a start check, for an image whose labels carry no Airflow
// version (R20). It returns "" and the reason when the output holds no
// strict version: the version is then unknown.
func (r *Runtime) DetectAirflowVersion(ctx context.Context, dep domain.Deployment, img Image) (string, string, error) {
	res, err := r.RunOneOff(ctx, dep, img.Pinned(), []string{"airflow", "version"},
		OneOffOptions{Name: "airflow-version", JoinNetwork: true, Timeout: r.cfg.HealthTimeout})
	if err != nil {
		if _, ok := err.(*domain.Error); ok {
			return "", "", err
		}
		return "", "`airflow version` failed: " + clip(strings.TrimSpace(res.Output), 200), nil
	}
	if v := ParseAirflowVersion(res.Output); v != "" {
		return v, "", nil
	}
	return "", "`airflow version` printed no version: " + clip(strings.TrimSpace(res.Output), 200), nil
}

// ParseAirflowVersion finds the version `airflow version` printed: its last
// line that is a strict version (warnings may come before it).
func ParseAirflowVersion(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		v := strings.TrimSpace(lines[i])
		if domain.IsVersion(v) {
			if _, err := semver.NewVersion(v); err == nil {
				return v
			}
		}
	}
	return ""
}
