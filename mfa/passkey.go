package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse/gatehouse"
)

// statePrefix starts every sealed ceremony state handed to a client.
const statePrefix = "ghw_"

// maxState and maxResponse bound what a client may send back: a state is
// a few hundred bytes, a WebAuthn answer a few kilobytes.
const (
	maxState    = 8 << 10
	maxResponse = 64 << 10
	// MaxPasskeyName is the longest name a passkey may have, in runes.
	MaxPasskeyName = 64
)

// Ceremony is the first half of a WebAuthn ceremony: the options for the
// browser's navigator.credentials.create or .get, and, when the server
// keeps nothing, the State the client sends back with the browser's
// answer. The State is sealed: the client can neither read nor change it,
// and it is good once, for ChallengeTTL.
type Ceremony struct {
	Options json.RawMessage // {"publicKey": {...}}
	State   string
}

// ceremonyState is what a sealed State holds.
type ceremonyState struct {
	Kind    string               `json:"kind"` // "register" or "login": a State of one is no State of the other
	UserID  gatehouse.ID         `json:"user_id"`
	Nonce   string               `json:"nonce"`
	Expires time.Time            `json:"expires"`
	Session webauthn.SessionData `json:"session"`
}

// challengeState is what the Service keeps in an MFAChallenge's State.
type challengeState struct {
	// Assertion is the session of a passkey assertion begun for the
	// second step.
	Assertion *webauthn.SessionData `json:"assertion,omitempty"`
	// Enrolled is set once a user who had to add a second factor at this
	// login did: the login may complete without another code.
	Enrolled bool `json:"enrolled,omitempty"`
}

// printable reports whether a passkey's name holds no control or format
// characters: it is shown on account pages and written to logs, where a
// newline or a right-to-left override would forge what follows.
func printable(name string) bool {
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return false
		}
	}
	return true
}

// passkeyUser is a user as the WebAuthn library sees one. The user
// handle is the user's ID: random, stable, and no personal data.
type passkeyUser struct {
	id          gatehouse.ID
	name        string
	credentials []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.id[:] }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

// PasskeysEnabled reports whether s runs passkeys (Config.Passkeys).
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

func (s *Service) needPasskeys() error {
	if s.webauthn == nil {
		return &gatehouse.Error{Code: gatehouse.CodeMFAPasskeyNotEnabled, Err: errors.New("mfa: passkeys are not configured")}
	}
	return nil
}

// loadUser returns userID's passkeys as the WebAuthn library's user.
func (s *Service) loadUser(ctx context.Context, userID gatehouse.ID, name string) (*passkeyUser, []gatehouse.Passkey, error) {
	keys, err := s.cfg.Passkeys.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	u := &passkeyUser{id: userID, name: name}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, nil, fmt.Errorf("mfa: passkey %s: %w", k.ID, err)
		}
		u.credentials = append(u.credentials, c)
	}
	return u, keys, nil
}

// BeginPasskey starts adding a passkey for u: the options ask for a
// discoverable credential (so that it can log in without a password) that
// u does not have yet, verified by the authenticator's PIN or biometric
// where it can.
func (s *Service) BeginPasskey(ctx context.Context, u *gatehouse.User) (Ceremony, error) {
	if err := s.needPasskeys(); err != nil {
		return Ceremony{}, err
	}
	wu, _, err := s.loadUser(ctx, u.ID, u.Email)
	if err != nil {
		return Ceremony{}, err
	}
	creation, session, err := s.webauthn.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.credentials).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: begin passkey registration: %w", err)
	}
	return s.ceremony(creation, "register", u.ID, session)
}

// FinishPasskey checks the browser's answer to BeginPasskey's options
// and stores the new passkey under name. A user who had no second factor
// before also gets recovery codes, to be shown once; otherwise codes is
// nil. A bad or used State is CodeMFABadToken, an answer that does not
// verify CodeMFABadPasskey.
func (s *Service) FinishPasskey(ctx context.Context, u *gatehouse.User, state, name string, response []byte) (p *gatehouse.Passkey, codes []string, err error) {
	if err := s.needPasskeys(); err != nil {
		return nil, nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey"
	}
	if utf8.RuneCountInString(name) > MaxPasskeyName || !utf8.ValidString(name) || !printable(name) {
		return nil, nil, gatehouse.Errorf(gatehouse.CodeBadRequest, "mfa: a passkey's name has at most %d characters, none of them control characters", MaxPasskeyName)
	}
	st, err := s.openState(state, "register")
	if err != nil {
		return nil, nil, err
	}
	if st.UserID != u.ID {
		return nil, nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken, Err: errors.New("mfa: passkey state of another user")}
	}
	parsed, err := parseCreation(response)
	if err != nil {
		return nil, nil, err
	}
	wu, _, err := s.loadUser(ctx, u.ID, u.Email)
	if err != nil {
		return nil, nil, err
	}
	had := len(wu.credentials) > 0
	if !had {
		if had, err = s.totpOn(ctx, u.ID); err != nil {
			return nil, nil, err
		}
	}
	cred, err := s.webauthn.CreateCredential(wu, st.Session, parsed)
	if err != nil {
		return nil, nil, badPasskey(err)
	}
	if err := s.useNonce(ctx, st); err != nil {
		return nil, nil, err
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, nil, fmt.Errorf("mfa: encode credential: %w", err)
	}
	now := s.cfg.Now()
	p = &gatehouse.Passkey{ID: gatehouse.NewID(), UserID: u.ID, Name: name, CredentialID: cred.ID, Credential: record, CreatedAt: now}
	err = s.cfg.Passkeys.CreatePasskey(ctx, *p)
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		return nil, nil, gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: passkey registered already: %w", err)
	}
	if err != nil {
		return nil, nil, err
	}
	if !had {
		if codes, err = s.ReplaceRecoveryCodes(ctx, u.ID); err != nil {
			return nil, nil, err
		}
	}
	return p, codes, nil
}

// PasskeysStored reports whether s keeps passkeys (Config.Passkeys), with
// the ceremonies on or not: they may then be listed and removed.
func (s *Service) PasskeysStored() bool { return s.cfg.Passkeys != nil }

// Passkeys returns the user's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, userID gatehouse.ID) ([]gatehouse.Passkey, error) {
	if s.cfg.Passkeys == nil {
		return []gatehouse.Passkey{}, nil
	}
	return s.cfg.Passkeys.ListPasskeys(ctx, userID)
}

// RemovePasskey removes one of the user's passkeys (another user's is
// CodeNotFound). The caller has made sure it is the user asking. When it
// was the last second factor, the recovery codes go too.
func (s *Service) RemovePasskey(ctx context.Context, userID, id gatehouse.ID) error {
	if s.cfg.Passkeys == nil {
		return &gatehouse.Error{Code: gatehouse.CodeMFAPasskeyNotEnabled, Err: errors.New("mfa: no passkey store")}
	}
	if err := s.cfg.Passkeys.DeletePasskey(ctx, userID, id); err != nil {
		return err
	}
	return s.dropCodesIfNoFactor(ctx, userID)
}

// BeginPasskeyStep starts a passkey assertion for the second step of the
// login of an mfa_token: the options name the user's passkeys, and the
// server keeps the session with the challenge (Ceremony.State is empty).
func (s *Service) BeginPasskeyStep(ctx context.Context, token string) (Ceremony, error) {
	if err := s.needPasskeys(); err != nil {
		return Ceremony{}, err
	}
	c, err := s.Pending(ctx, token)
	if err != nil {
		return Ceremony{}, err
	}
	wu, _, err := s.loadUser(ctx, c.UserID, "")
	if err != nil {
		return Ceremony{}, err
	}
	if len(wu.credentials) == 0 {
		return Ceremony{}, &gatehouse.Error{Code: gatehouse.CodeMFAPasskeyNotEnabled}
	}
	assertion, session, err := s.webauthn.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: begin passkey assertion: %w", err)
	}
	st := s.challengeState(c)
	st.Assertion = session
	if err := s.saveChallengeState(ctx, c, st); err != nil {
		return Ceremony{}, err
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: encode options: %w", err)
	}
	return Ceremony{Options: options}, nil
}

// CompletePasskey finishes the second step with the browser's answer to
// BeginPasskeyStep's options, as Complete does with a code: the challenge
// is then taken, so it completes one login only.
func (s *Service) CompletePasskey(ctx context.Context, token string, response []byte) (*gatehouse.MFAChallenge, error) {
	if err := s.needPasskeys(); err != nil {
		return nil, err
	}
	c, err := s.Pending(ctx, token)
	if err != nil {
		return nil, err
	}
	st := s.challengeState(c)
	if st.Assertion == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: no passkey assertion was begun for this mfa_token")
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return nil, err
	}
	wu, keys, err := s.loadUser(ctx, c.UserID, "")
	if err != nil {
		return nil, err
	}
	cred, err := s.webauthn.ValidateLogin(wu, *st.Assertion, parsed)
	if err != nil {
		return nil, badPasskey(err)
	}
	if err := s.used(ctx, keys, cred); err != nil {
		return nil, err
	}
	return s.take(ctx, c)
}

// BeginPasskeyLogin starts a login with a passkey alone: no user is named,
// the browser offers the passkeys it has for this site. The authenticator
// must verify its user (a PIN or biometric), which makes the passkey two
// factors on its own.
func (s *Service) BeginPasskeyLogin(ctx context.Context) (Ceremony, error) {
	if err := s.needPasskeys(); err != nil {
		return Ceremony{}, err
	}
	assertion, session, err := s.webauthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: begin passkey login: %w", err)
	}
	return s.ceremony(assertion, "login", gatehouse.ID{}, session)
}

// FinishPasskeyLogin checks the browser's answer to BeginPasskeyLogin's
// options and returns whose passkey it was. The caller still checks that
// the user may log in (active, and so on). When the answer fails, the ID
// is that of the user it claimed to be, if any, for the audit log only.
func (s *Service) FinishPasskeyLogin(ctx context.Context, state string, response []byte) (gatehouse.ID, error) {
	if err := s.needPasskeys(); err != nil {
		return gatehouse.ID{}, err
	}
	st, err := s.openState(state, "login")
	if err != nil {
		return gatehouse.ID{}, err
	}
	parsed, err := parseAssertion(response)
	if err != nil {
		return gatehouse.ID{}, err
	}
	var (
		keys     []gatehouse.Passkey
		claimed  gatehouse.ID
		storeErr error // the library would report it as a bad answer
	)
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		var id gatehouse.ID
		if len(userHandle) != len(id) {
			return nil, errors.New("unknown user handle")
		}
		copy(id[:], userHandle)
		claimed = id
		wu, ks, err := s.loadUser(ctx, id, "")
		if err != nil {
			storeErr = err
			return nil, err
		}
		keys = ks
		return wu, nil
	}
	wu, cred, err := s.webauthn.ValidatePasskeyLogin(handler, st.Session, parsed)
	if err != nil {
		if storeErr != nil {
			return claimed, storeErr
		}
		return claimed, badPasskey(err)
	}
	if err := s.useNonce(ctx, st); err != nil {
		return claimed, err
	}
	if err := s.used(ctx, keys, cred); err != nil {
		return claimed, err
	}
	return wu.(*passkeyUser).id, nil
}

// used records a passkey's use: its new signature counter and the time.
// An authenticator whose counter went backwards may have been cloned, and
// is refused.
func (s *Service) used(ctx context.Context, keys []gatehouse.Passkey, cred *webauthn.Credential) error {
	if cred.Authenticator.CloneWarning {
		return gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: the passkey's signature counter went backwards (a cloned authenticator?)")
	}
	for _, k := range keys {
		if !bytes.Equal(k.CredentialID, cred.ID) {
			continue
		}
		record, err := json.Marshal(cred)
		if err != nil {
			return fmt.Errorf("mfa: encode credential: %w", err)
		}
		return s.cfg.Passkeys.UsePasskey(ctx, k.ID, record, s.cfg.Now())
	}
	return &gatehouse.Error{Code: gatehouse.CodeMFABadPasskey, Err: errors.New("mfa: verified credential is not the user's")}
}

// ceremony seals the session of a ceremony begun into a State.
func (s *Service) ceremony(options any, kind string, userID gatehouse.ID, session *webauthn.SessionData) (Ceremony, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: encode options: %w", err)
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce) // crypto/rand never fails: it panics instead
	plain, err := json.Marshal(ceremonyState{
		Kind: kind, UserID: userID, Nonce: base64.RawURLEncoding.EncodeToString(nonce),
		Expires: s.cfg.Now().Add(s.cfg.ChallengeTTL), Session: *session,
	})
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: encode state: %w", err)
	}
	sealed, err := s.cfg.Seal(plain)
	if err != nil {
		return Ceremony{}, fmt.Errorf("mfa: seal state: %w", err)
	}
	return Ceremony{Options: opts, State: statePrefix + base64.RawURLEncoding.EncodeToString(sealed)}, nil
}

// openState opens a sealed State of this kind that has not expired.
func (s *Service) openState(state, kind string) (*ceremonyState, error) {
	bad := func(why string) error {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadToken, Err: errors.New("mfa: passkey state: " + why)}
	}
	raw, ok := strings.CutPrefix(state, statePrefix)
	if !ok || len(raw) > maxState {
		return nil, bad("malformed")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return nil, bad("malformed")
	}
	plain, err := s.cfg.Open(sealed)
	if err != nil {
		return nil, bad("does not open")
	}
	var st ceremonyState
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, bad("does not decode")
	}
	if st.Kind != kind {
		return nil, bad("of another ceremony")
	}
	if !s.cfg.Now().Before(st.Expires) {
		return nil, bad("expired")
	}
	return &st, nil
}

// useNonce spends a State, after its answer verified: a State completes
// one ceremony only, even when an answer is replayed.
func (s *Service) useNonce(ctx context.Context, st *ceremonyState) error {
	err := s.cfg.Nonces.UseNonce(ctx, st.Kind+":"+st.Nonce, st.Expires)
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadToken, Err: errors.New("mfa: passkey state used")}
	}
	return err
}

// challengeState decodes the Service's state of a challenge; a state it
// cannot read is treated as none.
func (s *Service) challengeState(c *gatehouse.MFAChallenge) challengeState {
	var st challengeState
	if len(c.State) > 0 {
		_ = json.Unmarshal(c.State, &st)
	}
	return st
}

func (s *Service) saveChallengeState(ctx context.Context, c *gatehouse.MFAChallenge, st challengeState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("mfa: encode challenge state: %w", err)
	}
	err = s.cfg.Challenges.SetMFAChallengeState(ctx, c.Hash, data, s.cfg.Now())
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	return err
}

func parseCreation(response []byte) (*protocol.ParsedCredentialCreationData, error) {
	if len(response) == 0 || len(response) > maxResponse {
		return nil, gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: no passkey answer, or one too large")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return nil, badPasskey(err)
	}
	return parsed, nil
}

func parseAssertion(response []byte) (*protocol.ParsedCredentialAssertionData, error) {
	if len(response) == 0 || len(response) > maxResponse {
		return nil, gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: no passkey answer, or one too large")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, badPasskey(err)
	}
	return parsed, nil
}

// badPasskey is the answer to a WebAuthn answer that does not verify. The
// library's account of what was wrong goes to the log only: the client
// learns that it failed, as with a wrong code.
func badPasskey(err error) error {
	var perr *protocol.Error
	if errors.As(err, &perr) {
		return gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: passkey answer: %s (%s): %w", perr.Details, perr.DevInfo, err)
	}
	return gatehouse.Errorf(gatehouse.CodeMFABadPasskey, "mfa: passkey answer: %w", err)
}
