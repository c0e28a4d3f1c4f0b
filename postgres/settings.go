package postgres

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

var _ gatehouse.SettingStore = (*SettingStore)(nil)

// SettingStore keeps the settings that superusers change at run time in
// the settings table, one row per key ever set. Every call reads or writes
// the table, with no cache, so every server sharing the database sees a
// change at its next call.
//
// Keys and values must be UTF-8 text without NUL bytes, which is all that
// text can hold; the store checks before asking the server, so that such
// a call fails as it does in package sqlite rather than with an error of
// the server's.
type SettingStore struct {
	db *DB
}

// NewSettingStore returns a SettingStore on db.
func NewSettingStore(db *DB) *SettingStore { return &SettingStore{db: db} }

// Setting implements gatehouse.SettingStore: a key never set is
// CodeNotFound, and so is a key that is not text, which cannot have been.
func (s *SettingStore) Setting(ctx context.Context, key string) (string, error) {
	const op = "setting"
	if !isText(key) {
		return "", gatehouse.Errorf(gatehouse.CodeNotFound, "postgres: %s: key %q is not text", op, key)
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return "", err
	}
	defer c.Release()
	var value string
	if err := c.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&value); err != nil {
		return "", s.db.fail(ctx, op, err)
	}
	return value, nil
}

// SetSetting implements gatehouse.SettingStore with one upsert, so of
// concurrent calls for one key the last to commit wins, and records the
// DB's clock as the time of the change. An empty value is a value like any
// other, not an unset key.
func (s *SettingStore) SetSetting(ctx context.Context, key, value string) error {
	const op = "set setting"
	if !isText(key) || !isText(value) {
		return fmt.Errorf("postgres: %s: key %q or its value is not UTF-8 text without NUL", op, key)
	}
	c, err := s.db.acquire(ctx, op)
	if err != nil {
		return err
	}
	defer c.Release()
	_, err = c.Exec(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, value, s.db.now())
	if err != nil {
		return s.db.fail(ctx, op, err)
	}
	return nil
}

// isText reports whether s fits in a text column: valid UTF-8 without NUL
// bytes.
func isText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
