package gatehouse

import "context"

// Hasher hashes passwords and checks them.
type Hasher interface {
	// Hash returns the encoded hash of password (a PHC string for argon2id).
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches hash. When it does and hash
	// uses an old algorithm or old parameters, rehash is a new hash to store
	// in its place; otherwise rehash is "". A hash no algorithm recognizes
	// is an error.
	Verify(ctx context.Context, password, hash string) (ok bool, rehash string, err error)
}

// PasswordValidator decides whether a password is acceptable for a user.
// The user is the one being created or updated; its ID is zero during
// registration. A rejection is InvalidPassword(reason); other errors mean
// the check itself failed.
type PasswordValidator interface {
	ValidatePassword(ctx context.Context, password string, u *User) error
}

// PasswordValidatorFunc adapts a function to PasswordValidator.
type PasswordValidatorFunc func(ctx context.Context, password string, u *User) error

// ValidatePassword calls f.
func (f PasswordValidatorFunc) ValidatePassword(ctx context.Context, password string, u *User) error {
	return f(ctx, password, u)
}

// InvalidPassword returns the error a PasswordValidator answers with when it
// rejects a password. reason is shown to the client.
func InvalidPassword(reason string) error {
	return &Error{Code: CodeInvalidPassword, Reason: reason}
}
