// Package store keeps deployments, revisions and grants in SQLite (the
// embedded default) or PostgreSQL (several workers), through one set of SQL
// statements and embedded migrations.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
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

	"github.com/rewindhq/rewind/internal/redact"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is safe for concurrent use by many goroutines and processes.
type Store struct {
	db      *sql.DB
	dialect goose.Dialect
}

// Open connects to url (sqlite:///path or postgres://…) and brings the
// schema up to date. Its errors never carry the URL's password, whatever
// the driver put in them.
func Open(ctx context.Context, url string) (*Store, error) {
	s, err := openStore(ctx, url)
	if err != nil {
		return nil, errors.New(redact.Scrub(err.Error(), redact.Secrets(url)))
	}
	return s, nil
}

func openStore(ctx context.Context, url string) (*Store, error) {
	var (
		s   = &Store{}
		err error
	)
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		path := strings.TrimPrefix(url, "sqlite://")
		if err := createPrivate(path); err != nil {
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
		return nil, fmt.Errorf("database url %q: want sqlite:// or postgres://", redact.URL(url))
	}
	if err != nil {
		return nil, err
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("database %s: %w", redact.URL(url), err)
	}
	if err := s.migrate(ctx, url); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("migrating %s: %w", redact.URL(url), err)
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

// createPrivate makes a new SQLite database's directory (0700) and file
// (0600) before the driver does, since the driver would make the file
// world-readable under the usual umask; SQLite gives its -wal and -shm
// files the database file's mode. Existing directories and files keep
// their modes: an operator may share them with a group on purpose.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
