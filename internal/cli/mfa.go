package cli

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/mfa"
)

// The HKDF info labels of the second factors' keys: each its own key,
// none of them the secret itself.
const (
	mfaSecretsInfo  = "gatehouse mfa secrets v1" // #nosec G101 -- an HKDF info label, not a credential
	mfaRecoveryInfo = "gatehouse mfa recovery codes v1"
)

// newMFA builds the second-factor service of the server, or nil with
// --mfa=false: TOTP secrets sealed with AES-256-GCM under a key derived
// from the secret, recovery codes hashed with another.
func newMFA(c *config, db *database, secret string, now func() time.Time) (*mfa.Service, error) {
	if !c.MFA {
		return nil, nil
	}
	aead, err := newAEAD(secret, mfaSecretsInfo)
	if err != nil {
		return nil, err
	}
	recoveryKey, err := hkdf.Key(sha256.New, []byte(secret), nil, mfaRecoveryInfo, 32)
	if err != nil {
		return nil, err
	}
	s, err := mfa.New(mfa.Config{
		TOTP:          db.MFA,
		RecoveryCodes: db.MFA,
		Challenges:    db.MFA,
		Seal:          func(plain []byte) ([]byte, error) { return sealWith(aead, plain, nil), nil },
		Open:          func(sealed []byte) ([]byte, error) { return openWith(aead, sealed, nil) },
		RecoveryKey:   recoveryKey,
		Issuer:        serviceName,
		Now:           now,
	})
	if err != nil {
		return nil, fmt.Errorf("second factors: %w", err)
	}
	return s, nil
}
