// Package postgres stores Gatehouse users, opaque access tokens, sessions
// and their refresh tokens, token revocations, signing keys, roles and who
// has them, API keys, linked OAuth accounts, the audit log, second factors
// (TOTP, recovery codes, passkeys, pending second steps), settings changed
// at run time and used nonces in PostgreSQL, through a pgx connection pool
// (github.com/jackc/pgx/v5).
//
// It has the same API and behaviour as package sqlite; the conformance
// suites of gatehousetest run unchanged against both. Timestamps are
// truncated to microseconds, which is what timestamptz keeps, so a value a
// write reports equals the value a later read gives back.
//
// The schema comes from migrations embedded in the binary; call
// [DB.Migrate] after [Open]. Several servers may migrate one database at
// once: an advisory lock serializes them.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse"
)

// DB is an open PostgreSQL connection pool. Its stores ([NewUserStore],
// [NewTokenStore], [NewSessionStore], [NewRevocations], [NewKeyStore],
// [NewRoleStore], [NewAPIKeyStore]) share its pool and its clock.
type DB struct {
	// Now is the clock behind every timestamp the stores write and every
	// expiry they check; the database server's clock is never used, so
	// tests can move time. Open sets it to time.Now (as does nil).
	Now func() time.Time

	pool *pgxpool.Pool
}

// Open connects to the database at url, a postgres:// URL or a keyword/value
// string as libpq accepts them (pool settings such as pool_max_conns
// included). It fails with a CodeUnavailable error when the server cannot
// be reached.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgconn's parse errors redact the password.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db := &DB{Now: time.Now, pool: pool}
	// The pool connects lazily; ping so a wrong URL fails here, at
	// startup, rather than at the first request.
	if err := db.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Ping checks that the server answers.
func (db *DB) Ping(ctx context.Context) error {
	c, err := db.acquire(ctx, "ping")
	if err != nil {
		return err
	}
	defer c.Release()
	if err := c.Ping(ctx); err != nil {
		return db.fail(ctx, "ping", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be returned.
// Stores made from db stop working.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// now reads the clock once per operation, in UTC and truncated to the
// microseconds timestamptz keeps.
func (db *DB) now() time.Time {
	now := db.Now
	if now == nil {
		now = time.Now
	}
	return now().UTC().Truncate(time.Microsecond)
}

// acquire takes a connection from the pool. Any failure here means the
// database cannot be reached (or the pool is closed or exhausted until the
// deadline), so it is always CodeUnavailable.
func (db *DB) acquire(ctx context.Context, op string) (*pgxpool.Conn, error) {
	c, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: fmt.Errorf("postgres: %s: %w", op, err)}
	}
	return c, nil
}

// fail turns a pgx error into a Gatehouse error. Codes come from SQLSTATEs
// and error types, never from message text.
func (db *DB) fail(ctx context.Context, op string, err error) error {
	wrapped := fmt.Errorf("postgres: %s: %w", op, err)
	if errors.Is(err, pgx.ErrNoRows) {
		return &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: wrapped}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return &gatehouse.Error{Code: gatehouse.CodeConflict, Err: wrapped}
		case pe.Code == "23503": // foreign_key_violation
			// Every foreign key points at the row a new row belongs to (a
			// user, a session) and cascades on delete, so a violation means
			// a row named an owner that does not exist.
			return &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: wrapped}
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "53300", // too_many_connections
			pe.Code == "57P01", // admin_shutdown
			pe.Code == "57P02", // crash_shutdown
			pe.Code == "57P03", // cannot_connect_now
			pe.Code == "57014": // query_canceled (statement_timeout or our ctx)
			return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: wrapped}
		}
		return wrapped
	}
	if unreachable(err) || ctx.Err() != nil {
		return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: wrapped}
	}
	return wrapped
}

// unreachable reports whether err means the server could not be talked to,
// as opposed to the server refusing the statement.
func unreachable(err error) bool {
	var (
		ce *pgconn.ConnectError
		ne net.Error
	)
	return errors.As(err, &ce) || errors.As(err, &ne) ||
		pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// A migration is one embedded file, NNNN_name.sql. The SQLite store has
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
		name := strings.TrimSuffix(path.Base(f), ".sql")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("postgres: migration %q: want NNNN_name.sql", f)
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
			return nil, fmt.Errorf("postgres: migrations %s and %s share a version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrationLock is the pg_advisory_xact_lock key that serializes
// migrations: the bytes "gatehous" read as a big-endian int64.
const migrationLock int64 = 0x6761746568_6f7573

const createMigrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL
)`

// Migrate applies the embedded migrations the database lacks, in order, each
// in its own transaction, and returns the names of those it applied (none
// when the schema is up to date). Each transaction first takes a
// transaction-level advisory lock, so servers migrating at once take turns,
// and a lock can never outlive its transaction on a pooled connection.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	c, err := db.acquire(ctx, "migrate")
	if err != nil {
		return nil, err
	}
	defer c.Release()
	var applied []string
	for _, m := range ms {
		ok, err := db.migrate(ctx, c, m)
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
func (db *DB) migrate(ctx context.Context, c *pgxpool.Conn, m migration) (bool, error) {
	op := "migrate " + m.name
	tx, err := c.Begin(ctx)
	if err != nil {
		return false, db.fail(ctx, op, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return false, db.fail(ctx, op, err)
	}
	// Created under the lock: concurrent CREATE TABLE IF NOT EXISTS can
	// still collide in the catalog.
	if _, err := tx.Exec(ctx, createMigrationsTable); err != nil {
		return false, db.fail(ctx, op, err)
	}
	var name string
	err = tx.QueryRow(ctx, `SELECT name FROM schema_migrations WHERE version = $1`, m.version).Scan(&name)
	switch {
	case err == nil && name == m.name:
		return false, nil
	case err == nil:
		return false, fmt.Errorf("postgres: %s: the database has %q as version %d", op, name, m.version)
	case !errors.Is(err, pgx.ErrNoRows):
		return false, db.fail(ctx, op, err)
	}
	// Without arguments pgx uses the simple protocol, which runs a file of
	// several statements in one go.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return false, db.fail(ctx, op, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, db.now()); err != nil {
		return false, db.fail(ctx, op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, db.fail(ctx, op, err)
	}
	return true, nil
}
