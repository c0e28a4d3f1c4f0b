package mfa_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/sqlite"
	"github.com/gatehouse/gatehouse/webauthntest"
)

// A user adds a passkey, then logs in with it alone. webauthntest plays
// the browser's navigator.credentials and the authenticator; a web page
// passes Ceremony.Options to the browser and posts its answer back with
// Ceremony.State.
func ExampleService_BeginPasskeyLogin() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "gatehouse-passkey-example")
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

	store := sqlite.NewMFAStore(db)
	s, err := mfa.New(mfa.Config{
		TOTP: store, RecoveryCodes: store, Challenges: store, Passkeys: store,
		Nonces: sqlite.NewNonceStore(db),
		// A real server seals with AES-GCM under a key of its own.
		Seal: func(b []byte) ([]byte, error) { return b, nil },
		Open: func(b []byte) ([]byte, error) { return b, nil },
		RPID: "example.com", RPOrigins: []string{"https://example.com"},
	})
	if err != nil {
		log.Fatal(err)
	}
	browser := webauthntest.New("https://example.com")

	// Adding a passkey, signed in.
	c, err := s.BeginPasskey(ctx, u)
	if err != nil {
		log.Fatal(err)
	}
	answer, err := browser.Create(c.Options)
	if err != nil {
		log.Fatal(err)
	}
	p, codes, err := s.FinishPasskey(ctx, u, c.State, "laptop", answer)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("added:", p.Name, "with", len(codes), "recovery codes")

	// Logging in with it alone: no user is named until the answer.
	c, err = s.BeginPasskeyLogin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	answer, err = browser.Get(c.Options)
	if err != nil {
		log.Fatal(err)
	}
	id, err := s.FinishPasskeyLogin(ctx, c.State, answer)
	fmt.Println("logged in:", err == nil && id == u.ID)
	_, err = s.FinishPasskeyLogin(ctx, c.State, answer)
	fmt.Println("again:", gatehouse.ErrorCode(err))
	// Output:
	// added: laptop with 10 recovery codes
	// logged in: true
	// again: MFA_BAD_TOKEN
}
