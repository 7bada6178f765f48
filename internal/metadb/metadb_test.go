package metadb

import (
	"strings"
	"testing"

	"github.com/rewindhq/rewind/internal/domain"
)

func TestURLs(t *testing.T) {
	for in, want := range map[string]string{
		"postgresql+psycopg2://airflow:pw@db:5432/airflow": "postgres://airflow:pw@db:5432/airflow",
		"postgres://a@h/db":                 "postgres://a@h/db",
		"sqlite:////usr/local/airflow/a.db": "",
		"mysql+mysqldb://u:p@h/db":          "",
		"not a url":                         "",
	} {
		if got := FromSQLAlchemy(in); got != want {
			t.Errorf("FromSQLAlchemy(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"postgres://u:s3cret@h:5432/db":          "postgres://u:xxxxx@h:5432/db",
		"postgresql+psycopg2://u:p@ss/w0rd@h/db": "postgresql+psycopg2://u:xxxxx@h/db",
		"postgres://u@h/db":                      "postgres://u@h/db",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	d := domain.Deployment{Env: map[string]string{"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://a:b@h/x"}}
	if For(d) != "postgres://a:b@h/x" {
		t.Fatalf("from env: %q", For(d))
	}
	d.MetadataDatabaseURL = "postgres://worker-view@h2/x"
	if For(d) != "postgres://worker-view@h2/x" {
		t.Fatalf("the setting wins: %q", For(d))
	}
	if err := Check("mysql://u:secret@h/db"); domain.TypeOf(err) != domain.InvalidInput || strings.Contains(err.Error(), "secret") {
		t.Fatalf("check: %v", err)
	}
	if err := Check("postgres://h"); err == nil {
		t.Fatal("a URL without a database must be refused")
	}
}

func TestSnapshotsOff(t *testing.T) {
	d := domain.Deployment{MetadataDatabaseURL: domain.MetadataSnapshotsOff,
		Env: map[string]string{"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://a:b@db:5432/airflow"}}
	if For(d) != "" || Check(domain.MetadataSnapshotsOff) != nil {
		t.Fatal("--metadata-snapshot=off names no database, whatever the environment says")
	}
}
