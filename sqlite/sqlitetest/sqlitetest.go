// Package sqlitetest gives tests a migrated SQLite database of their own.
package sqlitetest

import (
	"path/filepath"
	"testing"

	"github.com/gatehouse/gatehouse/sqlite"
)

// New returns a migrated database in a file of tb's temporary directory,
// closed when the test ends. A file rather than ":memory:" gives the same
// WAL mode and connection pools as production.
func New(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(filepath.Join(tb.TempDir(), "gatehouse.db"))
	if err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("sqlitetest: %v", err)
		}
	})
	if _, err := db.Migrate(tb.Context()); err != nil {
		tb.Fatalf("sqlitetest: %v", err)
	}
	return db
}
