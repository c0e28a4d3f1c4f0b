package cli

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
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
// --mfa=false: TOTP secrets and passkey ceremony states sealed with
// AES-256-GCM under a key derived from the secret, recovery codes hashed
// with another. Passkeys are bound to the public URL's host unless
// --passkey-rp-id says otherwise.
func newMFA(c *config, db *database, secret, publicURL string, now func() time.Time, log *slog.Logger) (*mfa.Service, error) {
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
	rpID, origins, err := passkeyParty(c, publicURL, log)
	if err != nil {
		return nil, err
	}
	cfg := mfa.Config{
		TOTP:          db.MFA,
		RecoveryCodes: db.MFA,
		Challenges:    db.MFA,
		Seal:          func(plain []byte) ([]byte, error) { return sealWith(aead, plain, nil), nil },
		Open:          func(sealed []byte) ([]byte, error) { return openWith(aead, sealed, nil) },
		RecoveryKey:   recoveryKey,
		Issuer:        serviceName,
		Now:           now,
		Settings:      db.Settings,
		// Without an RP ID the ceremonies are off, but the passkeys users
		// have still ask for a second step.
		Passkeys: db.MFA,
	}
	if rpID != "" {
		cfg.Nonces, cfg.RPID, cfg.RPOrigins = db.Nonces, rpID, origins
	}
	s, err := mfa.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("second factors: %w", err)
	}
	return s, nil
}

// passkeyParty is the relying party of passkeys: the domain they are bound
// to and the origins whose pages may run the ceremonies. By default, the
// public URL's host and origin; a loopback address becomes localhost
// (browsers refuse IP addresses as the domain, and treat localhost as a
// secure context). Passkeys are off (rpID "") when the default host is
// another IP address.
func passkeyParty(c *config, publicURL string, log *slog.Logger) (rpID string, origins []string, err error) {
	u, err := url.Parse(publicURL)
	if err != nil {
		return "", nil, fmt.Errorf("passkeys: public URL: %w", err)
	}
	rpID, origins = c.PasskeyRPID, c.PasskeyOrigins
	if rpID == "" {
		rpID = u.Hostname()
		if ip, err := netip.ParseAddr(rpID); err == nil {
			if !ip.IsLoopback() && !ip.IsUnspecified() {
				log.Info("passkeys are off: the public URL's host is an IP address, and passkeys are bound to a domain; "+
					"set GATEHOUSE_PUBLIC_URL or GATEHOUSE_PASSKEY_RP_ID (passkeys users have still ask for a second step)",
					"public_url", publicURL)
				return "", nil, nil
			}
			rpID = "localhost"
			if len(origins) == 0 {
				origins = []string{u.Scheme + "://" + net.JoinHostPort(rpID, u.Port())}
			}
		}
	}
	if len(origins) == 0 {
		origins = []string{u.Scheme + "://" + u.Host}
	}
	if err := checkPasskeyOrigins(rpID, origins); err != nil {
		return "", nil, fmt.Errorf("passkeys: %w", err)
	}
	return rpID, origins, nil
}

// checkPasskeyOrigins refuses origins whose host is not rpID or under it:
// browsers would refuse their ceremonies. An empty rpID checks nothing.
func checkPasskeyOrigins(rpID string, origins []string) error {
	if rpID == "" {
		return nil
	}
	for _, o := range origins {
		ou, err := url.Parse(o)
		if err != nil {
			return fmt.Errorf("origin %q: %w", o, err)
		}
		host := strings.ToLower(ou.Hostname())
		if host != rpID && !strings.HasSuffix(host, "."+rpID) {
			return fmt.Errorf("the origin %s is not on %s (%s): browsers would refuse its passkey ceremonies",
				o, rpID, describeSettings("passkey-rp-id", "passkey-origins"))
		}
	}
	return nil
}
