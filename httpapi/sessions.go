package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
)

// refresh answers POST /auth/NAME/refresh: the refresh token comes from the
// transport (the cookie transport's refresh cookie) or from the body, as
// JSON {"refresh_token"} or the OAuth form grant_type=refresh_token. The
// answer has the shape of the backend's login answer, with the successor.
func (a *api) refresh(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := a.Authenticator.Backend(name)
		sessions := a.Authenticator.Sessions()
		if err := a.Authenticator.CheckCrossOrigin(r, b); err != nil {
			a.writeError(w, r, err)
			return
		}
		token, err := a.refreshToken(w, r, b)
		if err == nil {
			err = a.check(r, a.limits.policy(refreshPolicy), "", AuditThrottled)
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		ctx := r.Context()
		sess, next, err := sessions.Refresh(ctx, token, name)
		if err != nil {
			// A reused token is a theft alarm: its session has just
			// ended. The store does not say whose it was.
			event := gatehouse.AuditTokenRefreshed
			if gatehouse.ErrorCode(err) == gatehouse.CodeRefreshTokenReused {
				event = gatehouse.AuditRefreshReused
			}
			a.record(r, failedEvent(event, gatehouse.ID{}, err, "backend", name))
			a.writeError(w, r, err)
			return
		}
		u, err := a.Manager.Users.FindUserByID(ctx, sess.UserID)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound, err == nil && !u.IsActive,
			err == nil && a.RequireVerification && !u.IsVerified:
			// The session outlived its right to exist: end it.
			if endErr := sessions.End(ctx, sess.ID); endErr != nil {
				a.Logger.WarnContext(ctx, "ending a session of an inactive user", "error", endErr)
			}
			err = &gatehouse.Error{Code: gatehouse.CodeRefreshTokenInvalid}
		}
		if err == nil {
			u, err = a.withRoles(ctx, u)
		}
		var tok gatehouse.Token
		if err == nil {
			tok, err = b.Strategy.Write(ctx, u, sess.ID)
		}
		if err != nil {
			a.record(r, failedEvent(gatehouse.AuditTokenRefreshed, sess.UserID, err, "backend", name, "session_id", sess.ID.String()))
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditTokenRefreshed, u.ID, "backend", name, "session_id", sess.ID.String()))
		tok.RefreshToken = next
		if err := b.Transport.WriteLogin(w, r, tok); err != nil {
			a.Logger.ErrorContext(ctx, "write refresh response", "backend", name, "error", err)
		}
	}
}

// refreshToken finds the refresh token of a refresh request.
func (a *api) refreshToken(w http.ResponseWriter, r *http.Request, b *gatehouse.Backend) (string, error) {
	if rt, ok := b.Transport.(gatehouse.RefreshTransport); ok {
		if token, ok := rt.RefreshCredential(r); ok {
			return token, nil
		}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		form, err := a.readForm(w, r)
		if err != nil {
			return "", err
		}
		var errs validationError
		if v, ok := form["grant_type"]; !ok || len(v) == 0 || v[0] != "refresh_token" {
			errs = append(errs, invalid("string_pattern_mismatch", "String should match pattern '^refresh_token$'", first(v), "body", "grant_type")...)
		}
		token, ok := formValue(form, "refresh_token")
		if !ok {
			errs = append(errs, missing("body", "refresh_token")...)
		}
		if len(errs) > 0 {
			return "", errs
		}
		return token, nil
	}
	obj, err := a.readObject(w, r)
	if err == nil {
		err = obj.shapeErr
	}
	if err != nil {
		return "", err
	}
	d := decoder{obj: obj.fields}
	token, _ := d.str("refresh_token", true)
	return token, d.err()
}

func first(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}

// sessionRead is a session as GET …/sessions shows it.
type sessionRead struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Backend    string    `json:"backend"`
	Current    bool      `json:"current"`
}

func readSessions(list []gatehouse.Session, current gatehouse.ID) []sessionRead {
	out := make([]sessionRead, 0, len(list))
	for _, s := range list {
		out = append(out, sessionRead{
			ID:         s.ID.String(),
			CreatedAt:  s.CreatedAt.UTC(),
			LastUsedAt: s.LastUsedAt.UTC(),
			ExpiresAt:  s.IdleExpiresAt.UTC(), // the sooner of the two expiries
			UserAgent:  s.UserAgent,
			IP:         s.IP,
			Backend:    s.Backend,
			Current:    s.ID == current,
		})
	}
	return out
}

func (a *api) listMySessions(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.listSessions(w, r, auth.User.ID, auth.Principal.SessionID)
}

func (a *api) listUserSessions(w http.ResponseWriter, r *http.Request) {
	auth, u, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.listSessions(w, r, u.ID, auth.Principal.SessionID)
}

func (a *api) listSessions(w http.ResponseWriter, r *http.Request, userID, current gatehouse.ID) {
	list, err := a.Authenticator.Sessions().List(r.Context(), userID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, readSessions(list, current))
}

// endMySession ends one of the caller's sessions. Another user's session
// is as not found as one that does not exist.
func (a *api) endMySession(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	sessions := a.Authenticator.Sessions()
	id, err := gatehouse.ParseID(r.PathValue("sid"))
	if err != nil {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	sess, err := sessions.Find(r.Context(), id)
	if err == nil && sess.UserID != auth.User.ID {
		err = &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	if err == nil {
		err = sessions.End(r.Context(), id)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditSessionEnded, auth.User.ID, "session_id", id.String()))
	w.WriteHeader(http.StatusNoContent)
}

// endMyOtherSessions ends every session of the caller but the current one.
func (a *api) endMyOtherSessions(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.Authenticator.Sessions().EndUser(r.Context(), auth.User.ID, auth.Principal.SessionID); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditSessionEnded, auth.User.ID, "sessions", "others"))
	w.WriteHeader(http.StatusNoContent)
}

// endUserSessions ends every session of a user (superuser).
func (a *api) endUserSessions(w http.ResponseWriter, r *http.Request) {
	auth, u, err := a.userByPathWithAuth(r)
	if err == nil {
		err = a.Authenticator.Sessions().EndUser(r.Context(), u.ID, gatehouse.ID{})
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditSessionEnded, u.ID, "sessions", "all")
	e.ActorID = auth.User.ID
	a.record(r, e)
	w.WriteHeader(http.StatusNoContent)
}

// endSessionsAfter ends a user's sessions after a change that must log
// them out elsewhere (a new password, a deactivation), keeping the one
// making the change. It fails the request if they cannot be ended: the
// caller asked for a change whose point is that they end.
func (a *api) endSessionsAfter(r *http.Request, userID, keep gatehouse.ID) error {
	sessions := a.Authenticator.Sessions()
	if sessions == nil {
		return nil
	}
	return sessions.EndUser(r.Context(), userID, keep)
}
