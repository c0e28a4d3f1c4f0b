package postgres

import "context"

// ExecForTest runs sql on the pool, for tests that must reset the schema.
func (db *DB) ExecForTest(ctx context.Context, sql string) error {
	_, err := db.pool.Exec(ctx, sql)
	return err
}

// ConnStringForTest returns what db was opened with, so that a test can
// open a second pool on the same database, as a second server would.
func (db *DB) ConnStringForTest() string { return db.pool.Config().ConnString() }
