package mfa_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/totp"
)

// A user adds an authenticator app; a later login then takes a second
// step: the password step's Challenge, completed with a code.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatehouse-mfa-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := sqlite.Open(filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	u := &gatehouse.User{Email: "ann@example.com", HashedPassword: "h", IsActive: true}
	if err := sqlite.NewUserStore(db).CreateUser(ctx, u); err != nil {
		log.Fatal(err)
	}

	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := sqlite.NewMFAStore(db)
	s, err := mfa.New(mfa.Config{
		TOTP: store, RecoveryCodes: store, Challenges: store,
		// A real server seals with AES-GCM under a key of its own.
		Seal: func(b []byte) ([]byte, error) { return b, nil },
		Open: func(b []byte) ([]byte, error) { return b, nil },
		Now:  func() time.Time { return now },
	})
	if err != nil {
		log.Fatal(err)
	}

	// Enrolment: the app scans e.URI; its first code turns it on.
	e, err := s.BeginTOTP(ctx, u)
	if err != nil {
		log.Fatal(err)
	}
	secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	codes, err := s.ConfirmTOTP(ctx, u.ID, totp.Code(secret, totp.Step(now)))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovery codes:", len(codes))

	// A login, 30 seconds later.
	now = now.Add(30 * time.Second)
	token, err := s.Challenge(ctx, u.ID, "jwt")
	if err != nil {
		log.Fatal(err)
	}
	c, err := s.Complete(ctx, token, totp.Code(secret, totp.Step(now)))
	fmt.Println("second step:", err == nil && c.UserID == u.ID)
	_, err = s.Complete(ctx, token, codes[0])
	fmt.Println("token again:", gatehouse.ErrorCode(err))
	// Output:
	// recovery codes: 10
	// second step: true
	// token again: MFA_BAD_TOKEN
}
