package gatehouse

import (
	"context"
	"time"
)

// OAuthAccount links a user to an account at an identity provider
// ("google", "github", an OpenID Connect issuer). The provider's tokens are
// kept sealed (encrypted by the caller); stores treat them as opaque bytes.
type OAuthAccount struct {
	ID           ID
	UserID       ID
	Provider     string // the configured provider name, FastAPI Users' oauth_name
	AccountID    string // the account's stable id at the provider ("sub")
	AccountEmail string
	AccessToken  []byte // sealed
	RefreshToken []byte // sealed; empty when the provider gave none
	ExpiresAt    time.Time
	CreatedAt    time.Time
}

// NoPassword is the HashedPassword of a user who has none, such as one
// created by logging in with a provider. No password matches it; a
// password reset or change gives the user one.
const NoPassword = "!"

// OAuthAccountStore keeps linked provider accounts. An account
// (Provider, AccountID) belongs to at most one user, enforced by the store.
//
// Errors carry codes: CodeNotFound, CodeConflict (the account is linked
// already), CodeUnavailable.
type OAuthAccountStore interface {
	CreateOAuthAccount(ctx context.Context, a OAuthAccount) error
	FindOAuthAccount(ctx context.Context, provider, accountID string) (*OAuthAccount, error)
	// ListOAuthAccounts returns a user's accounts, oldest first.
	ListOAuthAccounts(ctx context.Context, userID ID) ([]OAuthAccount, error)
	// UpdateOAuthTokens stores fresh provider tokens and e-mail after a login.
	UpdateOAuthTokens(ctx context.Context, id ID, email string, access, refresh []byte, expires time.Time) error
	// DeleteOAuthAccount unlinks one of a user's accounts; another user's
	// account is CodeNotFound.
	DeleteOAuthAccount(ctx context.Context, userID, id ID) error
}
