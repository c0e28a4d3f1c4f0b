package gatehouse

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"
)

const defaultFlowTTL = time.Hour

// RequestVerify starts an e-mail verification: for an active, unverified
// user with this e-mail it makes a token and hands it to the
// AfterRequestVerify hook (which mails it). Unknown, inactive and already
// verified users get nothing, and the caller cannot tell: the same work is
// done (one lookup, one signature) whatever the e-mail.
func (m *Manager) RequestVerify(ctx context.Context, email string) error {
	u, err := m.lookupForFlow(ctx, email)
	if err != nil {
		return err
	}
	eligible := u != nil && u.IsActive && !u.IsVerified
	token, err := m.signFlow(AudienceVerify, verifyClaims(u, eligible), m.VerifyTTL)
	if err != nil || !eligible {
		return err
	}
	return m.hooks().AfterRequestVerify(ctx, u, token)
}

// Verify marks the user named by a verification token as verified. The
// token dies when the user's e-mail changes (it names both) and once the
// user is verified. Inactive users may verify, as in FastAPI Users.
func (m *Manager) Verify(ctx context.Context, token string) (*User, error) {
	bad := &Error{Code: CodeVerifyUserBadToken}
	if m.Tokens == nil {
		return nil, errors.New("gatehouse: Verify: Manager.Tokens is not set")
	}
	claims, err := m.Tokens.Parse(token, AudienceVerify)
	if err != nil {
		return nil, bad
	}
	sub, email := claims["sub"], claims["email"]
	if sub == "" || email == "" {
		return nil, bad
	}
	u, err := m.Users.FindUserByEmail(ctx, email)
	switch ErrorCode(err) {
	case "":
	case CodeNotFound:
		return nil, bad
	default:
		return nil, err
	}
	id, err := ParseID(sub)
	if err != nil || id != u.ID {
		return nil, bad
	}
	if u.IsVerified {
		return nil, &Error{Code: CodeVerifyUserAlreadyVerified}
	}
	// Conditional: of two concurrent verifications one wins, and the other
	// answers as if it came second.
	verified, unverified := true, false
	u, err = m.Users.UpdateUser(ctx, u.ID, UserUpdate{IsVerified: &verified, IfVerified: &unverified})
	if ErrorCode(err) == CodeConflict {
		return nil, &Error{Code: CodeVerifyUserAlreadyVerified}
	}
	if err != nil {
		return nil, err
	}
	return u, m.hooks().AfterVerify(ctx, u)
}

// ForgotPassword starts a password reset: for an active user with this
// e-mail it makes a single-use token and hands it to the
// AfterForgotPassword hook (which mails it). Unknown and inactive users get
// nothing, after the same work.
func (m *Manager) ForgotPassword(ctx context.Context, email string) error {
	u, err := m.lookupForFlow(ctx, email)
	if err != nil {
		return err
	}
	eligible := u != nil && u.IsActive
	token, err := m.signFlow(AudienceReset, resetClaims(u, eligible), m.ResetTTL)
	if err != nil || !eligible {
		return err
	}
	return m.hooks().AfterForgotPassword(ctx, u, token)
}

// ResetPassword sets a new password with a reset token, checking in the
// contract's order: the token (signature, audience, expiry, claims), the
// user it names, that the password is unchanged since the token was made
// (so a token works once), that the user is active, then the new password.
func (m *Manager) ResetPassword(ctx context.Context, token, password string) (*User, error) {
	bad := &Error{Code: CodeResetPasswordBadToken}
	if m.Tokens == nil {
		return nil, errors.New("gatehouse: ResetPassword: Manager.Tokens is not set")
	}
	claims, err := m.Tokens.Parse(token, AudienceReset)
	if err != nil {
		return nil, bad
	}
	sub, fgpt := claims["sub"], claims["password_fgpt"]
	if sub == "" || fgpt == "" {
		return nil, bad
	}
	id, err := ParseID(sub)
	if err != nil {
		return nil, bad
	}
	u, err := m.Users.FindUserByID(ctx, id)
	switch ErrorCode(err) {
	case "":
	case CodeNotFound:
		return nil, bad
	default:
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(fgpt), []byte(fingerprint(u.HashedPassword))) != 1 || !u.IsActive {
		return nil, bad
	}
	if err := m.validatePassword(ctx, password, u, CodeResetPasswordInvalidPassword); err != nil {
		return nil, err
	}
	hash, err := m.Hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	// Conditional on the hash the token was bound to: of two concurrent
	// resets with one token, the second finds it changed.
	old := u.HashedPassword
	u, err = m.Users.UpdateUser(ctx, u.ID, UserUpdate{HashedPassword: &hash, IfHashedPassword: &old})
	if ErrorCode(err) == CodeConflict {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	return u, m.hooks().AfterResetPassword(ctx, u)
}

// lookupForFlow finds a user for a flow that must not reveal whether the
// e-mail exists: not found is a nil user, not an error.
func (m *Manager) lookupForFlow(ctx context.Context, email string) (*User, error) {
	u, err := m.Users.FindUserByEmail(ctx, email)
	if ErrorCode(err) == CodeNotFound {
		return nil, nil
	}
	return u, err
}

// signFlow signs a flow token. It signs even for a user who gets nothing,
// so that both cases cost the same.
func (m *Manager) signFlow(aud string, claims map[string]string, ttl time.Duration) (string, error) {
	if m.Tokens == nil {
		return "", errors.New("gatehouse: Manager.Tokens is not set")
	}
	if ttl <= 0 {
		ttl = defaultFlowTTL
	}
	return m.Tokens.Sign(aud, claims, ttl)
}

// verifyClaims and resetClaims shape the claims of a token. For users who
// get none, a stand-in of the same shape keeps the work the same.
func verifyClaims(u *User, eligible bool) map[string]string {
	if !eligible {
		u = &User{Email: "nobody@invalid"}
	}
	return map[string]string{"sub": u.ID.String(), "email": u.Email}
}

func resetClaims(u *User, eligible bool) map[string]string {
	if !eligible {
		u = &User{HashedPassword: "$argon2id$"}
	}
	return map[string]string{"sub": u.ID.String(), "password_fgpt": fingerprint(u.HashedPassword)}
}

// fingerprint ties a reset token to the password hash it was made for: any
// change of the hash (a reset, a new password, a rehash at login) kills the
// token. The hash is salted and random, so its digest reveals nothing
// usable; the token's signature keeps it from being forged.
func fingerprint(hashedPassword string) string {
	sum := sha256.Sum256([]byte(hashedPassword))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
