package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/gatehousetest"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/postgres/postgrestest"
)

// usersFirst makes the suite's made-up user ids real before their tokens
// are stored: access_tokens references users by a foreign key.
type usersFirst struct {
	*postgres.TokenStore
	users *postgres.UserStore
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
		db := postgrestest.New(t)
		db.Now = now
		return usersFirst{postgres.NewTokenStore(db), postgres.NewUserStore(db)}
	})
}

// Tokens belong to users: the foreign key refuses a token of an unknown
// user and deletes a user's tokens with the user.
func TestTokensFollowUsers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := postgrestest.New(t)
	users, tokens := postgres.NewUserStore(db), postgres.NewTokenStore(db)
	expires := time.Now().Add(time.Hour)

	err := tokens.CreateToken(ctx, gatehouse.TokenRecord{Hash: "orphan", UserID: gatehouse.NewID(), ExpiresAt: expires})
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
}
