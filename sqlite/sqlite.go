// Package sqlite stores Gatehouse users, opaque access tokens, sessions and
// their refresh tokens, token revocations, signing keys, roles and who has
// them, API keys, linked OAuth accounts, the audit log, second factors
// (TOTP, recovery codes, passkeys, pending second steps), settings changed
// at run time and used nonces in an SQLite database, through the pure-Go
// driver modernc.org/sqlite (no cgo).
//
// A DB holds two connection pools on one file. Every write goes through a
// single connection whose transactions begin IMMEDIATE: SQLite allows one
// writer at a time anyway, and queueing writers in Go instead of in SQLite's
// lock means concurrent requests wait their turn rather than fail with
// SQLITE_BUSY. Reads use a separate pool and, thanks to WAL mode, never wait
// for the writer. Other processes on the same file are kept in line by the
// 5 s busy timeout.
//
// Times are stored as unix microseconds in UTC: PostgreSQL keeps the same
// precision, so both stores give back identical values, and unlike
// nanoseconds the range does not end in 2262.
//
// The schema comes from migrations embedded in the binary; call
// [DB.Migrate] after [Open].
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse/gatehouse"
)

// DB is an open SQLite database. Its stores ([NewUserStore],
// [NewTokenStore], [NewSessionStore], [NewRevocations], [NewKeyStore],
// [NewRoleStore], [NewAPIKeyStore]) share its connections and its clock.
type DB struct {
	// Now is the clock behind every timestamp the stores write and every
	// expiry they check. Open sets it to time.Now (as does nil); tests
	// replace it before using the stores. Values are converted to UTC.
	Now func() time.Time

	write *sql.DB // one connection: the only writer
	read  *sql.DB // readers; the same pool as write for ":memory:"

	// closed tells fail that "sql: database is closed", which database/sql
	// offers no sentinel for, means unavailable: during a graceful shutdown
	// a late request should get a 503, not a 500.
	closed atomic.Bool
}

// Open opens (creating if needed) the SQLite database at path. The special
// path ":memory:" gives a private in-memory database on a single connection,
// useful for throwaway programs; tests should prefer a file in a temporary
// directory, which behaves like production.
func Open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	db := &DB{Now: time.Now}
	if path == ":memory:" {
		// Each connection to ":memory:" is its own database, so there must
		// be exactly one, and it must never be closed while idle.
		w, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		w.SetConnMaxIdleTime(0)
		db.write, db.read = w, w
	} else {
		w, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		db.write = w
		// The writer connects first so the file exists and is in WAL mode
		// before any reader opens it.
		if err := connect(w); err != nil {
			_ = w.Close() // the open error is the one to report
			return nil, db.fail(context.Background(), "open", err)
		}
		r, err := sql.Open("sqlite", dsn(path, true))
		if err != nil {
			_ = w.Close() // the open error is the one to report
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		r.SetMaxOpenConns(n)
		r.SetMaxIdleConns(n)
		db.read = r
	}
	if err := db.Ping(context.Background()); err != nil {
		_ = db.Close() // the ping error is the one to report
		return nil, err
	}
	return db, nil
}

// connect makes a pool's first connection. Switching a new file to WAL
// needs an exclusive lock, and when several processes create the same
// database at once SQLite can answer SQLITE_BUSY without waiting on the
// busy timeout; a few short retries ride that out.
func connect(pool *sql.DB) error {
	var err error
	for attempt := range 10 {
		if err = pool.PingContext(context.Background()); !isBusy(err) {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	return err
}

func isBusy(err error) bool {
	var se *msqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

// dsn builds the driver's data source name. A "file:" URI with an escaped
// path lets any file name through, even one containing '?' or '#'.
func dsn(path string, reader bool) string {
	// Pragmas every connection gets. busy_timeout only matters when another
	// process holds the write lock; foreign_keys makes ON DELETE CASCADE
	// work; synchronous NORMAL is durable enough in WAL mode (a power cut
	// may lose the last commits, never corrupt the file) and much faster
	// than FULL.
	q := url.Values{"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"}}
	if reader {
		// A write on a reader would take the lock behind the writer's back
		// and could fail with SQLITE_BUSY; query_only turns that bug into a
		// clear error.
		q.Add("_pragma", "query_only(1)")
	} else {
		// Taking the write lock at BEGIN, not at the first write, means a
		// transaction never has to upgrade a read lock, which is what
		// deadlocks into SQLITE_BUSY despite the busy timeout.
		q.Set("_txlock", "immediate")
	}
	if path == ":memory:" {
		return "file::memory:?" + q.Encode()
	}
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" {
		p = "/" + p // file:///C:/dir/x.db
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}
	if !filepath.IsAbs(path) {
		u.Opaque = (&url.URL{Path: p}).EscapedPath() // file:rel/x.db, relative to the working directory
	}
	return u.String()
}

// Ping checks that the database can be read and written to.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	if err := db.read.PingContext(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	return nil
}

// Close closes the database. Stores made from it stop working.
func (db *DB) Close() error {
	db.closed.Store(true)
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// now reads the clock once per operation, so one call writes one instant.
// Microseconds are all PostgreSQL keeps; truncating here makes both stores
// return the same value, and makes the value returned by a write equal to
// the one a later read gives back.
func (db *DB) now() time.Time {
	now := db.Now
	if now == nil {
		now = time.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// micros and fromMicros convert between time.Time and the stored unix
// microseconds.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// fail turns a driver error into a Gatehouse error. Codes come from the
// driver's result codes, never from message text, which changes between
// driver versions.
// execOne runs a write that must change a row: changing none is
// CodeNotFound (an unknown id, another user's row, a spent code).
func (db *DB) execOne(ctx context.Context, op, query string, args ...any) error {
	res, err := db.write.ExecContext(ctx, query, args...)
	if err != nil {
		return db.fail(ctx, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return db.fail(ctx, op, err)
	}
	if n == 0 {
		return db.fail(ctx, op, sql.ErrNoRows)
	}
	return nil
}

func (db *DB) fail(ctx context.Context, op string, err error) error {
	wrapped := fmt.Errorf("sqlite: %s: %w", op, err)
	if errors.Is(err, sql.ErrNoRows) {
		return &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: wrapped}
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &gatehouse.Error{Code: gatehouse.CodeConflict, Err: wrapped}
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// Every foreign key points at the row a new row belongs to (a
			// user, a session) and cascades on delete, so a violation means
			// a row named an owner that does not exist.
			return &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: wrapped}
		}
		// Primary codes are the low byte of extended ones.
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN:
			return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: wrapped}
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) ||
		ctx.Err() != nil || db.closed.Load() {
		// A cancelled query comes back as SQLITE_INTERRUPT; ctx.Err()
		// catches that case too.
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: wrapped}
	}
	return wrapped
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration is one embedded file, NNNN_name.sql. The PostgreSQL store has
// files of the same names: both engines share one history.
type migration struct {
	version int
	name    string // file name without ".sql", such as "0001_users"
	sql     string
}

func migrations() ([]migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("sqlite: migration %q: want NNNN_name.sql", f)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlite: migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	name       TEXT    NOT NULL,
	applied_at INTEGER NOT NULL
) STRICT`

// Migrate applies the embedded migrations the database lacks, in order, each
// in its own transaction, and returns the names of those it applied (none
// when the schema is up to date). Several processes may migrate the same
// file at once: the write lock taken at BEGIN serializes them and each
// migration is applied once.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		ok, err := db.migrate(ctx, m)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.name)
		}
	}
	return applied, nil
}

// migrate applies m unless the database records it already.
func (db *DB) migrate(ctx context.Context, m migration) (bool, error) {
	op := "migrate " + m.name
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, db.fail(ctx, op, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, createMigrationsTable); err != nil {
		return false, db.fail(ctx, op, err)
	}
	var name string
	err = tx.QueryRowContext(ctx, `SELECT name FROM schema_migrations WHERE version = ?`, m.version).Scan(&name)
	switch {
	case err == nil && name == m.name:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("sqlite: %s: the database has %q as version %d", op, name, m.version)
	case !errors.Is(err, sql.ErrNoRows):
		return false, db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, db.fail(ctx, op, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, micros(db.now())); err != nil {
		return false, db.fail(ctx, op, err)
	}
	if err := tx.Commit(); err != nil {
		return false, db.fail(ctx, op, err)
	}
	return true, nil
}
