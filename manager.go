package gatehouse

import (
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"
)

// Manager runs the account flows on a UserStore: register, check
// credentials, update, delete, verify an e-mail, reset a password. It knows
// nothing of HTTP.
//
// Methods that change an account run the matching hooks after the change
// and return the changed user together with a hook's error, if any: the
// change stands, and the caller decides what to do with the error.
type Manager struct {
	Users     UserStore
	Hasher    Hasher
	Passwords PasswordValidator // nil accepts every password
	Hooks     Hooks             // nil is NopHooks

	// Tokens signs the verification and reset tokens; the flows that need
	// them fail without it.
	Tokens    Signer
	VerifyTTL time.Duration // lifetime of verification tokens; default 1h
	ResetTTL  time.Duration // lifetime of reset tokens; default 1h

	dummyMu   sync.Mutex
	dummyHash string // "" until a dummy hash was made
}

// UserCreate is a registration.
type UserCreate struct {
	Email    string
	Password string
	Fields   map[string]any
}

// Register creates an active, unverified, non-superuser account. The
// password is validated first, so an existing e-mail with a bad password
// gets the password error, as in the contract.
func (m *Manager) Register(ctx context.Context, c UserCreate) (*User, error) {
	u := &User{Email: c.Email, IsActive: true, Fields: c.Fields}
	if err := m.validatePassword(ctx, c.Password, u, CodeRegisterInvalidPassword); err != nil {
		return nil, err
	}
	switch _, err := m.Users.FindUserByEmail(ctx, c.Email); ErrorCode(err) {
	case "":
		return nil, &Error{Code: CodeRegisterUserAlreadyExists}
	case CodeNotFound:
	default:
		return nil, err
	}
	hash, err := m.Hasher.Hash(ctx, c.Password)
	if err != nil {
		return nil, err
	}
	u.HashedPassword = hash
	if err := m.Users.CreateUser(ctx, u); err != nil {
		if ErrorCode(err) == CodeConflict {
			// Lost a race with a concurrent registration: the unique
			// index decided.
			return nil, &Error{Code: CodeRegisterUserAlreadyExists}
		}
		return nil, err
	}
	return u, m.hooks().AfterRegister(ctx, u)
}

// Authenticate checks an e-mail and password. Unknown e-mail, wrong password
// and inactive account all give CodeLoginBadCredentials, and an unknown
// e-mail still costs one password hash so timing does not tell them apart.
// A hash with old parameters is replaced by a current one.
func (m *Manager) Authenticate(ctx context.Context, email, password string) (*User, error) {
	u, err := m.Users.FindUserByEmail(ctx, email)
	if err != nil {
		if ErrorCode(err) != CodeNotFound {
			return nil, err
		}
		if err := m.sameWork(ctx, password); err != nil {
			return nil, err
		}
		return nil, &Error{Code: CodeLoginBadCredentials}
	}
	if u.HashedPassword == NoPassword {
		// Same work as a wrong password: whether an account has a
		// password is nobody's business.
		if err := m.sameWork(ctx, password); err != nil {
			return nil, err
		}
		return nil, &Error{Code: CodeLoginBadCredentials}
	}
	ok, rehash, err := m.Hasher.Verify(ctx, password, u.HashedPassword)
	if err != nil {
		return nil, err
	}
	if !ok || !u.IsActive {
		return nil, &Error{Code: CodeLoginBadCredentials}
	}
	if rehash != "" {
		updated, err := m.Users.UpdateUser(ctx, u.ID, UserUpdate{HashedPassword: &rehash})
		if err != nil {
			return nil, err
		}
		u = updated
	}
	return u, nil
}

// dummy returns a hash of a random password, made on first use, that
// Authenticate verifies against when there is no real hash to check. Only
// a success is kept: a first attempt refused (no hashing slot, a canceled
// request) must not turn the equal-work defence off for good.
func (m *Manager) dummy(ctx context.Context) (string, error) {
	m.dummyMu.Lock()
	defer m.dummyMu.Unlock()
	if m.dummyHash == "" {
		h, err := m.Hasher.Hash(ctx, rand.Text())
		if err != nil {
			return "", err
		}
		m.dummyHash = h
	}
	return m.dummyHash, nil
}

// sameWork spends on password the work of checking a real hash, for
// answers that must not be told apart from a wrong password by their
// timing. A refusal (no hashing slot, context ended) is returned as it
// would be for a real account: answering bad credentials instead would
// tell the two apart.
func (m *Manager) sameWork(ctx context.Context, password string) error {
	dummy, err := m.dummy(ctx)
	if err != nil {
		return err
	}
	_, _, err = m.Hasher.Verify(ctx, password, dummy)
	return err
}

// Registered runs the AfterRegister hook for a user created outside
// Register, such as by a first login with an identity provider.
func (m *Manager) Registered(ctx context.Context, u *User) error {
	return m.hooks().AfterRegister(ctx, u)
}

// LoggedIn runs the AfterLogin hook; call it once a token was issued.
func (m *Manager) LoggedIn(ctx context.Context, u *User) error {
	return m.hooks().AfterLogin(ctx, u)
}

// UserChange is an update as a client asks for it: only non-nil fields
// change. Password is plain text; the Manager validates and hashes it.
type UserChange struct {
	Email       *string
	Password    *string
	IsActive    *bool
	IsSuperuser *bool
	IsVerified  *bool
	Fields      map[string]any
}

// Update applies a change to u. A safe update (a user changing themself)
// ignores IsActive, IsSuperuser and IsVerified. The password is checked
// before the e-mail. A changed e-mail clears IsVerified unless an unsafe
// update sets it explicitly.
func (m *Manager) Update(ctx context.Context, u *User, c UserChange, safe bool) (*User, error) {
	var upd UserUpdate
	var changed []string
	if c.Password != nil {
		if err := m.validatePassword(ctx, *c.Password, u, CodeUpdateUserInvalidPassword); err != nil {
			return nil, err
		}
		hash, err := m.Hasher.Hash(ctx, *c.Password)
		if err != nil {
			return nil, err
		}
		upd.HashedPassword = &hash
		changed = append(changed, "password")
	}
	if c.Email != nil && *c.Email != u.Email {
		switch _, err := m.Users.FindUserByEmail(ctx, *c.Email); ErrorCode(err) {
		case "":
			return nil, &Error{Code: CodeUpdateUserEmailAlreadyExists}
		case CodeNotFound:
		default:
			return nil, err
		}
		upd.Email = c.Email
		notVerified := false
		upd.IsVerified = &notVerified
		changed = append(changed, "email")
	}
	if !safe {
		if c.IsActive != nil {
			upd.IsActive = c.IsActive
			changed = append(changed, "is_active")
		}
		if c.IsSuperuser != nil {
			upd.IsSuperuser = c.IsSuperuser
			changed = append(changed, "is_superuser")
		}
		if c.IsVerified != nil {
			upd.IsVerified = c.IsVerified
			changed = append(changed, "is_verified")
		}
	}
	if len(c.Fields) > 0 {
		upd.Fields = c.Fields
		changed = append(changed, slices.Sorted(maps.Keys(c.Fields))...)
	}
	updated, err := m.Users.UpdateUser(ctx, u.ID, upd)
	if err != nil {
		if ErrorCode(err) == CodeConflict {
			return nil, &Error{Code: CodeUpdateUserEmailAlreadyExists}
		}
		return nil, err
	}
	return updated, m.hooks().AfterUpdate(ctx, updated, changed)
}

// Delete removes u, running BeforeDelete (which can stop it) and AfterDelete.
func (m *Manager) Delete(ctx context.Context, u *User) error {
	if err := m.hooks().BeforeDelete(ctx, u); err != nil {
		return err
	}
	if err := m.Users.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	return m.hooks().AfterDelete(ctx, u)
}

func (m *Manager) hooks() Hooks {
	if m.Hooks == nil {
		return NopHooks{}
	}
	return m.Hooks
}

// validatePassword runs the validator and gives a rejection the code of the
// route that asked (code), keeping its reason.
func (m *Manager) validatePassword(ctx context.Context, password string, u *User, code Code) error {
	if m.Passwords == nil {
		return nil
	}
	err := m.Passwords.ValidatePassword(ctx, password, u)
	var e *Error
	if errors.As(err, &e) && e.Code == CodeInvalidPassword {
		return &Error{Code: code, Reason: e.Reason}
	}
	return err
}
