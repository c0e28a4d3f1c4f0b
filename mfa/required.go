package mfa

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse"
)

// Requirement returns who must have a second factor:
// gatehouse.MFARequiredNobody, MFARequiredSuperusers or
// MFARequiredEveryone.
func (s *Service) Requirement(ctx context.Context) (string, error) {
	if s.cfg.Settings == nil {
		return gatehouse.MFARequiredNobody, nil
	}
	v, err := s.cfg.Settings.Setting(ctx, gatehouse.SettingMFARequired)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		return gatehouse.MFARequiredNobody, nil
	case err != nil:
		return "", err
	}
	return v, nil
}

// SetRequirement sets who must have a second factor. It applies from each
// user's next login: a user who must and has none is then asked to add
// one before the login completes. Sessions already open stay.
func (s *Service) SetRequirement(ctx context.Context, who string) error {
	switch who {
	case gatehouse.MFARequiredNobody, gatehouse.MFARequiredSuperusers, gatehouse.MFARequiredEveryone:
	default:
		return gatehouse.Errorf(gatehouse.CodeBadRequest, "mfa: required is one of nobody, superusers, everyone, not %q", who)
	}
	if s.cfg.Settings == nil {
		return errors.New("mfa: no setting store to keep who must have a second factor")
	}
	return s.cfg.Settings.SetSetting(ctx, gatehouse.SettingMFARequired, who)
}

// Required reports whether u must have a second factor. A value of the
// setting this version does not know requires one of everyone: failing
// closed.
func (s *Service) Required(ctx context.Context, u *gatehouse.User) (bool, error) {
	who, err := s.Requirement(ctx)
	if err != nil {
		return false, err
	}
	switch who {
	case gatehouse.MFARequiredNobody:
		return false, nil
	case gatehouse.MFARequiredSuperusers:
		return u.IsSuperuser, nil
	}
	return true, nil
}

// SetupDue reports whether u must add a second factor before a login
// completes: u must have one, and has none.
func (s *Service) SetupDue(ctx context.Context, u *gatehouse.User) (bool, error) {
	if on, err := s.Enabled(ctx, u.ID); err != nil || on {
		return false, err
	}
	return s.Required(ctx, u)
}

// MayRemove refuses, with CodeMFARequired, to let u remove their TOTP
// (totp true) or one of their passkeys when that would leave u, who must
// have a second factor, without one. A superuser's reset of another
// user's factors does not ask: that user sets one up at the next login.
func (s *Service) MayRemove(ctx context.Context, u *gatehouse.User, totp bool) error {
	st, err := s.factors(ctx, u.ID)
	if err != nil {
		return err
	}
	left := st.Passkeys
	if st.TOTP {
		left++
	}
	if totp && st.TOTP || !totp && st.Passkeys > 0 {
		left--
	}
	if left > 0 {
		return nil
	}
	switch must, err := s.Required(ctx, u); {
	case err != nil:
		return err
	case must:
		return &gatehouse.Error{Code: gatehouse.CodeMFARequired}
	}
	return nil
}

// BeginTOTPStep begins enrolling an authenticator app during the login of
// an mfa_token given to u, who must set up a second factor
// (LOGIN_MFA_SETUP_REQUIRED): as BeginTOTP, for a user who has no second
// factor yet.
func (s *Service) BeginTOTPStep(ctx context.Context, token string, u *gatehouse.User) (Enrolment, error) {
	if _, err := s.setupChallenge(ctx, token, u); err != nil {
		return Enrolment{}, err
	}
	return s.BeginTOTP(ctx, u)
}

// ConfirmTOTPStep confirms the authenticator app enrolled during the login
// of an mfa_token with a first code, and returns the user's new recovery
// codes. The login then completes with Complete and no code: the code just
// given proved the factor.
func (s *Service) ConfirmTOTPStep(ctx context.Context, token, code string) ([]string, error) {
	c, err := s.Pending(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.noFactorYet(ctx, c.UserID); err != nil {
		return nil, err
	}
	codes, err := s.ConfirmTOTP(ctx, c.UserID, code)
	if err != nil {
		return nil, err
	}
	st := s.challengeState(c)
	st.Enrolled = true
	if err := s.saveChallengeState(ctx, c, st); err != nil {
		return nil, err
	}
	return codes, nil
}

// noFactorYet refuses the enrolment steps of a login to a user who has a
// second factor: that login asks for it instead.
func (s *Service) noFactorYet(ctx context.Context, userID gatehouse.ID) error {
	switch on, err := s.Enabled(ctx, userID); {
	case err != nil:
		return err
	case on:
		return &gatehouse.Error{Code: gatehouse.CodeMFATOTPAlreadyEnabled}
	}
	return nil
}

// BeginSetupPasskey begins adding a passkey during the login of an
// mfa_token given to u, who must set up a second factor: as BeginPasskey,
// for a user who has no second factor yet.
func (s *Service) BeginSetupPasskey(ctx context.Context, token string, u *gatehouse.User) (Ceremony, error) {
	if err := s.needPasskeys(); err != nil {
		return Ceremony{}, err
	}
	if _, err := s.setupChallenge(ctx, token, u); err != nil {
		return Ceremony{}, err
	}
	return s.BeginPasskey(ctx, u)
}

// FinishSetupPasskey adds the passkey of BeginSetupPasskey's ceremony, as
// FinishPasskey does, and returns it with the user's recovery codes. The
// login then completes with Complete and no code: the passkey's answer
// proved the factor.
func (s *Service) FinishSetupPasskey(ctx context.Context, token string, u *gatehouse.User, state, name string, response []byte) (*gatehouse.Passkey, []string, error) {
	if err := s.needPasskeys(); err != nil {
		return nil, nil, err
	}
	c, err := s.setupChallenge(ctx, token, u)
	if err != nil {
		return nil, nil, err
	}
	p, codes, err := s.FinishPasskey(ctx, u, state, name, response)
	if err != nil {
		return nil, nil, err
	}
	st := s.challengeState(c)
	st.Enrolled = true
	if err := s.saveChallengeState(ctx, c, st); err != nil {
		return nil, nil, err
	}
	return p, codes, nil
}

// setupChallenge returns the live challenge of token if it is u's and u
// has no second factor yet.
func (s *Service) setupChallenge(ctx context.Context, token string, u *gatehouse.User) (*gatehouse.MFAChallenge, error) {
	c, err := s.Pending(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.UserID != u.ID {
		return nil, &gatehouse.Error{Code: gatehouse.CodeMFABadToken}
	}
	if err := s.noFactorYet(ctx, u.ID); err != nil {
		return nil, err
	}
	return c, nil
}
