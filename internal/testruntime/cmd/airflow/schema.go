package main

import (
	"errors"
	"fmt"
	"os"

	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// The stand-in's schema version, kept in the metadata database the way
// Airflow keeps its Alembic head: table alembic_version, one row, whose
// version_num here is the Airflow version the schema belongs to.
//
//   - `airflow db migrate` raises it to this image's Airflow version (and
//     creates it on an empty database), recording each run in
//     rewind_test_migrate_runs. REWIND_TEST_MIGRATE_SECONDS makes it slow;
//     REWIND_TEST_FAIL_MIGRATE makes it fail half-way: it leaves the head at
//     "<version>-partial", a schema no version runs on, and exits 1.
//   - `airflow db downgrade --to-version V` lowers it to V (db.go).
//   - `airflow db check-migrations [--migration-wait-timeout N]` waits up to
//     N seconds (default 60) for the head to be this image's, then fails
//     with Airflow's own TimeoutError message.
//   - Every long-running component runs that check before it starts, as
//     the Helm chart's wait-for-airflow-migrations init container holds
//     each of them (REWIND_TEST_MIGRATION_WAIT seconds, default 60): none
//     ever runs on a schema that is not its own.
//
// Without a PostgreSQL metadata database there is no schema to keep, and
// none of this applies.

const headTable = "alembic_version"

// schemaHead reads the head; "" on an empty database.
func schemaHead() (string, error) {
	conn, ctx, cancel, err := connect()
	if err != nil {
		return "", err
	}
	defer cancel()
	defer conn.Close(ctx)
	var head string
	err = conn.QueryRow(ctx, `SELECT version_num FROM `+headTable+` LIMIT 1`).Scan(&head)
	if err != nil && (errors.Is(err, pgx.ErrNoRows) || strings.Contains(err.Error(), "does not exist")) {
		return "", nil
	}
	return head, err
}

// setHead makes head the schema's version.
func setHead(head string) error {
	conn, ctx, cancel, err := connect()
	if err != nil {
		return err
	}
	defer cancel()
	defer conn.Close(ctx)
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			`SELECT pg_advisory_xact_lock(73912)`,
			`CREATE TABLE IF NOT EXISTS ` + headTable + ` (version_num varchar(32) NOT NULL PRIMARY KEY)`,
			`DELETE FROM ` + headTable,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+headTable+` VALUES ($1)`, head)
		return err
	})
}

func heads(h string) string {
	if h == "" {
		return "set()"
	}
	return "{'" + h + "'}"
}

// checkMigrations is `airflow db check-migrations`: Airflow's loop, one
// second a tick, and its TimeoutError when the heads still differ.
func checkMigrations(timeout int) error {
	want := env("AIRFLOW_VERSION", "unknown")
	for ticker := 0; ; ticker++ {
		head, err := schemaHead()
		if err == nil && head == want {
			return nil
		}
		if ticker >= timeout {
			if err != nil {
				return err
			}
			return fmt.Errorf("TimeoutError: There are still unapplied migrations after %d seconds. Migration Head(s) in DB: %s | Migration Head(s) in Source Code: %s",
				ticker, heads(head), heads(want))
		}
		time.Sleep(time.Second)
		logf("Waiting for migrations... %d second(s)", ticker+1)
	}
}

func dbCheckMigrations(args []string) int {
	timeout := 60
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--migration-wait-timeout=")
		if !ok && (a == "--migration-wait-timeout" || a == "-t") && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				fmt.Fprintf(os.Stderr, "airflow db check-migrations: bad timeout %q\n", v)
				return 2
			}
			timeout = n
		}
	}
	if metadataURL() == "" {
		logf("db check-migrations: no PostgreSQL metadata database configured (test runtime: nothing to check)")
		return 0
	}
	if err := checkMigrations(timeout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logf("db check-migrations: the schema is at %s", env("AIRFLOW_VERSION", "unknown"))
	return 0
}

// waitForMigrations is what holds every long-running component until the
// schema is its own.
func waitForMigrations(role string) error {
	if metadataURL() == "" {
		return nil
	}
	timeout := 60
	if n, err := strconv.Atoi(os.Getenv("REWIND_TEST_MIGRATION_WAIT")); err == nil && n >= 0 {
		timeout = n
	}
	logf("%s: waiting for migrations (airflow db check-migrations --migration-wait-timeout %d)", role, timeout)
	return checkMigrations(timeout)
}

// dbMigrate is `airflow db migrate`.
func dbMigrate(args []string) int {
	to := env("AIRFLOW_VERSION", "unknown")
	logf("db migrate: airflow=%s args=%q", to, args)
	if s, err := strconv.ParseFloat(os.Getenv("REWIND_TEST_MIGRATE_SECONDS"), 64); err == nil && s > 0 {
		logf("db migrate: migrating (%gs)", s)
		time.Sleep(time.Duration(s * float64(time.Second)))
	}
	if metadataURL() == "" {
		logf("db migrate: no PostgreSQL metadata database configured (test runtime: nothing to do)")
		logf("db migrate: done")
		return 0
	}
	from, err := schemaHead()
	if err != nil {
		fmt.Fprintf(os.Stderr, "db migrate: %v\n", err)
		return 1
	}
	if err := recordMigrateRun(from, to); err != nil {
		fmt.Fprintf(os.Stderr, "db migrate: %v\n", err)
		return 1
	}
	if from != "" && from != to && !newer(to, from) {
		// Alembic cannot find the database's head among this version's
		// migrations: a newer schema.
		fmt.Fprintf(os.Stderr, "alembic.util.exc.CommandError: Can't locate revision identified by '%s'\n", from)
		return 1
	}
	if os.Getenv("REWIND_TEST_FAIL_MIGRATE") != "" {
		_ = setHead(to + "-partial")
		fmt.Fprintf(os.Stderr, "db migrate: sqlalchemy.exc.ProgrammingError: migration to %s failed half-way (REWIND_TEST_FAIL_MIGRATE is set)\n", to)
		return 1
	}
	if err := setHead(to); err != nil {
		fmt.Fprintf(os.Stderr, "db migrate: %v\n", err)
		return 1
	}
	logf("db migrate: schema %s → %s", orNone(from), to)
	logf("db migrate: done")
	return 0
}

func recordMigrateRun(from, to string) error {
	conn, ctx, cancel, err := connect()
	if err != nil {
		return err
	}
	defer cancel()
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE IF NOT EXISTS rewind_test_migrate_runs (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
			from_version text NOT NULL, to_version text NOT NULL)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, `INSERT INTO rewind_test_migrate_runs (from_version, to_version) VALUES ($1, $2)`, from, to)
	return err
}

func orNone(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}
