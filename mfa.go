package gatehouse

import (
	"context"
	"time"
)

// TOTP is a user's authenticator app: time-based one-time passwords
// (RFC 6238). A user has at most one.
type TOTP struct {
	UserID ID
	// Secret is the shared secret, sealed (encrypted) by the caller; stores
	// keep it as opaque bytes.
	Secret []byte
	// ConfirmedAt is zero until a first code was checked: until then the
	// TOTP is an enrolment in progress, not a second factor.
	ConfirmedAt time.Time
	// LastStep is the newest time step (Unix time / 30 s) a code was
	// accepted for. A code of that step or an older one is refused, so a
	// code cannot be replayed within its window.
	LastStep  int64
	CreatedAt time.Time
}

// Confirmed reports whether t is a second factor yet.
func (t *TOTP) Confirmed() bool { return !t.ConfirmedAt.IsZero() }

// TOTPStore keeps users' TOTP authenticators.
//
// Errors carry codes: CodeNotFound, CodeConflict, CodeUnavailable.
type TOTPStore interface {
	// SaveTOTP stores t as its user's TOTP, replacing an unconfirmed one
	// (an enrolment begun again). A confirmed one is CodeConflict: it must
	// be deleted first.
	SaveTOTP(ctx context.Context, t TOTP) error
	// FindTOTP returns the user's TOTP, confirmed or not.
	FindTOTP(ctx context.Context, userID ID) (*TOTP, error)
	// AcceptTOTPStep records that a code of step was accepted, in one
	// atomic step: only if step > LastStep (else CodeConflict: a replay,
	// perhaps a concurrent one), setting LastStep to step and, if it was
	// unconfirmed, ConfirmedAt to at. CodeNotFound when the user has none.
	AcceptTOTPStep(ctx context.Context, userID ID, step int64, at time.Time) error
	// DeleteTOTP removes the user's TOTP; removing none is no error.
	DeleteTOTP(ctx context.Context, userID ID) error
}

// RecoveryCodeStore keeps users' single-use recovery codes, by hash only.
//
// Errors carry codes: CodeNotFound, CodeUnavailable.
type RecoveryCodeStore interface {
	// ReplaceRecoveryCodes makes hashes the user's only recovery codes (an
	// empty list removes them all).
	ReplaceRecoveryCodes(ctx context.Context, userID ID, hashes []string, at time.Time) error
	// UseRecoveryCode removes the user's unused code with this hash, in
	// one atomic step; CodeNotFound when there is none (wrong, or used).
	UseRecoveryCode(ctx context.Context, userID ID, hash string) error
	// CountRecoveryCodes returns how many unused codes the user has.
	CountRecoveryCodes(ctx context.Context, userID ID) (int, error)
}

// Passkey is a user's WebAuthn credential: a second factor, or a way to
// log in without a password.
type Passkey struct {
	ID     ID
	UserID ID
	Name   string // the user's name for it ("laptop"), for the account page
	// CredentialID is the authenticator's id of the credential, unique
	// among all users.
	CredentialID []byte
	// Credential is the WebAuthn library's record of the credential (public
	// key, signature counter, flags), serialized by the caller.
	Credential []byte
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
}

// PasskeyStore keeps users' passkeys.
//
// Errors carry codes: CodeNotFound, CodeConflict (the credential id is
// taken), CodeUnavailable.
type PasskeyStore interface {
	CreatePasskey(ctx context.Context, p Passkey) error
	// ListPasskeys returns a user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID ID) ([]Passkey, error)
	FindPasskey(ctx context.Context, credentialID []byte) (*Passkey, error)
	// UsePasskey stores the credential record as updated by a login (its
	// signature counter) and the time of use.
	UsePasskey(ctx context.Context, id ID, credential []byte, at time.Time) error
	// DeletePasskey removes one of a user's passkeys; another user's is
	// CodeNotFound.
	DeletePasskey(ctx context.Context, userID, id ID) error
}

// MFAChallenge is the second step of a login that is due: the password was
// right, and a second factor must follow within a few minutes. The client
// holds a random mfa_token; the store keeps its hash only.
type MFAChallenge struct {
	Hash    string // hex SHA-256 of the mfa_token
	UserID  ID
	Backend string // the backend whose login began it
	// State is what the caller keeps of the second step as it goes (the
	// session data of a passkey assertion begun for it, a factor enrolled
	// during it), serialized by the caller; empty at first.
	State     []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MFAChallengeStore keeps pending second steps of logins.
//
// Errors carry codes: CodeNotFound (unknown, expired or taken),
// CodeUnavailable.
type MFAChallengeStore interface {
	CreateMFAChallenge(ctx context.Context, c MFAChallenge) error
	// FindMFAChallenge returns the challenge with this hash if it has not
	// expired at now.
	FindMFAChallenge(ctx context.Context, hash string, now time.Time) (*MFAChallenge, error)
	// SetMFAChallengeState replaces the State of a live challenge.
	SetMFAChallengeState(ctx context.Context, hash string, data []byte, now time.Time) error
	// TakeMFAChallenge deletes the challenge with this hash and returns
	// it, if it has not expired at now, in one atomic step: of two
	// concurrent takes one gets CodeNotFound, so a challenge completes one
	// login only.
	TakeMFAChallenge(ctx context.Context, hash string, now time.Time) (*MFAChallenge, error)
}

// Who must have a second factor to log in: the values of the setting
// SettingMFARequired. A user who must and has none is asked to add one at
// the next login, before it completes.
const (
	MFARequiredNobody     = "nobody"
	MFARequiredSuperusers = "superusers"
	MFARequiredEveryone   = "everyone"
)

// SettingMFARequired is the SettingStore key of who must have a second
// factor; unset means MFARequiredNobody.
const SettingMFARequired = "mfa.required"

// SettingStore keeps the settings that superusers change at run time,
// shared by every instance that shares the store.
//
// Errors carry codes: CodeNotFound, CodeUnavailable.
type SettingStore interface {
	// Setting returns the value of key; CodeNotFound when it was never set.
	Setting(ctx context.Context, key string) (string, error)
	// SetSetting makes value the value of key.
	SetSetting(ctx context.Context, key, value string) error
}

// NonceStore makes state that a client carries (sealed, so it cannot be
// read or changed) single use: the state holds a random nonce, and the
// step that ends it uses the nonce up.
//
// Errors carry codes: CodeConflict, CodeUnavailable.
type NonceStore interface {
	// UseNonce records nonce as used until until, in one atomic step: of
	// two calls with one nonce, the second (however concurrent) gets
	// CodeConflict. After until the record may be forgotten, so state
	// must expire by then.
	UseNonce(ctx context.Context, nonce string, until time.Time) error
}
