package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The stand-in's metadata database, when AIRFLOW__DATABASE__SQL_ALCHEMY_CONN
// names a PostgreSQL one, plays the one thing rewind must get right about
// it: a newer Airflow adds tables, and `airflow db downgrade` drops them.
//
//   - A scheduler records its Airflow version in rewind_test_features and
//     creates that version's table, feature_<version>, adding a row each
//     time it starts.
//   - `db downgrade --to-version V` records its run in
//     rewind_test_downgrade_runs and drops the feature tables of every
//     version newer than V: data only the newer version had is gone, as the
//     seeds say it is on a real downgrade, and sets the schema version
//     (schema.go) to V.

// metadataURL is the pgx form of the SQLAlchemy URL, or "" when the
// metadata database is not PostgreSQL.
func metadataURL() string {
	u := os.Getenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return ""
	}
	base, _, _ := strings.Cut(scheme, "+") // postgresql+psycopg2
	if base != "postgresql" && base != "postgres" {
		return ""
	}
	return "postgres://" + rest
}

func connect() (*pgx.Conn, context.Context, context.CancelFunc, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	conn, err := pgx.Connect(ctx, metadataURL())
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return conn, ctx, cancel, nil
}

func featureTable(version string) string {
	return "feature_" + strings.NewReplacer(".", "_", "-", "_").Replace(version)
}

// recordFeature is what a scheduler of this Airflow version writes at start.
func recordFeature() error {
	if metadataURL() == "" {
		return nil
	}
	conn, ctx, cancel, err := connect()
	if err != nil {
		return err
	}
	defer cancel()
	defer conn.Close(ctx)
	v := env("AIRFLOW_VERSION", "unknown")
	table := featureTable(v)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Two schedulers start at once during a swap; the lock keeps their
		// CREATE TABLEs from racing.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(73911)`); err != nil {
			return err
		}
		for _, q := range []string{
			`CREATE TABLE IF NOT EXISTS rewind_test_features (airflow_version text PRIMARY KEY, table_name text NOT NULL)`,
			`CREATE TABLE IF NOT EXISTS ` + pgx.Identifier{table}.Sanitize() + ` (id bigserial PRIMARY KEY, note text NOT NULL)`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO rewind_test_features VALUES ($1, $2) ON CONFLICT DO NOTHING`, v, table); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (note) VALUES ($1)`,
			fmt.Sprintf("scheduler %s started at %s", v, time.Now().UTC().Format(time.RFC3339Nano)))
		return err
	})
}

// dbDowngrade is `airflow db downgrade --to-version V [--yes]`.
func dbDowngrade(args []string) int {
	to := ""
	for i, a := range args {
		if a == "--to-version" && i+1 < len(args) {
			to = args[i+1]
		} else if v, ok := strings.CutPrefix(a, "--to-version="); ok {
			to = v
		}
	}
	from := env("AIRFLOW_VERSION", "unknown")
	logf("db downgrade: runtime=%s airflow=%s args=%q", env("ASTRONOMER_RUNTIME_VERSION", "unknown"), from, args)
	if to == "" {
		fmt.Fprintln(os.Stderr, "airflow db downgrade: --to-version is required")
		return 2
	}
	if s, err := strconv.ParseFloat(os.Getenv("REWIND_TEST_DOWNGRADE_SECONDS"), 64); err == nil && s > 0 {
		logf("db downgrade: migrating (%gs)", s)
		time.Sleep(time.Duration(s * float64(time.Second)))
	}
	if metadataURL() == "" {
		logf("db downgrade: no PostgreSQL metadata database configured (test runtime: nothing to do)")
		logf("db downgrade: done")
		return 0
	}
	conn, ctx, cancel, err := connect()
	if err != nil {
		fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
		return 1
	}
	defer cancel()
	defer conn.Close(ctx)
	var run int64
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS rewind_test_downgrade_runs (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
			from_version text NOT NULL, to_version text NOT NULL, finished_at timestamptz)`,
		`CREATE TABLE IF NOT EXISTS rewind_test_features (airflow_version text PRIMARY KEY, table_name text NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
			return 1
		}
	}
	if err := conn.QueryRow(ctx, `INSERT INTO rewind_test_downgrade_runs (from_version, to_version) VALUES ($1, $2) RETURNING id`, from, to).Scan(&run); err != nil {
		fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
		return 1
	}
	rows, err := conn.Query(ctx, `SELECT airflow_version, table_name FROM rewind_test_features`)
	if err != nil {
		fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
		return 1
	}
	type feature struct{ version, table string }
	var drop []feature
	for rows.Next() {
		var f feature
		if err := rows.Scan(&f.version, &f.table); err != nil {
			fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
			return 1
		}
		if newer(f.version, to) {
			drop = append(drop, f)
		}
	}
	rows.Close()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, f := range drop {
			logf("db downgrade: dropping %s (Airflow %s is newer than %s)", f.table, f.version, to)
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{f.table}.Sanitize()); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM rewind_test_features WHERE airflow_version = $1`, f.version); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE rewind_test_downgrade_runs SET finished_at = now() WHERE id = $1`, run)
		return err
	})
	if err == nil {
		// The schema is now the older version's (schema.go).
		err = setHead(to)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "db downgrade: %v\n", err)
		return 1
	}
	logf("db downgrade: done")
	return 0
}

// newer compares dotted versions numerically: 3.0.2 is newer than 2.9.3.
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y int
		if i < len(pa) {
			x, _ = strconv.Atoi(pa[i])
		}
		if i < len(pb) {
			y, _ = strconv.Atoi(pb[i])
		}
		if x != y {
			return x > y
		}
	}
	return false
}

// heartbeats is what a real scheduler does all along: it writes its job
// heartbeat every scheduler_heartbeat_sec (default 5) until it stops. Here
// each heartbeat is a row of rewind_test_heartbeats, so a test can tell
// which writes a metadata restore kept: rows are never updated, and what
// the scheduler wrote before it stopped must survive a snapshot's restore.
func heartbeats(stop <-chan struct{}) {
	if metadataURL() == "" {
		return
	}
	every := 5 * time.Second
	if s, err := strconv.ParseFloat(os.Getenv("AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC"), 64); err == nil && s > 0 {
		every = time.Duration(s * float64(time.Second))
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		conn, ctx, cancel, err := connect()
		if err == nil {
			_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS rewind_test_heartbeats (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), airflow_version text NOT NULL)`)
			if err == nil {
				_, err = conn.Exec(ctx, `INSERT INTO rewind_test_heartbeats (airflow_version) VALUES ($1)`, env("AIRFLOW_VERSION", "unknown"))
			}
			conn.Close(ctx)
			cancel()
		}
		if err != nil {
			logf("scheduler: heartbeat: %v", err)
		}
	}
}
