package cli

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/cache"
	"github.com/gatehouse/gatehouse/postgres"
	"github.com/gatehouse/gatehouse/sqlite"
)

// database is an open SQLite or PostgreSQL database with its stores.
type database struct {
	Users       gatehouse.UserStore
	Revocations revocations
	Tokens      tokenStore
	Sessions    sessionStore
	Keys        gatehouse.KeyStore
	Roles       gatehouse.RoleStore
	APIKeys     gatehouse.APIKeyStore
	OAuth       gatehouse.OAuthAccountStore
	Audit       gatehouse.AuditStore
	MFA         mfaStore
	Settings    gatehouse.SettingStore
	Nonces      nonceStore
	// Changes carries the stores' changes to the caches of every process
	// on the database: LISTEN/NOTIFY on PostgreSQL, this process only on
	// SQLite (one process per database file).
	Changes gatehouse.ChangeFeed
	Migrate func(context.Context) ([]string, error)
	Ping    func(context.Context) error
	Close   func() error
}

// mfaStore keeps second factors and the pending second steps of logins,
// whose expired ones it can drop.
type mfaStore interface {
	gatehouse.TOTPStore
	gatehouse.RecoveryCodeStore
	gatehouse.MFAChallengeStore
	gatehouse.PasskeyStore
	Sweep(ctx context.Context) (int64, error)
}

// nonceStore keeps used nonces, whose expired ones it can drop.
type nonceStore interface {
	gatehouse.NonceStore
	Sweep(ctx context.Context) (int64, error)
}

// revocations is a revocation store that can drop expired entries.
type revocations interface {
	gatehouse.Revocations
	Sweep(ctx context.Context) (int64, error)
}

// tokenStore is a store of opaque tokens that can drop expired ones.
type tokenStore interface {
	gatehouse.TokenStore
	Sweep(ctx context.Context) (int64, error)
}

// sessionStore is a session store that can drop expired sessions.
type sessionStore interface {
	gatehouse.SessionStore
	Sweep(ctx context.Context) (int64, error)
}

func openDatabase(ctx context.Context, u dbURL) (*database, error) {
	switch u.Driver {
	case "sqlite":
		db, err := sqlite.Open(u.Path)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", u, err)
		}
		return &database{
			Users:       sqlite.NewUserStore(db),
			Revocations: sqlite.NewRevocations(db),
			Tokens:      sqlite.NewTokenStore(db),
			Sessions:    sqlite.NewSessionStore(db),
			Keys:        sqlite.NewKeyStore(db),
			Roles:       sqlite.NewRoleStore(db),
			APIKeys:     sqlite.NewAPIKeyStore(db),
			OAuth:       sqlite.NewOAuthAccountStore(db),
			Audit:       sqlite.NewAuditStore(db),
			MFA:         sqlite.NewMFAStore(db),
			Settings:    sqlite.NewSettingStore(db),
			Nonces:      sqlite.NewNonceStore(db),
			Changes:     cache.NewLocalFeed(),
			Migrate:     db.Migrate,
			Ping:        db.Ping,
			Close:       db.Close,
		}, nil
	case "postgres":
		db, err := postgres.Open(ctx, u.URL)
		if err != nil {
			// The driver's message may quote the URL: say only which one.
			return nil, fmt.Errorf("open %s: %w", u, err)
		}
		return &database{
			Users:       postgres.NewUserStore(db),
			Revocations: postgres.NewRevocations(db),
			Tokens:      postgres.NewTokenStore(db),
			Sessions:    postgres.NewSessionStore(db),
			Keys:        postgres.NewKeyStore(db),
			Roles:       postgres.NewRoleStore(db),
			APIKeys:     postgres.NewAPIKeyStore(db),
			OAuth:       postgres.NewOAuthAccountStore(db),
			Audit:       postgres.NewAuditStore(db),
			MFA:         postgres.NewMFAStore(db),
			Settings:    postgres.NewSettingStore(db),
			Nonces:      postgres.NewNonceStore(db),
			Changes:     postgres.NewChangeFeed(db),
			Migrate:     db.Migrate,
			Ping:        db.Ping,
			Close:       db.Close,
		}, nil
	}
	return nil, fmt.Errorf("unknown database driver %q", u.Driver)
}
