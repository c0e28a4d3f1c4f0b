package password_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/password"
)

func ExampleHasher() {
	ctx := context.Background()
	var h password.Hasher // argon2id with DefaultParams

	hash, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"))

	ok, rehash, err := h.Verify(ctx, "correct horse battery staple", hash)
	fmt.Println(ok, rehash == "", err)

	ok, _, err = h.Verify(ctx, "Tr0ub4dor&3", hash)
	fmt.Println(ok, err)

	// A hash with other parameters (here argon2-cffi's defaults, which
	// FastAPI Users writes) verifies, and comes with its replacement.
	old := "$argon2id$v=19$m=65536,t=3,p=4$MIIRqgvgQbgj220jfp0MPA$YfwJSVjtjSU0zzV/P3S9nnQ/USre2wvJMjfCIjrTQbg"
	ok, rehash, err = h.Verify(ctx, "correct horse battery staple", old)
	fmt.Println(ok, strings.HasPrefix(rehash, "$argon2id$v=19$m=19456,t=2,p=1$"), err)
	// Output:
	// true
	// true true <nil>
	// false <nil>
	// true true <nil>
}

func ExamplePolicy() {
	p := password.Policy{MinLength: 12, ServiceName: "Gatehouse"}
	alice := &gatehouse.User{Email: "alice@example.com"}
	for _, pw := range []string{
		"too short",
		"Password1234",
		"alice in wonderland",
		"Gatehouse2024",
		"correct horse battery staple",
	} {
		fmt.Println(p.ValidatePassword(context.Background(), pw, alice))
	}
	// Output:
	// gatehouse: INVALID_PASSWORD: Password should be at least 12 characters
	// gatehouse: INVALID_PASSWORD: Password is too common
	// gatehouse: INVALID_PASSWORD: Password should not be based on e-mail
	// gatehouse: INVALID_PASSWORD: Password should not be based on the service name
	// <nil>
}
