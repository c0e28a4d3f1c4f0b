package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse"
)

func (a *api) superuser() gatehouse.Requirement {
	req := a.user
	req.Superuser = true
	return req
}

func (a *api) getMe(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeUser(w, r, http.StatusOK, auth.User)
}

// patchMe is the "safe" update: flags in the body are ignored.
func (a *api) patchMe(w http.ResponseWriter, r *http.Request) {
	obj, err := a.readObject(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	auth, err := a.owner(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.update(w, r, auth, auth.User, obj, true)
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	u, err := a.userByPath(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeUser(w, r, http.StatusOK, u)
}

// patchUser is the "unsafe" update of a superuser: flags apply.
func (a *api) patchUser(w http.ResponseWriter, r *http.Request) {
	obj, err := a.readObject(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	auth, u, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.update(w, r, auth, u, obj, false)
}

func (a *api) deleteUser(w http.ResponseWriter, r *http.Request) {
	auth, u, err := a.userByPathWithAuth(r)
	if err == nil {
		// Sessions go first: in Redis they do not cascade from the user.
		err = a.endSessionsAfter(r, u.ID, gatehouse.ID{})
	}
	if err == nil {
		err = a.Manager.Delete(r.Context(), u)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditUserDeleted, u.ID)
	e.ActorID = auth.User.ID
	a.record(r, e)
	a.revokeUser(r, u.ID)
	w.WriteHeader(http.StatusNoContent)
}

// revokeUser ends the tokens a deleted user still has in stores that do not
// cascade from the user table (Redis). They could not authenticate anyway,
// as their user is gone; this only stops them from lingering.
func (a *api) revokeUser(r *http.Request, id gatehouse.ID) {
	for _, b := range a.Authenticator.Backends() {
		// Backends may share a strategy; revoking twice is harmless.
		rev, ok := b.Strategy.(gatehouse.UserTokenRevoker)
		if !ok {
			continue
		}
		if err := rev.RevokeUser(r.Context(), id); err != nil {
			a.Logger.WarnContext(r.Context(), "revoking a deleted user's tokens", "user_id", id.String(), "error", err)
		}
	}
}

// userByPath authenticates a superuser, then finds the user named by the
// path: 401, then 403, then 404, in the contract's order. An id that is
// not a UUID is simply not found.
func (a *api) userByPath(r *http.Request) (*gatehouse.User, error) {
	_, u, err := a.userByPathWithAuth(r)
	return u, err
}

// userByPathWithAuth is userByPath that also returns the superuser's Auth.
func (a *api) userByPathWithAuth(r *http.Request) (*gatehouse.Auth, *gatehouse.User, error) {
	auth, err := a.authenticate(r, a.superuser())
	if err != nil {
		return nil, nil, err
	}
	id, err := gatehouse.ParseID(r.PathValue("id"))
	if err != nil {
		return nil, nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	u, err := a.Manager.Users.FindUserByID(r.Context(), id)
	return auth, u, err
}

// update validates the body (after authentication, as FastAPI does) and
// applies it to u.
func (a *api) update(w http.ResponseWriter, r *http.Request, auth *gatehouse.Auth, u *gatehouse.User, obj object, safe bool) {
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := decoder{obj: obj.fields}
	var c gatehouse.UserChange
	if s, ok := d.str("password", false); ok {
		c.Password = &s
	}
	if s, ok := d.email("email", false); ok {
		c.Email = &s
	}
	for _, flag := range []struct {
		key string
		dst **bool
	}{{"is_active", &c.IsActive}, {"is_superuser", &c.IsSuperuser}, {"is_verified", &c.IsVerified}} {
		if v, ok := d.boolean(flag.key); ok {
			*flag.dst = &v
		}
	}
	c.Fields = d.custom(a.Fields, false)
	if !a.done(w, r, &d) {
		return
	}
	updated, err := a.Manager.Update(r.Context(), u, c, safe)
	if err != nil && updated == nil {
		a.writeError(w, r, err)
		return
	}
	a.recordUpdate(r, auth, u, updated, c.Password != nil)
	// A new password logs the account out everywhere else, and so does a
	// deactivation; the session making the change is kept.
	if (c.Password != nil && !a.KeepSessionsOnPasswordChange) || (!updated.IsActive && u.IsActive) {
		keep := gatehouse.ID{}
		if auth.User.ID == u.ID {
			keep = auth.Principal.SessionID
		}
		if endErr := a.endSessionsAfter(r, u.ID, keep); endErr != nil {
			a.writeError(w, r, endErr)
			return
		}
	}
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "after-update hook", "user_id", u.ID.String(), "error", err)
	}
	a.writeUser(w, r, http.StatusOK, updated)
}

// recordUpdate records the security-relevant parts of a change from u to
// updated made by auth's user: a new password, a new e-mail address, and
// a superuser flag set or cleared (a privilege change, recorded as
// roles.changed).
func (a *api) recordUpdate(r *http.Request, auth *gatehouse.Auth, u, updated *gatehouse.User, newPassword bool) {
	var events []gatehouse.AuditEvent
	if newPassword {
		events = append(events, succeededEvent(gatehouse.AuditPasswordChanged, u.ID))
	}
	if updated.Email != u.Email {
		events = append(events, succeededEvent(gatehouse.AuditEmailChanged, u.ID))
	}
	if updated.IsSuperuser != u.IsSuperuser {
		events = append(events, succeededEvent(gatehouse.AuditRolesChanged, u.ID, "is_superuser", strconv.FormatBool(updated.IsSuperuser)))
	}
	for _, e := range events {
		e.ActorID = auth.User.ID
		a.record(r, e)
	}
}

// listUsers answers GET /users?limit=&offset=&email= for superusers.
func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	if _, err := a.authenticate(r, a.superuser()); err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	var errs validationError
	limit := queryInt(q.Get("limit"), 50, 1, 100, "limit", &errs)
	offset := queryInt(q.Get("offset"), 0, 0, 1<<31-1, "offset", &errs)
	if len(errs) > 0 {
		a.writeError(w, r, errs)
		return
	}
	users, total, err := a.Manager.Users.FindUsers(r.Context(), gatehouse.UserFilter{
		Email: q.Get("email"), Limit: limit, Offset: offset,
	})
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page := userPage{Items: make([]userRead, 0, len(users)), Total: total}
	for _, u := range users {
		ur, err := a.userRead(r.Context(), u)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		page.Items = append(page.Items, ur)
	}
	writeJSON(w, http.StatusOK, page)
}

// queryInt parses an integer query parameter within [min, max].
func queryInt(s string, def, min, max int, name string, errs *validationError) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		*errs = append(*errs, invalid("int_parsing", "Input should be a valid integer, unable to parse string as an integer", s, "query", name)...)
	case n < min:
		*errs = append(*errs, invalid("greater_than_equal", "Input should be greater than or equal to "+strconv.Itoa(min), s, "query", name)...)
	case n > max:
		*errs = append(*errs, invalid("less_than_equal", "Input should be less than or equal to "+strconv.Itoa(max), s, "query", name)...)
	}
	return n
}
