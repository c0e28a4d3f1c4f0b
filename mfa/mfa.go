// Package mfa runs second factors, without HTTP: enrolling an
// authenticator app (TOTP, RFC 6238) or passkeys (WebAuthn), the recovery
// codes that stand in for them, the second step of a login, logins with a
// passkey alone, and who must have a second factor.
//
// A login of a user with a second factor is two steps. The password step
// ends with a Challenge: a random mfa_token, of which the store keeps only
// the hash, valid for a few minutes. The second step, Complete, takes the
// token and a code: a one-time code from the app, or a recovery code. A
// code is accepted once (the TOTP store refuses a time step it has seen, a
// recovery code is deleted as it is used) and a challenge completes one
// login only (the store takes it atomically).
//
// TOTP secrets are sealed (Config.Seal) before they are stored: a copy of
// the database alone does not yield them. The state of a passkey ceremony
// that the server does not keep is sealed too, handed to the client, and
// spent once (Config.Nonces).
package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/totp"
)

// Defaults of Config.
const (
	DefaultIssuer        = "Gatehouse"
	DefaultChallengeTTL  = 5 * time.Minute
	DefaultRecoveryCodes = 10
)

// tokenPrefix starts every mfa_token, so that one is recognised in a log
// or a secret scanner.
const tokenPrefix = "ghm_"

// Config configures a Service. The stores, Seal and Open are required.
type Config struct {
	TOTP          gatehouse.TOTPStore
	RecoveryCodes gatehouse.RecoveryCodeStore
	Challenges    gatehouse.MFAChallengeStore
	// Seal encrypts a TOTP secret before it is stored, Open decrypts it.
	Seal func(plain []byte) ([]byte, error)
	Open func(sealed []byte) ([]byte, error)
	// Issuer names the service in authenticator apps. Default
	// DefaultIssuer.
	Issuer string
	// ChallengeTTL is how long the second step of a login may wait.
	// Default DefaultChallengeTTL.
	ChallengeTTL time.Duration
	// RecoveryKey keys the hashes of recovery codes (HMAC-SHA256 over the
	// user id and the code): without it, a stolen table of hashes can be
	// searched offline, 50 bits a code. Nil hashes without a key, still
	// per user. At least 32 bytes; changing it voids every recovery code.
	RecoveryKey []byte
	// RecoveryCodeCount is how many recovery codes a user gets. Default
	// DefaultRecoveryCodes.
	RecoveryCodeCount int
	Now               func() time.Time // default time.Now

	// Passkeys turns passkeys on, with Nonces, RPID and RPOrigins: users
	// may add passkeys as second factors, and log in with one alone. With
	// the store but no RPID, the ceremonies are off, yet the passkeys users
	// have still count as second factors (a recovery code stands in for
	// them) and may be listed and removed: turning passkeys off must not
	// leave their users with a password alone.
	Passkeys gatehouse.PasskeyStore
	// Nonces makes the sealed state of a passkey ceremony single use.
	Nonces gatehouse.NonceStore
	// RPID is the domain passkeys are bound to ("example.com"); RPOrigins
	// are the origins whose pages run the ceremonies
	// ("https://example.com", "https://login.example.com").
	RPID      string
	RPOrigins []string

	// Settings keeps who must have a second factor
	// (gatehouse.SettingMFARequired). Nil: nobody must.
	Settings gatehouse.SettingStore
}

// Service enrols second factors and checks them.
type Service struct {
	cfg      Config
	webauthn *webauthn.WebAuthn // nil without passkeys
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.TOTP == nil || cfg.RecoveryCodes == nil || cfg.Challenges == nil {
		return nil, errors.New("mfa: the TOTP, recovery code and challenge stores are required")
	}
	if cfg.RecoveryKey != nil && len(cfg.RecoveryKey) < 32 {
		return nil, errors.New("mfa: RecoveryKey must have at least 32 bytes")
	}
	if cfg.Seal == nil || cfg.Open == nil {
		return nil, errors.New("mfa: Seal and Open are required: TOTP secrets are never stored in the clear")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = DefaultChallengeTTL
	}
	if cfg.RecoveryCodeCount <= 0 {
		cfg.RecoveryCodeCount = DefaultRecoveryCodes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Service{cfg: cfg}
	if cfg.Passkeys != nil && (cfg.RPID != "" || len(cfg.RPOrigins) > 0 || cfg.Nonces != nil) {
		if cfg.Nonces == nil || cfg.RPID == "" || len(cfg.RPOrigins) == 0 {
			return nil, errors.New("mfa: passkeys need Nonces, RPID and RPOrigins")
		}
		w, err := webauthn.New(&webauthn.Config{RPID: cfg.RPID, RPDisplayName: cfg.Issuer, RPOrigins: cfg.RPOrigins})
		if err != nil {
			return nil, fmt.Errorf("mfa: passkeys: %w", err)
		}
		s.webauthn = w
	}
	return s, nil
}

// Enrolment is what a user needs to add the TOTP to an app: the otpauth://
// URI (for a QR code) and the secret in base32 (to type in).
type Enrolment struct {
	Secret string
	URI    string
}

// BeginTOTP starts enrolling an authenticator app for u, replacing an
// enrolment begun before. The TOTP is no factor until ConfirmTOTP.
func (s *Service) BeginTOTP(ctx context.Context, u *gatehouse.User) (Enrolment, error) {
	switch t, err := s.cfg.TOTP.FindTOTP(ctx, u.ID); {
	case err == nil && t.Confirmed():
		return Enrolment{}, &gatehouse.Error{Code: gatehouse.CodeMFATOTPAlreadyEnabled}
	case err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound:
		return Enrolment{}, err
	}
	key, err := totp.Generate(s.cfg.Issuer, u.Email)
	if err != nil {
		return Enrolment{}, fmt.Errorf("mfa: %w", err)
	}
	sealed, err := s.cfg.Seal(key.Secret)
	if err != nil {
		return Enrolment{}, fmt.Errorf("mfa: seal: %w", err)
	}
	err = s.cfg.TOTP.SaveTOTP(ctx, gatehouse.TOTP{UserID: u.ID, Secret: sealed, CreatedAt: s.cfg.Now()})
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		// Confirmed by a concurrent request since we looked.
		return Enrolment{}, &gatehouse.Error{Code: gatehouse.CodeMFATOTPAlreadyEnabled}
	}
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{
		Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(key.Secret),
		URI:    key.URI,
	}, nil
}

// ConfirmTOTP finishes an enrolment with a first code from the app: the
// TOTP becomes the user's second factor, and the user gets fresh recovery
// codes, to be shown once.
func (s *Service) ConfirmTOTP(ctx context.Context, userID gatehouse.ID, code string) ([]string, error) {
	t, err := s.cfg.TOTP.FindTOTP(ctx, userID)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFATOTPNotEnabled}
	case err != nil:
		return nil, err
	case t.Confirmed():
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFATOTPAlreadyEnabled}
	}
	if err := s.acceptTOTP(ctx, t, code); err != nil {
		return nil, err
	}
	return s.ReplaceRecoveryCodes(ctx, userID)
}

// Enabled reports whether the user has a second factor (a confirmed
// TOTP, a passkey): a second step is due at every login.
func (s *Service) Enabled(ctx context.Context, userID gatehouse.ID) (bool, error) {
	if on, err := s.totpOn(ctx, userID); err != nil || on {
		return on, err
	}
	n, err := s.passkeyCount(ctx, userID)
	return n > 0, err
}

// factors returns the user's second factors, without recovery codes.
func (s *Service) factors(ctx context.Context, userID gatehouse.ID) (Status, error) {
	var st Status
	var err error
	if st.TOTP, err = s.totpOn(ctx, userID); err != nil {
		return Status{}, err
	}
	if st.Passkeys, err = s.passkeyCount(ctx, userID); err != nil {
		return Status{}, err
	}
	return st, nil
}

// totpOn reports whether the user has a confirmed TOTP.
func (s *Service) totpOn(ctx context.Context, userID gatehouse.ID) (bool, error) {
	t, err := s.cfg.TOTP.FindTOTP(ctx, userID)
	switch gatehouse.ErrorCode(err) {
	case "":
		return t.Confirmed(), nil
	case gatehouse.CodeNotFound:
		return false, nil
	}
	return false, err
}

// passkeyCount returns how many passkeys the user has; none without a
// passkey store.
func (s *Service) passkeyCount(ctx context.Context, userID gatehouse.ID) (int, error) {
	if s.cfg.Passkeys == nil {
		return 0, nil
	}
	keys, err := s.cfg.Passkeys.ListPasskeys(ctx, userID)
	return len(keys), err
}

// Status is what a user's account page shows of their second factors.
type Status struct {
	TOTP          bool // a confirmed TOTP
	Passkeys      int  // passkeys
	RecoveryCodes int  // unused recovery codes left
}

// Status returns the user's second factors.
func (s *Service) Status(ctx context.Context, userID gatehouse.ID) (Status, error) {
	st, err := s.factors(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	if st.RecoveryCodes, err = s.cfg.RecoveryCodes.CountRecoveryCodes(ctx, userID); err != nil {
		return Status{}, err
	}
	return st, nil
}

// CheckCode accepts, once, a code of the user's confirmed TOTP or one of
// their recovery codes: the step a one-time code belongs to is recorded so
// it cannot be replayed, and a recovery code is used up. Anything else is
// CodeMFABadCode; a one-time code of a user without a TOTP, or any code of
// a user without a second factor, is CodeMFATOTPNotEnabled.
func (s *Service) CheckCode(ctx context.Context, userID gatehouse.ID, code string) error {
	t, err := s.cfg.TOTP.FindTOTP(ctx, userID)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		t = nil
	case err != nil:
		return err
	case !t.Confirmed():
		t = nil
	}
	if isTOTPCode(code) {
		if t == nil {
			return &gatehouse.Error{Code: gatehouse.CodeMFATOTPNotEnabled}
		}
		return s.acceptTOTP(ctx, t, code)
	}
	if t == nil {
		// Recovery codes stand in for passkeys too.
		switch n, err := s.passkeyCount(ctx, userID); {
		case err != nil:
			return err
		case n == 0:
			return &gatehouse.Error{Code: gatehouse.CodeMFATOTPNotEnabled}
		}
	}
	normal, ok := totp.NormalizeRecoveryCode(code)
	if !ok {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadCode}
	}
	err = s.cfg.RecoveryCodes.UseRecoveryCode(ctx, userID, s.hashRecovery(userID, normal))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadCode}
	}
	return err
}

// isTOTPCode tells a one-time code (six digits, perhaps split by a space)
// from a recovery code.
func isTOTPCode(code string) bool {
	digits := 0
	for _, r := range strings.TrimSpace(code) {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r != ' ':
			return false
		}
	}
	return digits == 6
}

// acceptTOTP checks code against t and records its step, so that it
// cannot be used again; the store's check makes this hold between
// concurrent requests too.
func (s *Service) acceptTOTP(ctx context.Context, t *gatehouse.TOTP, code string) error {
	secret, err := s.cfg.Open(t.Secret)
	if err != nil {
		return fmt.Errorf("mfa: open TOTP secret: %w", err)
	}
	now := s.cfg.Now()
	step, ok := totp.Verify(secret, code, now, t.LastStep)
	if !ok {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadCode}
	}
	err = s.cfg.TOTP.AcceptTOTPStep(ctx, t.UserID, step, now)
	switch gatehouse.ErrorCode(err) {
	case gatehouse.CodeConflict: // the same code, used concurrently
		return &gatehouse.Error{Code: gatehouse.CodeMFABadCode}
	case gatehouse.CodeNotFound: // removed concurrently
		return &gatehouse.Error{Code: gatehouse.CodeMFATOTPNotEnabled}
	}
	return err
}

// ReplaceRecoveryCodes gives a user with a second factor new recovery
// codes, to be shown once; the old ones stop working.
func (s *Service) ReplaceRecoveryCodes(ctx context.Context, userID gatehouse.ID) ([]string, error) {
	codes, err := totp.GenerateRecoveryCodes(s.cfg.RecoveryCodeCount)
	if err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	hashes := make([]string, len(codes))
	for i, c := range codes {
		normal, ok := totp.NormalizeRecoveryCode(c)
		if !ok {
			return nil, fmt.Errorf("mfa: generated recovery code %d does not normalize", i)
		}
		hashes[i] = s.hashRecovery(userID, normal)
	}
	if err := s.cfg.RecoveryCodes.ReplaceRecoveryCodes(ctx, userID, hashes, s.cfg.Now()); err != nil {
		return nil, err
	}
	return codes, nil
}

// Disable removes the user's TOTP, and the recovery codes when no passkey
// remains. The caller has made sure it is the user asking (a fresh code,
// or the password), or a superuser.
func (s *Service) Disable(ctx context.Context, userID gatehouse.ID) error {
	if err := s.cfg.TOTP.DeleteTOTP(ctx, userID); err != nil {
		return err
	}
	return s.dropCodesIfNoFactor(ctx, userID)
}

// dropCodesIfNoFactor removes the recovery codes of a user left without a
// second factor: they would stand in for nothing.
func (s *Service) dropCodesIfNoFactor(ctx context.Context, userID gatehouse.ID) error {
	switch on, err := s.Enabled(ctx, userID); {
	case err != nil:
		return err
	case on:
		return nil
	}
	return s.cfg.RecoveryCodes.ReplaceRecoveryCodes(ctx, userID, nil, s.cfg.Now())
}

// Challenge begins the second step of a login of the user at backend and
// returns its mfa_token.
func (s *Service) Challenge(ctx context.Context, userID gatehouse.ID, backend string) (string, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails: it panics instead
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	now := s.cfg.Now()
	err := s.cfg.Challenges.CreateMFAChallenge(ctx, gatehouse.MFAChallenge{
		Hash: hashToken(token), UserID: userID, Backend: backend, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ChallengeTTL),
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Pending returns the live challenge of an mfa_token, or CodeMFABadToken:
// the caller learns whose login it is (for throttling) before a code is
// checked.
func (s *Service) Pending(ctx context.Context, token string) (*gatehouse.MFAChallenge, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 128 {
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	c, err := s.cfg.Challenges.FindMFAChallenge(ctx, hashToken(token), s.cfg.Now())
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	return c, err
}

// Complete finishes the second step: the code must pass CheckCode, and
// the challenge is then taken, so it completes one login only. It returns
// the challenge, whose user and backend the login continues with. A login
// that enrolled the user's first factor (ConfirmTOTPStep) completes with
// an empty code.
func (s *Service) Complete(ctx context.Context, token, code string) (*gatehouse.MFAChallenge, error) {
	c, err := s.Pending(ctx, token)
	if err != nil {
		return nil, err
	}
	if code != "" || !s.challengeState(c).Enrolled {
		if err := s.CheckCode(ctx, c.UserID, code); err != nil {
			return nil, err
		}
	}
	return s.take(ctx, c)
}

// Enrolled reports whether the login of challenge c added the user's
// first second factor (ConfirmTOTPStep): Complete then needs no code.
func (s *Service) Enrolled(c *gatehouse.MFAChallenge) bool { return s.challengeState(c).Enrolled }

// take takes a challenge whose second factor passed.
func (s *Service) take(ctx context.Context, c *gatehouse.MFAChallenge) (*gatehouse.MFAChallenge, error) {
	c, err := s.cfg.Challenges.TakeMFAChallenge(ctx, c.Hash, s.cfg.Now())
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		// Completed by a concurrent request, or expired meanwhile.
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	return c, err
}

// hashRecovery is what the store keeps of a normalized recovery code: an
// HMAC under RecoveryKey when there is one, and always over the user's id
// too, so that one offline search can never cover every user's codes.
func (s *Service) hashRecovery(userID gatehouse.ID, normal string) string {
	msg := userID.String() + ":" + normal
	if s.cfg.RecoveryKey == nil {
		sum := sha256.Sum256([]byte(msg))
		return hex.EncodeToString(sum[:])
	}
	m := hmac.New(sha256.New, s.cfg.RecoveryKey)
	m.Write([]byte(msg)) // a hash.Hash never returns an error
	return hex.EncodeToString(m.Sum(nil))
}

// hashToken is what the store keeps of an mfa_token: 256 random bits need
// no slow hash.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
