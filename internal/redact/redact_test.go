package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	cases := []struct{ in, want, secret string }{
		{"postgres://user:hunter2@host:5432/db", "postgres://user:xxxxx@host:5432/db", "hunter2"},
		{"postgresql://rewind:p%40ss%2Fword@db.internal/rewind?sslmode=require", "postgresql://rewind:xxxxx@db.internal/rewind?sslmode=require", "p%40ss"},
		// Malformed on purpose: raw '@', '/', '?', ':' inside the password.
		{"postgres://u:p@ss@host/db", "postgres://u:xxxxx@host/db", "p@ss"},
		{"postgres://u:12/34@host/db", "postgres://u:xxxxx@host/db", "12/34"},
		{"postgres://u:a?b#c@host/db", "postgres://u:xxxxx@host/db", "a?b#c"},
		{"postgres://u:a:b@host", "postgres://u:xxxxx@host", "a:b"},
		// Passwords in parameters, as pgx accepts them.
		{"postgres://host/db?password=hunter2&sslmode=disable", "postgres://host/db?password=xxxxx&sslmode=disable", "hunter2"},
		{"postgres://host/db?sslmode=disable&PASSWORD=hunter2", "postgres://host/db?sslmode=disable&PASSWORD=xxxxx", "hunter2"},
		{"postgres://u:pw@host/db?sslpassword=keypass", "postgres://u:xxxxx@host/db?sslpassword=xxxxx", "keypass"},
		{"https://elastic:changeme@es:9200", "https://elastic:xxxxx@es:9200", "changeme"},
		// Nothing secret: left alone.
		{"postgres://rewind@host/db", "postgres://rewind@host/db", ""},
		{"sqlite:///var/lib/rewind/rewind.db", "sqlite:///var/lib/rewind/rewind.db", ""},
		{"localhost:7233", "localhost:7233", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		got := URL(c.in)
		if got != c.want {
			t.Errorf("URL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.secret != "" && strings.Contains(got, c.secret) {
			t.Errorf("URL(%q) leaks %q", c.in, c.secret)
		}
	}
}

func TestScrubCatchesDecodedForms(t *testing.T) {
	raw := "postgres://u:p%40ss%20w@host/db?password=x%2By"
	secrets := Secrets(raw)
	msg := `cannot parse "postgres://u:p@ss w@host/db": password "p%40ss%20w" or "x+y" or x%2By`
	got := Scrub(msg, secrets)
	for _, leak := range []string{"p@ss w", "p%40ss%20w", "x+y", "x%2By"} {
		if strings.Contains(got, leak) {
			t.Errorf("Scrub left %q in %q (secrets %q)", leak, got, secrets)
		}
	}
}

func TestSetting(t *testing.T) {
	cases := []struct{ name, value, want string }{
		{"REWIND_ELASTICSEARCH_PASSWORD", "changeme", "(hidden)"},
		{"REWIND_ELASTICSEARCH_API_KEY", "aWQ6a2V5", "(hidden)"},
		{"REWIND_HTTP_SESSION_KEY", "0123456789abcdef", "(hidden)"},
		{"REWIND_TOKEN", "rwd_0123456789ab_x", "(hidden)"},
		{"REWIND_PAYLOAD_KEYS", "k1:c2VjcmV0", "(hidden)"},
		{"REWIND_TEMPORAL_API_KEY", "secret", "(hidden)"},
		{"REWIND_ELASTICSEARCH_PASSWORD", "", ""},
		{"REWIND_TOKEN_TTL", "forever", "forever"},
		{"REWIND_DATABASE_URL", "mysql://root:toor@db/x", "mysql://root:xxxxx@db/x"},
		{"REWIND_DATABASE_URL", "postgres://u:pa,ss@db/x", "postgres://u:xxxxx@db/x"},
		{"REWIND_ELASTICSEARCH_ADDRESSES", "http://a:p1@h1:9200,https://b:p2@h2:9200", "http://a:xxxxx@h1:9200,https://b:xxxxx@h2:9200"},
	}
	for _, c := range cases {
		if got := Setting(c.name, c.value); got != c.want {
			t.Errorf("Setting(%s, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

// What a container prints about its own configuration reaches error
// messages, workflow history and the API: its secrets do not.
func TestEnvSecretsScrubAContainersOutput(t *testing.T) {
	env := []string{
		"DB_PASSWORD=s3cret-pw",
		"AIRFLOW__CORE__FERNET_KEY=Zm9vYmFyYmF6",
		"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql://airflow:p%40ss@db/airflow",
		"AIRFLOW__CORE__EXECUTOR=CeleryExecutor",
		"EMPTY_TOKEN=",
	}
	out := "connecting postgresql://airflow:p@ss@db/airflow with s3cret-pw, fernet Zm9vYmFyYmF6, executor CeleryExecutor"
	got := Scrub(out, EnvSecrets(env))
	for _, secret := range []string{"s3cret-pw", "Zm9vYmFyYmF6", "p@ss"} {
		if strings.Contains(got, secret) {
			t.Fatalf("%q left in %q", secret, got)
		}
	}
	if !strings.Contains(got, "CeleryExecutor") || !strings.Contains(got, "postgresql://airflow:"+Mask) {
		t.Fatalf("non-secret parts must stay readable: %q", got)
	}
}
