// Package postgrestest gives tests a migrated PostgreSQL database of their
// own, created on the server named by GATEHOUSE_TEST_POSTGRES_URL and
// dropped when the test ends.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/postgres"
)

// envURL names the environment variable holding the URL of a PostgreSQL
// server on which tests may create and drop databases, such as
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const envURL = "GATEHOUSE_TEST_POSTGRES_URL"

// New returns a migrated database of its own for tb. Without
// GATEHOUSE_TEST_POSTGRES_URL the test is skipped; with it, a server that
// cannot be reached fails the test, so a broken CI setup is not mistaken
// for a pass.
func New(tb testing.TB) *postgres.DB {
	tb.Helper()
	dbURL := create(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	tb.Cleanup(func() { _ = db.Close() }) // runs before the drop
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	return db
}

// URL is New for tests that open the database themselves, for example
// through a proxy: it returns the connection string (a URL if
// GATEHOUSE_TEST_POSTGRES_URL is one) of a migrated database of tb's own,
// dropped with any connection still open to it when the test ends. It
// skips and fails as New does.
func URL(tb testing.TB) string {
	tb.Helper()
	dbURL := create(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	return dbURL
}

// create makes an empty database with a random name on the server of
// GATEHOUSE_TEST_POSTGRES_URL, to be dropped when tb ends, and returns its
// URL.
func create(tb testing.TB) string {
	tb.Helper()
	admin := os.Getenv(envURL)
	if admin == "" {
		tb.Skip("set " + envURL + "=postgres://... to run PostgreSQL tests")
	}

	var b [8]byte
	rand.Read(b[:])
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("postgrestest: %s: %v", envURL, err)
	}

	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("postgrestest: %v", err)
	}
	tb.Cleanup(func() {
		// tb.Context is done by now; the drop gets its own deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("postgrestest: %v", err)
		}
	})
	return dbURL
}

// exec runs one statement on a connection of its own: CREATE and DROP
// DATABASE cannot run inside a transaction or on the database they drop.
func exec(ctx context.Context, connString, sql string) error {
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connString pointing at database name instead.
func withDatabase(connString, name string) (string, error) {
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			// url's errors quote the URL, password and all.
			return "", errors.New("not a valid URL")
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// A keyword/value string: a later dbname overrides an earlier one.
	return connString + " dbname=" + name, nil
}
