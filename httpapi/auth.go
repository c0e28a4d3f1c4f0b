package httpapi

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// login answers POST /auth/NAME/login: form fields username and password,
// checked in the contract's order, then the backend's token and response.
func (a *api) login(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := a.Authenticator.Backend(name)
		// A forged cross-site login would sign the victim in as the
		// attacker (login CSRF): cookie backends refuse it like any other
		// unsafe cookie request.
		if err := a.Authenticator.CheckCrossOrigin(r, b); err != nil {
			a.writeError(w, r, err)
			return
		}
		form, err := a.readForm(w, r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		var errs validationError
		if v, ok := form["grant_type"]; ok && len(v) > 0 && v[0] != "password" {
			errs = append(errs, invalid("string_pattern_mismatch", "String should match pattern '^password$'", v[0], "body", "grant_type")...)
		}
		username, ok := formValue(form, "username")
		if !ok {
			errs = append(errs, missing("body", "username")...)
		}
		password, ok := formValue(form, "password")
		if !ok {
			errs = append(errs, missing("body", "password")...)
		}
		if len(errs) > 0 {
			a.writeError(w, r, errs)
			return
		}
		// Counted before the password is checked, whoever the account
		// belongs to: a throttled guess costs no hash and learns nothing.
		if err := a.check(r, a.limits.policy(loginPolicy), username, gatehouse.AuditLoginFailed); err != nil {
			a.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		u, err := a.Manager.Authenticate(ctx, username, password)
		if err == nil && a.RequireVerification && !u.IsVerified {
			err = &gatehouse.Error{Code: gatehouse.CodeLoginUserNotVerified}
			a.record(r, failedEvent(gatehouse.AuditLoginFailed, u.ID, err, "backend", name))
		} else if err != nil {
			a.record(r, failedEvent(gatehouse.AuditLoginFailed, a.knownUser(ctx, username), err, "backend", name))
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		switch due, setup, err := a.secondStep(r, u); {
		case err != nil:
			a.writeError(w, r, err)
			return
		case due:
			// The password was right: the client is trusted for the
			// password step; the codes are counted on their own.
			a.succeeded(r, username)
			a.mfaRequired(w, r, u, name, setup)
			return
		}
		tok, err := a.issue(gatehouse.WithClient(ctx, a.client(r)), b, u)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.succeeded(r, username)
		a.record(r, succeededEvent(gatehouse.AuditLoginSucceeded, u.ID, "backend", name))
		if err := b.Transport.WriteLogin(w, r, tok); err != nil {
			a.Logger.ErrorContext(ctx, "write login response", "backend", name, "error", err)
			return
		}
		if err := a.Manager.LoggedIn(ctx, u); err != nil {
			a.Logger.ErrorContext(ctx, "after-login hook", "user_id", u.ID.String(), "error", err)
		}
	}
}

// knownUser is the id of the user with e-mail email, for the audit record
// of a failed login, or zero. The record never reaches the client, whose
// answer is the same either way; the username itself is not recorded, as
// users type passwords into it.
func (a *api) knownUser(ctx context.Context, email string) gatehouse.ID {
	if a.Audit == nil {
		return gatehouse.ID{}
	}
	u, err := a.Manager.Users.FindUserByEmail(ctx, email)
	if err != nil {
		return gatehouse.ID{}
	}
	return u.ID
}

// issue starts a session (when sessions are on) and writes an access token
// for it: a login's token, with the session's first refresh token.
func (a *api) issue(ctx context.Context, b *gatehouse.Backend, u *gatehouse.User) (gatehouse.Token, error) {
	u, err := a.withRoles(ctx, u)
	if err != nil {
		return gatehouse.Token{}, err
	}
	sessions := a.Authenticator.Sessions()
	if sessions == nil {
		return b.Strategy.Write(ctx, u, gatehouse.ID{})
	}
	sess, refresh, err := sessions.Start(ctx, u, b.Name)
	if err != nil {
		return gatehouse.Token{}, err
	}
	tok, err := b.Strategy.Write(ctx, u, sess.ID)
	if err != nil {
		// No token came of it: do not leave a session behind.
		if endErr := sessions.End(ctx, sess.ID); endErr != nil {
			a.Logger.WarnContext(ctx, "ending a session whose token failed", "error", endErr)
		}
		return gatehouse.Token{}, err
	}
	tok.RefreshToken = refresh
	return tok, nil
}

// withRoles returns a copy of u carrying its roles and permissions, for
// the token's claims, when role based access control is on.
func (a *api) withRoles(ctx context.Context, u *gatehouse.User) (*gatehouse.User, error) {
	if a.Roles == nil {
		return u, nil
	}
	roles, err := a.Roles.UserRoles(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	c := *u
	c.Roles, c.Permissions = roleNames(roles), rolePermissions(roles)
	return &c, nil
}

// logout answers POST /auth/NAME/logout. The token is destroyed by the
// strategy that accepted it, which may belong to another backend than
// NAME; NAME's transport writes the answer (clearing its cookie, say).
func (a *api) logout(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := a.Authenticator.Backend(name)
		auth, err := a.authenticate(r, a.user)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if err := auth.Backend.Strategy.Destroy(r.Context(), auth.Token); err != nil {
			a.writeError(w, r, err)
			return
		}
		if sessions := a.Authenticator.Sessions(); sessions != nil && !auth.Principal.SessionID.IsZero() {
			if err := sessions.End(r.Context(), auth.Principal.SessionID); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		a.record(r, succeededEvent(gatehouse.AuditLogout, auth.User.ID, "backend", auth.Backend.Name))
		if err := b.Transport.WriteLogout(w, r); err != nil {
			a.Logger.ErrorContext(r.Context(), "write logout response", "backend", name, "error", err)
		}
	}
}

// register answers POST /auth/register. Flags in the body are ignored: a
// registration is always active, unverified and not a superuser.
func (a *api) register(w http.ResponseWriter, r *http.Request) {
	d, ok := a.readDecoder(w, r)
	if !ok {
		return
	}
	email, _ := d.email("email", true)
	password, _ := d.str("password", true)
	fields := d.custom(a.Fields, true)
	if !a.done(w, r, d) {
		return
	}
	if err := a.check(r, a.limits.policy(registerPolicy), "", AuditThrottled); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Manager.Register(r.Context(), gatehouse.UserCreate{Email: email, Password: password, Fields: fields})
	if err != nil && u == nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditUserRegistered, u.ID))
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "after-register hook", "user_id", u.ID.String(), "error", err)
	}
	a.writeUser(w, r, http.StatusCreated, u)
}

// authenticate finds the request's user and applies req. With a Limiter,
// failed credentials are counted per client and a client over the limit
// is refused before its credential is checked (Limits.BadCredential).
func (a *api) authenticate(r *http.Request, req gatehouse.Requirement) (*gatehouse.Auth, error) {
	key, err := a.credentialGuard(r)
	if err != nil {
		return nil, err
	}
	auth, err := a.Authenticator.Authenticate(r)
	if err != nil {
		if key != "" && gatehouse.ErrorCode(err) == gatehouse.CodeUnauthorized {
			if lerr := a.countBadCredential(r.Context(), key); lerr != nil {
				return nil, lerr
			}
		}
		return nil, err
	}
	if err := req.Check(auth.User); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeForbidden {
			a.record(r, failedEvent(AuditAccessDenied, auth.User.ID, err, "route", r.Pattern))
		}
		return nil, err
	}
	return auth, nil
}
