// Package config holds rewind's settings, read from environment variables
// (SPEC §3) so the worker, the CLI and containers configure the same way.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v10"

	"github.com/rewindhq/rewind/internal/domain"
	"github.com/rewindhq/rewind/internal/redact"
)

// Config is every setting of rewind. The README's configuration table is
// generated from these tags; keep the two in step.
type Config struct {
	TemporalAddress string `env:"REWIND_TEMPORAL_ADDRESS" envDefault:"localhost:7233"`
	Namespace       string `env:"REWIND_NAMESPACE" envDefault:"default"`
	TaskQueue       string `env:"REWIND_TASK_QUEUE" envDefault:"rewind"`
	// Host names the Docker host this worker drives: it polls the shared
	// queue and <queue>@<host> for that host's activities (issue 13).
	Host string `env:"REWIND_HOST" envDefault:"local"`

	// Securing Temporal (docs/temporal-security.md, temporal.go): TLS, a
	// client certificate for mTLS, an API key, and payload encryption.
	TemporalTLS           string `env:"REWIND_TEMPORAL_TLS"` // true, false, or empty: on when any setting below needs it
	TemporalTLSCA         string `env:"REWIND_TEMPORAL_TLS_CA"`
	TemporalTLSCert       string `env:"REWIND_TEMPORAL_TLS_CERT"`
	TemporalTLSKey        string `env:"REWIND_TEMPORAL_TLS_KEY"`
	TemporalTLSServerName string `env:"REWIND_TEMPORAL_TLS_SERVER_NAME"`
	TemporalAPIKey        string `env:"REWIND_TEMPORAL_API_KEY"`
	// RequestSigningKey signs who asked for a change (R18): rewind's clients
	// sign, workers verify. Empty: a key file in the data directory.
	RequestSigningKey string `env:"REWIND_REQUEST_SIGNING_KEY"`
	// RequireVerifiedRequests refuses changes whose requester is not signed
	// (started from the Temporal CLI or UI) instead of recording them as
	// claimed.
	RequireVerifiedRequests bool `env:"REWIND_REQUIRE_VERIFIED_REQUESTS" envDefault:"false"`
	// PayloadKeys encrypt every payload: "id:base64key,…", the first
	// encrypts, all decrypt (internal/codec).
	PayloadKeys string `env:"REWIND_PAYLOAD_KEYS"`
	// CodecUsers may use `rewind serve`'s codec endpoint (* for every token
	// holder); CodecCORSOrigins may call it from a browser (the Temporal UI).
	CodecUsers       []string `env:"REWIND_CODEC_USERS" envSeparator:","`
	CodecCORSOrigins []string `env:"REWIND_CODEC_CORS_ORIGINS" envSeparator:","`

	DataDir     string `env:"REWIND_DATA_DIR" envDefault:"./.rewind"`
	DatabaseURL string `env:"REWIND_DATABASE_URL"` // empty: sqlite file <data dir>/rewind.db
	BundleRoot  string `env:"REWIND_BUNDLE_ROOT"`  // empty: <data dir>/bundles
	// BundleRepository is where DAG bundles travel (host[:port]/path of a
	// registry): the CLI and the API push them there, each worker fetches
	// them by digest into its own bundle root. Empty: the bundle root is the
	// store, shared (the embedded make run).
	BundleRepository string `env:"REWIND_BUNDLE_REPOSITORY"`

	RollbacksEnabled     bool   `env:"REWIND_ROLLBACKS_ENABLED" envDefault:"false"`
	RollbackWindowDays   int    `env:"REWIND_ROLLBACK_WINDOW_DAYS" envDefault:"90"`
	CleanupEnabled       bool   `env:"REWIND_CLEANUP_ENABLED" envDefault:"true"`
	CleanupOlderThanDays int    `env:"REWIND_CLEANUP_OLDER_THAN_DAYS" envDefault:"90"`
	CleanupCron          string `env:"REWIND_CLEANUP_CRON" envDefault:"0 3 * * *"`
	// CleanupHostWait is how long a cleanup waits for a host's worker to
	// take that host's garbage; a host with none by then keeps it in the
	// outbox for the next run, and the other hosts are not held up.
	CleanupHostWait time.Duration `env:"REWIND_CLEANUP_HOST_WAIT" envDefault:"10m"`

	ElasticsearchAddresses   []string `env:"REWIND_ELASTICSEARCH_ADDRESSES" envSeparator:","`
	ElasticsearchUsername    string   `env:"REWIND_ELASTICSEARCH_USERNAME"`
	ElasticsearchPassword    string   `env:"REWIND_ELASTICSEARCH_PASSWORD"`
	ElasticsearchAPIKey      string   `env:"REWIND_ELASTICSEARCH_API_KEY"`
	ElasticsearchIndexPrefix string   `env:"REWIND_ELASTICSEARCH_INDEX_PREFIX" envDefault:"rewind-logs"`

	DockerHost          string        `env:"DOCKER_HOST"`
	DockerNetwork       string        `env:"REWIND_DOCKER_NETWORK"`
	RuntimeVersionLabel string        `env:"REWIND_RUNTIME_VERSION_LABEL" envDefault:"io.astronomer.docker.runtime.version"`
	AirflowVersionLabel string        `env:"REWIND_AIRFLOW_VERSION_LABEL" envDefault:"io.astronomer.docker.airflow.version"`
	DrainTimeout        time.Duration `env:"REWIND_DRAIN_TIMEOUT" envDefault:"1h"`
	StopTimeout         time.Duration `env:"REWIND_STOP_TIMEOUT" envDefault:"30s"`
	HealthTimeout       time.Duration `env:"REWIND_HEALTH_TIMEOUT" envDefault:"2m"`
	// RegistryConfig is the docker config registry credentials are read
	// from on the worker (auths, credsStore, credHelpers): a directory
	// holding config.json, or the file; empty: $DOCKER_CONFIG or ~/.docker.
	RegistryConfig string `env:"REWIND_REGISTRY_CONFIG"`
	// MetadataDowngradeCommand runs, on a Runtime downgrade, as a one-off
	// container of the current (newer) image before the older one starts
	// (R11). {{airflowVersion}} is replaced by the target's Airflow version.
	MetadataDowngradeCommand string `env:"REWIND_METADATA_DOWNGRADE_COMMAND" envDefault:"airflow db downgrade --to-version {{airflowVersion}} --yes"`
	// PgClientImage, pinned by digest (repo:tag@sha256:…), runs pg_dump and
	// pg_restore for metadata snapshots in one-off containers beside the
	// deployment's scheduler, so the worker needs no PostgreSQL client;
	// each snapshot then lives in a volume of the Engine named
	// <SnapshotVolume>-<deployment>-r<N>, where every worker of that host
	// finds it. Empty: the worker's own
	// PostgreSQL client tools and <data dir>/snapshots, as before.
	PgClientImage  string `env:"REWIND_PG_CLIENT_IMAGE"`
	SnapshotVolume string `env:"REWIND_SNAPSHOT_VOLUME" envDefault:"rewind-snapshots"`
	// MetadataMigrateCommand runs when a change raises the Airflow version
	// (or is a deployment's first), as a one-off of the newer image before
	// any of its components starts (R21).
	MetadataMigrateCommand string `env:"REWIND_METADATA_MIGRATE_COMMAND" envDefault:"airflow db migrate"`
	// DowngradeTimeout is how long one attempt waits for the metadata
	// downgrade; the migration itself is never stopped (a retry waits on).
	DowngradeTimeout time.Duration `env:"REWIND_DOWNGRADE_TIMEOUT" envDefault:"30m"`
	// PreflightChecks are the start checks run in the target image before a
	// change touches anything, ';'-separated; empty turns the preflight off.
	PreflightChecks string `env:"REWIND_PREFLIGHT_CHECKS" envDefault:"airflow version; airflow dags list-import-errors"`
	// PreflightReuse is how long start checks that passed stay good for a
	// change that would start byte-identical check containers: the same
	// image content, DAG bundle digest, settings and checks, on the same
	// host. Such a change (typically a rollback to the last good revision)
	// does not run them again. 0 runs them every time.
	PreflightReuse time.Duration `env:"REWIND_PREFLIGHT_REUSE" envDefault:"24h"`
	// BakeHealthCheck and BakeImportErrorsCheck are the probes of an
	// automatic rollback's bake, run in the scheduler (issue 16).
	BakeHealthCheck       string `env:"REWIND_BAKE_HEALTH_CHECK" envDefault:"airflow jobs check --job-type SchedulerJob"`
	BakeImportErrorsCheck string `env:"REWIND_BAKE_IMPORT_ERRORS_CHECK" envDefault:"airflow dags list-import-errors --output json"`
	// StallTimeout is how long a pull may transfer nothing before the
	// attempt is cut off as stalled and retried.
	StallTimeout time.Duration `env:"REWIND_STALL_TIMEOUT" envDefault:"2m"`
	// HostStepBound and SnapshotBound bound a change's Docker steps (the
	// preflight, stop, swap, unpack, verify) and its metadata snapshots and
	// restores in wall-clock time, across every attempt (issue 27).
	HostStepBound time.Duration `env:"REWIND_HOST_STEP_BOUND" envDefault:"1h"`
	SnapshotBound time.Duration `env:"REWIND_SNAPSHOT_BOUND" envDefault:"6h"`
	PullBound     time.Duration `env:"REWIND_PULL_BOUND" envDefault:"2h"`
	// HealthAttempts bounds how often a swap recreates replacements that
	// crash or turn unhealthy within REWIND_HEALTH_TIMEOUT.
	HealthAttempts int `env:"REWIND_HEALTH_ATTEMPTS" envDefault:"3"`
	// WorkerStopTimeout is how long a stopping worker (SIGTERM) lets its
	// running activities finish.
	WorkerStopTimeout time.Duration `env:"REWIND_WORKER_STOP_TIMEOUT" envDefault:"2m"`
	BundleMaxBytes    int64         `env:"REWIND_BUNDLE_MAX_BYTES" envDefault:"1073741824"`
	BundleMaxFiles    int           `env:"REWIND_BUNDLE_MAX_FILES" envDefault:"100000"`

	LogLevel          string `env:"REWIND_LOG_LEVEL" envDefault:"info"`
	HTTPAddress       string `env:"REWIND_HTTP_ADDRESS" envDefault:"127.0.0.1:8080"`
	HTTPSessionKey    string `env:"REWIND_HTTP_SESSION_KEY"`
	HTTPSecureCookies bool   `env:"REWIND_HTTP_SECURE_COOKIES" envDefault:"false"`
	// HTTPTrustedProxies are the proxies (IPs or CIDRs) whose
	// X-Forwarded-For `rewind serve` believes when it rate-limits sign-ins
	// by client address; empty: the connection's address, always.
	HTTPTrustedProxies []string `env:"REWIND_HTTP_TRUSTED_PROXIES" envSeparator:","`
	// WebhookAllowHosts are hosts (exactly as in the URL, without the port)
	// a webhook may reach although they resolve to internal addresses —
	// loopback, private, link-local…; every other webhook must go out.
	WebhookAllowHosts []string `env:"REWIND_WEBHOOK_ALLOW_HOSTS" envSeparator:","`
	// TokenTTL is how long a new API token lasts unless `rewind token
	// create --expires` says otherwise.
	TokenTTL time.Duration `env:"REWIND_TOKEN_TTL" envDefault:"2160h"`
	// TokenMaxTTL caps every token's lifetime, --expires included.
	TokenMaxTTL time.Duration `env:"REWIND_TOKEN_MAX_TTL" envDefault:"2160h"`

	// MetricsAddress serves the worker's Prometheus /metrics; empty: off.
	MetricsAddress string `env:"REWIND_METRICS_ADDRESS"`
	// Faults injects failures and pauses into activities, for fault tests
	// only (see activities.Faults). Empty in production.
	Faults string `env:"REWIND_FAULTS"`
}

// Error names the environment variable that holds a bad value, so an
// operator knows what to fix without reading code.
type Error struct {
	Var    string
	Value  string // as given: show it only through Error, which redacts
	Reason string
}

// Error shows the value with secrets masked: a password in a URL setting
// (postgres://user:xxxxx@host/db) and secret settings whole.
func (e *Error) Error() string {
	return fmt.Sprintf("configuration: %s=%q: %s", e.Var, redact.Setting(e.Var, e.Value), e.Reason)
}

// Load reads the environment, fills the derived defaults and validates.
func Load() (*Config, error) { return LoadFinding(nil) }

// LoadFinding is Load with a data directory found rather than assumed:
// when REWIND_DATA_DIR is not set, find names an existing one (the CLI
// looks for .rewind in the current directory and its parents, as git looks
// for .git), and the SPEC's ./.rewind stays the default when it finds none.
func LoadFinding(find func() (string, bool)) (*Config, error) {
	var c Config
	var opts env.Options
	if _, set := os.LookupEnv("REWIND_DATA_DIR"); !set && find != nil {
		if dir, ok := find(); ok {
			environ := env.ToMap(os.Environ())
			environ["REWIND_DATA_DIR"] = dir
			opts.Environment = environ
		}
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return nil, translate(err)
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) finish() error {
	if c.DataDir == "" {
		return &Error{"REWIND_DATA_DIR", c.DataDir, "must not be empty"}
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "rewind.db")
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite://") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return &Error{"REWIND_DATABASE_URL", c.DatabaseURL, "must start with sqlite:// or postgres://"}
	}
	if c.BundleRoot == "" {
		c.BundleRoot = filepath.Join(c.DataDir, "bundles")
	}
	// Docker bind-mounts the bundle root: it must be absolute.
	for _, p := range []*string{&c.DataDir, &c.BundleRoot} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return &Error{"REWIND_DATA_DIR", *p, err.Error()}
		}
		*p = abs
	}
	if _, _, err := net.SplitHostPort(c.TemporalAddress); err != nil {
		return &Error{"REWIND_TEMPORAL_ADDRESS", c.TemporalAddress, "must be host:port"}
	}
	if err := c.checkTemporalSecurity(); err != nil {
		return err
	}
	if c.Namespace == "" {
		return &Error{"REWIND_NAMESPACE", c.Namespace, "must not be empty"}
	}
	if c.TaskQueue == "" {
		return &Error{"REWIND_TASK_QUEUE", c.TaskQueue, "must not be empty"}
	}
	if strings.Contains(c.TaskQueue, "@") {
		return &Error{"REWIND_TASK_QUEUE", c.TaskQueue, "must not contain '@': it separates the queue from the host in host queues"}
	}
	if err := domain.CheckHost(c.Host); err != nil {
		return &Error{"REWIND_HOST", c.Host, "must be a slug: lowercase letters, digits and '-', starting with a letter or digit, at most 63 characters"}
	}
	if c.RollbackWindowDays < 1 {
		return &Error{"REWIND_ROLLBACK_WINDOW_DAYS", fmt.Sprint(c.RollbackWindowDays), "must be at least 1"}
	}
	if c.CleanupOlderThanDays < 1 {
		return &Error{"REWIND_CLEANUP_OLDER_THAN_DAYS", fmt.Sprint(c.CleanupOlderThanDays), "must be at least 1"}
	}
	// Cleanup must never delete what R6 still offers as a rollback target.
	if c.CleanupOlderThanDays < c.RollbackWindowDays {
		return &Error{"REWIND_CLEANUP_OLDER_THAN_DAYS", fmt.Sprint(c.CleanupOlderThanDays),
			fmt.Sprintf("must be at least REWIND_ROLLBACK_WINDOW_DAYS (%d): cleanup would delete revisions still offered as rollback targets", c.RollbackWindowDays)}
	}
	if len(strings.Fields(c.CleanupCron)) != 5 && !strings.HasPrefix(c.CleanupCron, "@") {
		return &Error{"REWIND_CLEANUP_CRON", c.CleanupCron, "must be a five-field cron expression or @daily-style shorthand"}
	}
	for name, d := range map[string]time.Duration{"REWIND_DRAIN_TIMEOUT": c.DrainTimeout, "REWIND_STOP_TIMEOUT": c.StopTimeout,
		"REWIND_HEALTH_TIMEOUT": c.HealthTimeout, "REWIND_DOWNGRADE_TIMEOUT": c.DowngradeTimeout, "REWIND_STALL_TIMEOUT": c.StallTimeout, "REWIND_WORKER_STOP_TIMEOUT": c.WorkerStopTimeout,
		"REWIND_CLEANUP_HOST_WAIT": c.CleanupHostWait, "REWIND_HOST_STEP_BOUND": c.HostStepBound, "REWIND_SNAPSHOT_BOUND": c.SnapshotBound, "REWIND_PULL_BOUND": c.PullBound} {
		if d <= 0 {
			return &Error{name, d.String(), "must be a positive duration such as 30s or 1h"}
		}
	}
	// Named but missing is a mistake to report now, not at the first pull.
	if c.RegistryConfig != "" {
		if _, err := os.Stat(c.RegistryConfig); err != nil {
			return &Error{"REWIND_REGISTRY_CONFIG", c.RegistryConfig, "must name a docker config directory or its config.json: " + err.Error()}
		}
	}
	if c.HealthAttempts < 1 || c.HealthAttempts > 20 {
		return &Error{"REWIND_HEALTH_ATTEMPTS", fmt.Sprint(c.HealthAttempts), "must be between 1 and 20"}
	}
	if c.PreflightReuse < 0 || c.PreflightReuse > MaxPreflightReuse {
		return &Error{"REWIND_PREFLIGHT_REUSE", c.PreflightReuse.String(), "must be between 0 (always run the start checks) and " + MaxPreflightReuse.String()}
	}
	for _, cmd := range c.PreflightCommands() {
		if len(cmd) > 64 {
			return &Error{"REWIND_PREFLIGHT_CHECKS", c.PreflightChecks, "a check has more than 64 arguments"}
		}
	}
	if c.BundleMaxBytes < 1 || c.BundleMaxFiles < 1 {
		return &Error{"REWIND_BUNDLE_MAX_BYTES/REWIND_BUNDLE_MAX_FILES", fmt.Sprint(c.BundleMaxBytes, "/", c.BundleMaxFiles), "must be positive"}
	}
	if c.HTTPSessionKey != "" && len(c.HTTPSessionKey) < 16 {
		return &Error{"REWIND_HTTP_SESSION_KEY", "(hidden)", "must be at least 16 bytes"}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &Error{"REWIND_LOG_LEVEL", c.LogLevel, "must be debug, info, warn or error"}
	}
	if err := c.finishIdentity(); err != nil {
		return err
	}
	return c.finishSecurity()
}

// translate turns the library's field-named errors into variable-named ones.
func translate(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) || len(agg.Errors) == 0 {
		return err
	}
	var pe env.ParseError
	if errors.As(agg.Errors[0], &pe) {
		if f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name); ok {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			return &Error{name, os.Getenv(name), fmt.Sprintf("not a valid %s", pe.Type)}
		}
	}
	return err
}

// Variables lists every variable with its default, for the README and
// `rewind config`.
func Variables() [][2]string {
	t := reflect.TypeOf(Config{})
	out := make([][2]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		out = append(out, [2]string{name, t.Field(i).Tag.Get("envDefault")})
	}
	return out
}

// MaxPreflightReuse bounds REWIND_PREFLIGHT_REUSE: what the checks reach
// outside their container (secrets backends, connections, mounted paths)
// drifts, and a month-old pass says little about it.
const MaxPreflightReuse = 30 * 24 * time.Hour

// PreflightCommands splits REWIND_PREFLIGHT_CHECKS into commands, each
// split into arguments (no shell: an image need not have one).
func (c *Config) PreflightCommands() [][]string {
	var out [][]string
	for _, part := range strings.Split(c.PreflightChecks, ";") {
		if f := strings.Fields(part); len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}
