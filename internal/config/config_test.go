package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	t.Setenv("REWIND_DATA_DIR", "/tmp/rw")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Host != "local" {
		t.Fatalf("REWIND_HOST should default to local: %q", c.Host)
	}
	if c.TaskQueue != "rewind" || c.TemporalAddress != "localhost:7233" || c.Namespace != "default" {
		t.Fatalf("temporal defaults: %+v", c)
	}
	if c.DatabaseURL != "sqlite:///tmp/rw/rewind.db" || c.BundleRoot != "/tmp/rw/bundles" {
		t.Fatalf("derived defaults: %q %q", c.DatabaseURL, c.BundleRoot)
	}
	if c.RollbacksEnabled || c.RollbackWindowDays != 90 || !c.CleanupEnabled || c.CleanupOlderThanDays != 90 {
		t.Fatalf("rule defaults: %+v", c)
	}
	if c.PreflightReuse != 24*time.Hour {
		t.Fatalf("passed start checks should be reused for a day: %s", c.PreflightReuse)
	}
	if len(c.ElasticsearchAddresses) != 0 {
		t.Fatalf("elasticsearch should default to none: %v", c.ElasticsearchAddresses)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	cases := map[string]string{
		"REWIND_ROLLBACKS_ENABLED":       "maybe",
		"REWIND_ROLLBACK_WINDOW_DAYS":    "0",
		"REWIND_CLEANUP_OLDER_THAN_DAYS": "ninety",
		"REWIND_DATABASE_URL":            "mysql://x",
		"REWIND_TEMPORAL_ADDRESS":        "nohostport",
		"REWIND_CLEANUP_CRON":            "every day",
		"REWIND_LOG_LEVEL":               "loud",
		"REWIND_DRAIN_TIMEOUT":           "forever",
		"REWIND_HEALTH_TIMEOUT":          "-5s",
		"REWIND_TOKEN_TTL":               "90d",
		"REWIND_HTTP_TRUSTED_PROXIES":    "10.0.0.0/8,proxy.internal",
		"REWIND_REGISTRY_CONFIG":         "/nonexistent/docker-config",
		// shorter than the 90-day rollback window: cleanup would delete targets
		"REWIND_CLEANUP_OLDER_THAN_DAYS ": "30",
		"REWIND_REQUEST_SIGNING_KEY":      "too-short",
		// a host name becomes part of a task queue name: slugs only
		"REWIND_HOST":  "b@evil",
		"REWIND_HOST ": "Host B",
		// '@' separates the queue from the host in host queues
		"REWIND_TASK_QUEUE": "rewind@b",
		// reusing start checks is bounded, never negative or for ever
		"REWIND_PREFLIGHT_REUSE":  "-1h",
		"REWIND_PREFLIGHT_REUSE ": "8760h",
	}
	for key, value := range cases {
		name := strings.TrimSpace(key) // a trailing space tells two cases of one variable apart
		t.Run(key, func(t *testing.T) {
			t.Setenv(name, value)
			_, err := Load()
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != name {
				t.Fatalf("want *config.Error naming %s, got %v", name, err)
			}
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("message %q does not name %s", err, name)
			}
		})
	}
}

func TestElasticsearchList(t *testing.T) {
	t.Setenv("REWIND_ELASTICSEARCH_ADDRESSES", "http://a:9200,http://b:9200")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ElasticsearchAddresses) != 2 || c.ElasticsearchAddresses[1] != "http://b:9200" {
		t.Fatalf("got %v", c.ElasticsearchAddresses)
	}
}

func TestVariablesCoversSpec(t *testing.T) {
	want := []string{"REWIND_TEMPORAL_ADDRESS", "REWIND_NAMESPACE", "REWIND_TASK_QUEUE", "REWIND_DATA_DIR",
		"REWIND_DATABASE_URL", "REWIND_BUNDLE_ROOT", "REWIND_ROLLBACKS_ENABLED", "REWIND_ROLLBACK_WINDOW_DAYS",
		"REWIND_CLEANUP_ENABLED", "REWIND_CLEANUP_OLDER_THAN_DAYS", "REWIND_CLEANUP_CRON", "REWIND_CLEANUP_HOST_WAIT",
		"REWIND_ELASTICSEARCH_ADDRESSES", "DOCKER_HOST"}
	have := map[string]bool{}
	for _, v := range Variables() {
		have[v[0]] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("missing %s", w)
		}
	}
}

// docs/configuration.md documents every variable (the README links it);
// this keeps the two in step.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Variables() {
		if !strings.Contains(string(doc), "| `"+v[0]+"` |") {
			t.Errorf("docs/configuration.md's table lacks %s", v[0])
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "(docs/configuration.md)") {
		t.Error("the README does not link docs/configuration.md")
	}
}
