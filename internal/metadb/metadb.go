// Package metadb snapshots and restores an Airflow metadata database
// (PostgreSQL) around a Runtime downgrade (R16): `airflow db downgrade`
// erases what the newer version added, and a snapshot taken just before it
// is what makes that recoverable.
//
// It runs PostgreSQL's own tools, pg_dump in custom format and pg_restore,
// from the worker's machine. pg_dump refuses servers newer than itself, so
// the tool is chosen to match the server: the lowest installed major
// version that is at least the server's (Debian installs each under
// /usr/lib/postgresql/<major>/bin), and pg_restore from the same directory
// reads what that pg_dump wrote.
package metadb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rewindhq/rewind/internal/domain"
)

// FromSQLAlchemy turns Airflow's AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
// (postgresql+psycopg2://user:pass@host:5432/airflow) into a libpq URL, or
// "" when the database is not PostgreSQL.
func FromSQLAlchemy(conn string) string {
	scheme, rest, ok := strings.Cut(conn, "://")
	if !ok {
		return ""
	}
	base, _, _ := strings.Cut(scheme, "+")
	if base != "postgresql" && base != "postgres" {
		return ""
	}
	return "postgres://" + rest
}

// For names the metadata database of a deployment: its setting, else the
// connection its Airflow components are configured with. "" when neither
// names a PostgreSQL database.
func For(d domain.Deployment) string {
	if d.MetadataDatabaseURL == domain.MetadataSnapshotsOff {
		return ""
	}
	if d.MetadataDatabaseURL != "" {
		return FromSQLAlchemy(d.MetadataDatabaseURL)
	}
	return FromSQLAlchemy(d.Env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
}

// Check refuses a metadata database setting that is not a PostgreSQL URL.
func Check(setting string) error {
	if setting == "" || setting == domain.MetadataSnapshotsOff {
		return nil
	}
	u, err := url.Parse(FromSQLAlchemy(setting))
	if FromSQLAlchemy(setting) == "" || err != nil || u.Host == "" || strings.Trim(u.Path, "/") == "" {
		return domain.Errorf(domain.InvalidInput, "metadata database %q is not a PostgreSQL URL such as postgresql://airflow@db:5432/airflow", Redact(setting))
	}
	return nil
}

// userinfo is the user:password@ part of a URL, up to its last '@' before
// the host, so a password that itself holds '@' or '/' is covered too.
var userinfo = regexp.MustCompile(`://([^:/@]*):.*@`)

// Redact hides the password of a database URL, for messages and listings.
func Redact(s string) string {
	return userinfo.ReplaceAllString(s, "://${1}:xxxxx@")
}

// Snapshot is one dump of a metadata database.
type Snapshot struct {
	Path          string    `json:"path"`
	Bytes         int64     `json:"bytes"`
	ServerVersion string    `json:"serverVersion"`
	Tool          string    `json:"tool"` // the pg_dump that wrote it
	TakenAt       time.Time `json:"takenAt"`
}

// Dump writes a custom-format dump of the database to path. A complete
// dump already at path is kept (a retried step converges); a partial one
// never is, because the dump is written beside it and renamed.
func Dump(ctx context.Context, dbURL, path string) (Snapshot, error) {
	major, version, err := serverVersion(ctx, dbURL)
	if err != nil {
		return Snapshot{}, err
	}
	dir, err := toolDir(major)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Path: path, ServerVersion: version, Tool: filepath.Join(dir, "pg_dump")}
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		snap.Bytes, snap.TakenAt = fi.Size(), fi.ModTime().UTC()
		return snap, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return snap, err
	}
	tmp := path + ".partial"
	if err := run(ctx, dbURL, snap.Tool, "--format=custom", "--no-owner", "--file="+tmp); err != nil {
		os.Remove(tmp)
		return snap, err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return snap, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return snap, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return snap, err
	}
	snap.Bytes, snap.TakenAt = fi.Size(), fi.ModTime().UTC()
	return snap, nil
}

// Restore puts a dump back: every object the dump holds is dropped and
// recreated with its data, in one transaction, so a failed restore changes
// nothing. Objects created since the dump that it does not hold are left.
func Restore(ctx context.Context, dbURL, path string) error {
	if _, err := os.Stat(path); err != nil {
		return domain.Errorf(domain.NotFound, "metadata snapshot %s: %v", path, err)
	}
	major, _, err := serverVersion(ctx, dbURL)
	if err != nil {
		return err
	}
	dir, err := toolDir(major)
	if err != nil {
		return err
	}
	return run(ctx, dbURL, filepath.Join(dir, "pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error", path)
}

// run starts a PostgreSQL tool on the database. The password travels in
// PGPASSWORD, never on a command line another user could read.
func run(ctx context.Context, dbURL, tool string, args ...string) error {
	u, err := url.Parse(dbURL)
	if err != nil {
		return domain.Errorf(domain.InvalidInput, "metadata database URL is not valid: %v", errors.Unwrap(err))
	}
	env := os.Environ()
	if pw, ok := u.User.Password(); ok {
		env = append(env, "PGPASSWORD="+pw)
		u.User = url.User(u.User.Username())
	}
	cmd := exec.CommandContext(ctx, tool, append(args, "--dbname="+u.String())...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = msg[len(msg)-2000:]
		}
		return fmt.Errorf("%s on %s: %v: %s", filepath.Base(tool), Redact(dbURL), err, msg)
	}
	return nil
}

func serverVersion(ctx context.Context, dbURL string) (major int, version string, err error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dbURL)
	if err != nil {
		return 0, "", fmt.Errorf("metadata database %s: %w", Redact(dbURL), scrub(err, dbURL))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var num int
	if err := conn.QueryRow(cctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version')`).Scan(&num, &version); err != nil {
		return 0, "", fmt.Errorf("metadata database %s: %w", Redact(dbURL), err)
	}
	return num / 10000, version, nil
}

// scrub keeps a password out of an error a driver built from the URL.
func scrub(err error, dbURL string) error {
	u, perr := url.Parse(dbURL)
	if perr != nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" && strings.Contains(err.Error(), pw) {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// ToolDirs lists where PostgreSQL client tools are installed, by major
// version; REWIND_PG_BIN_DIRS (colon-separated) adds places to look.
var ToolDirs = func() []string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if extra := os.Getenv("REWIND_PG_BIN_DIRS"); extra != "" {
		dirs = append(dirs, filepath.SplitList(extra)...)
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	return dirs
}

var toolVersion = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// toolDir picks the directory whose pg_dump and pg_restore suit a server of
// the given major version.
func toolDir(server int) (string, error) {
	type cand struct {
		dir   string
		major int
	}
	var cands []cand
	var seen []string
	for _, d := range ToolDirs() {
		out, err := exec.Command(filepath.Join(d, "pg_dump"), "--version").Output()
		if err != nil {
			continue
		}
		m := toolVersion.FindStringSubmatch(string(out))
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[1])
		seen = append(seen, fmt.Sprintf("%d (%s)", major, d))
		if _, err := os.Stat(filepath.Join(d, "pg_restore")); err == nil && major >= server {
			cands = append(cands, cand{d, major})
		}
	}
	if len(cands) == 0 {
		return "", fmt.Errorf("no pg_dump/pg_restore of PostgreSQL %d or newer on this worker (found: %s); install postgresql-client-%d",
			server, strings.Join(append(seen, "none")[:max(1, len(seen))], ", "), server)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].major < cands[j].major })
	return cands[0].dir, nil
}
