package jwt_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

func ExampleNew() {
	// A server makes its key once with jwt.GenerateKey("EdDSA") and keeps
	// it in a KeyStore. An HS256 secret, as here, lets FastAPI Users
	// services that hold the same secret verify the tokens.
	key, err := jwt.HMACKey([]byte("an example secret, 32 bytes or more"))
	if err != nil {
		log.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, err := jwt.New(jwt.Config{
		Key:      key,
		Lifetime: time.Hour,
		Now:      func() time.Time { return now }, // fixed for the example
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	id, _ := gatehouse.ParseID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
	tok, err := s.Write(ctx, &gatehouse.User{ID: id}, gatehouse.ID{})
	if err != nil {
		log.Fatal(err)
	}
	p, err := s.Read(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.UserID, tok.Expiry.Sub(now))

	_, err = s.Read(ctx, tok.AccessToken[:len(tok.AccessToken)-2])
	fmt.Println(gatehouse.ErrorCode(err))
	// Output:
	// 7c9e6679-7425-40de-944b-e07fc1f90ae7 1h0m0s
	// Unauthorized
}
