package config

import (
	"errors"
	"strings"
	"testing"
)

// A configuration error names the variable but never echoes a password.
func TestConfigErrorsDoNotEchoSecrets(t *testing.T) {
	t.Setenv("REWIND_DATABASE_URL", "mysql://rewind:hunter2-secret@db.internal/rewind")
	_, err := Load()
	var ce *Error
	if !errors.As(err, &ce) || ce.Var != "REWIND_DATABASE_URL" {
		t.Fatalf("want a REWIND_DATABASE_URL error, got %v", err)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "mysql://rewind:xxxxx@db.internal/rewind") {
		t.Fatalf("message %q", err)
	}
	// Every secret-bearing setting, through the one place messages are made.
	for _, e := range []*Error{
		{"REWIND_ELASTICSEARCH_PASSWORD", "hunter2-secret", "x"},
		{"REWIND_ELASTICSEARCH_API_KEY", "hunter2-secret", "x"},
		{"REWIND_HTTP_SESSION_KEY", "hunter2-secret", "x"},
		{"REWIND_ELASTICSEARCH_ADDRESSES", "https://elastic:hunter2-secret@es1:9200,https://es2:9200", "x"},
		{"REWIND_DATABASE_URL", "postgres://u@db/x?password=hunter2-secret", "x"},
	} {
		if msg := e.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, e.Var) {
			t.Errorf("%s: %q", e.Var, msg)
		}
	}
}
