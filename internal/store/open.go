// Package store keeps deployments, revisions and grants in SQLite (the
// embedded default) or PostgreSQL (several workers), through one set of SQL
// statements and embedded migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is safe for concurrent use by many goroutines and processes.
type Store struct {
	db      *sql.DB
	dialect goose.Dialect
}

// Open connects to url (sqlite:///path or postgres://…) and brings the
// schema up to date.
func Open(ctx context.Context, url string) (*Store, error) {
	var (
		s   = &Store{}
		err error
	)
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		// WAL lets the CLI read while the worker writes; immediate
		// transactions take the write lock up front so two writers queue on
		// the busy timeout instead of failing on a lock upgrade.
		dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		s.db, err = sql.Open("sqlite", dsn)
		s.dialect = goose.DialectSQLite3
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		s.db, err = sql.Open("pgx", url)
		s.dialect = goose.DialectPostgres
	default:
		return nil, fmt.Errorf("database url %q: want sqlite:// or postgres://", url)
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("database %s: %w", redact(url), err)
	}
	if err := s.migrate(ctx, url); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrating %s: %w", redact(url), err)
	}
	return s, nil
}

func (s *Store) Close() error { return s.db.Close() }

// DB exposes the handle for tests and benchmarks that inspect query plans.
func (s *Store) DB() *sql.DB { return s.db }

// Dialect is "sqlite3" or "postgres".
func (s *Store) Dialect() string { return string(s.dialect) }

func (s *Store) migrate(ctx context.Context, url string) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	if s.dialect == goose.DialectPostgres {
		// Several workers may start at once against one database.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		// The CLI and the worker may start at once against one file.
		unlock, err := flock(strings.TrimPrefix(url, "sqlite://") + ".migrate.lock")
		if err != nil {
			return err
		}
		defer unlock()
	}
	p, err := goose.NewProvider(s.dialect, s.db, sub, opts...)
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func redact(url string) string {
	if at := strings.LastIndex(url, "@"); at >= 0 {
		if scheme := strings.Index(url, "://"); scheme >= 0 && scheme < at {
			return url[:scheme+3] + "…" + url[at:]
		}
	}
	return url
}
