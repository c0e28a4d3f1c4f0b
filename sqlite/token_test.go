package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/sqlite/sqlitetest"
)

// usersFirst makes the suite's made-up user ids real before their tokens
// are stored: access_tokens references users by a foreign key.
type usersFirst struct {
	*sqlite.TokenStore
	users *sqlite.UserStore
}

func (s usersFirst) CreateToken(ctx context.Context, r gatehouse.TokenRecord) error {
	err := s.users.CreateUser(ctx, &gatehouse.User{ID: r.UserID, Email: r.UserID.String() + "@example.com", HashedPassword: "h"})
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		return err
	}
	return s.TokenStore.CreateToken(ctx, r)
}

func TestTokenStore(t *testing.T) {
	t.Parallel()
	gatehousetest.TestTokenStore(t, func(t *testing.T, now func() time.Time) gatehouse.TokenStore {
		db := sqlitetest.New(t)
		db.Now = now
		return usersFirst{sqlite.NewTokenStore(db), sqlite.NewUserStore(db)}
	})
}

// Tokens belong to users: the foreign key, which only holds when the
// writer connection has foreign_keys on, refuses a token of an unknown user
// and deletes a user's tokens with the user. ":memory:" has a connection
// set up of its own, so it is checked too.
func TestTokensFollowUsers(t *testing.T) {
	t.Parallel()
	for _, path := range []string{filepath.Join(t.TempDir(), "fk.db"), ":memory:"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ctx := t.Context()
			db, err := sqlite.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			users, tokens := sqlite.NewUserStore(db), sqlite.NewTokenStore(db)
			expires := time.Now().Add(time.Hour)

			err = tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "orphan", UserID: gatehouse.NewID(), ExpiresAt: expires})
			if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
				t.Errorf("CreateToken for a user that does not exist: %v, want a %q error", err, gatehouse.CodeNotFound)
			}

			u := &gatehouse.User{Email: "fk@example.com", HashedPassword: "h"}
			if err := users.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"t1", "t2"} {
				if err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: h, UserID: u.ID, ExpiresAt: expires}); err != nil {
					t.Fatal(err)
				}
			}
			if err := users.DeleteUser(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"t1", "t2"} {
				if _, err := tokens.FindToken(ctx, h); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
					t.Errorf("FindToken(%q) after DeleteUser: %v, want a %q error", h, err, gatehouse.CodeNotFound)
				}
			}
			if n, err := tokens.DeleteUserTokens(ctx, u.ID); err != nil || n != 0 {
				t.Errorf("DeleteUserTokens after DeleteUser = %d, %v; want 0, nil", n, err)
			}
		})
	}
}
