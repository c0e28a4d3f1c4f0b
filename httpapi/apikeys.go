package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
)

// ScopeAPIKeys is the scope a request made with an API key needs to manage
// API keys: without it, a leaked key cannot mint more keys.
const ScopeAPIKeys = "api-keys"

// apiKeyJSON is an API key on the wire; Key is set only in the answer that
// creates it.
type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at"`
	Key        string     `json:"key,omitempty"`
}

func toAPIKeyJSON(k gatehouse.APIKey, withLastUse bool) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID.String(), Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC()}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	if !k.ExpiresAt.IsZero() {
		t := k.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	if withLastUse {
		// null until first used, present in lists
		var t *time.Time
		if !k.LastUsedAt.IsZero() {
			v := k.LastUsedAt.UTC()
			t = &v
		}
		out.LastUsedAt = t
	}
	return out
}

// createMyAPIKey answers POST /users/me/api-keys. Each scope must be a
// permission the caller holds (or ScopeAPIKeys); a request made with a key
// needs ScopeAPIKeys and can grant no more than its own scopes.
func (a *api) createMyAPIKey(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.readAuthed(w, r, a.user)
	if !ok {
		return
	}
	if scoped(auth) && !slices.Contains(auth.Principal.Scopes, ScopeAPIKeys) {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeForbidden})
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	name, ok := d.str("name", true)
	if ok && (name == "" || len(name) > 100) {
		d.fail("string_too_long", "String should have 1 to 100 characters", name, "name")
	}
	scopes, _ := d.strings("scopes", true, permissionName, "scope")
	var expires time.Time
	if s, ok := d.str("expires_at", false); ok {
		t, err := time.Parse(time.RFC3339Nano, s)
		switch {
		case err != nil:
			d.fail("datetime_parsing", "Input should be a valid datetime", s, "expires_at")
		case !t.After(time.Now()):
			d.fail("value_error", "Value error, expires_at must be in the future", s, "expires_at")
		default:
			expires = t.UTC()
		}
	}
	if !a.done(w, r, d) {
		return
	}
	subject, err := a.resolver.Subject(r.Context(), auth)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	for _, s := range scopes {
		allowed := subject.Can(s)
		if s == ScopeAPIKeys {
			allowed = !scoped(auth) || slices.Contains(auth.Principal.Scopes, ScopeAPIKeys)
		}
		if !allowed {
			a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeAPIKeyScopeNotAllowed})
			return
		}
	}
	key, prefix, hash := apikey.Generate()
	rec := gatehouse.APIKey{
		ID: gatehouse.NewID(), UserID: auth.User.ID, Name: name, Prefix: prefix, Hash: hash,
		Scopes: slices.Compact(slices.Sorted(slices.Values(scopes))), CreatedAt: time.Now().UTC(), ExpiresAt: expires,
	}
	if rec.Scopes == nil {
		rec.Scopes = []string{}
	}
	if err := a.APIKeys.CreateAPIKey(r.Context(), rec); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditAPIKeyCreated, auth.User.ID,
		"key_id", rec.ID.String(), "scopes", strings.Join(rec.Scopes, " ")))
	out := toAPIKeyJSON(rec, false)
	out.Key = key
	writeJSON(w, http.StatusCreated, out)
}

func (a *api) listMyAPIKeys(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.listAPIKeys(w, r, auth.User.ID)
}

func (a *api) listUserAPIKeys(w http.ResponseWriter, r *http.Request) {
	u, err := a.userByPath(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.listAPIKeys(w, r, u.ID)
}

func (a *api) listAPIKeys(w http.ResponseWriter, r *http.Request, userID gatehouse.ID) {
	keys, err := a.APIKeys.ListAPIKeys(r.Context(), userID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]apiKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toAPIKeyJSON(k, true))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) deleteMyAPIKey(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if scoped(auth) && !slices.Contains(auth.Principal.Scopes, ScopeAPIKeys) {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeForbidden})
		return
	}
	a.deleteAPIKey(w, r, auth.User.ID, auth.User.ID, r.PathValue("key_id"))
}

func (a *api) deleteUserAPIKey(w http.ResponseWriter, r *http.Request) {
	auth, u, err := a.userByPathWithAuth(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.deleteAPIKey(w, r, u.ID, auth.User.ID, r.PathValue("key_id"))
}

// deleteAPIKey deletes the key named raw of user userID, as asked by
// actor.
func (a *api) deleteAPIKey(w http.ResponseWriter, r *http.Request, userID, actor gatehouse.ID, raw string) {
	id, err := gatehouse.ParseID(raw)
	if err != nil {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	if err := a.APIKeys.DeleteAPIKey(r.Context(), userID, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	e := succeededEvent(gatehouse.AuditAPIKeyRevoked, userID, "key_id", id.String())
	e.ActorID = actor
	a.record(r, e)
	w.WriteHeader(http.StatusNoContent)
}

// scoped reports whether a request was made with a scoped credential (an
// API key), which may not manage the account beyond its scopes.
func scoped(auth *gatehouse.Auth) bool { return auth.Principal.Scopes != nil }

// owner authenticates a request that manages the caller's own account
// (password, e-mail, second factors, linked accounts). API keys may read
// the account but not manage it: a leaked key must not change how the
// account logs in, so they get 403.
func (a *api) owner(r *http.Request) (*gatehouse.Auth, error) {
	auth, err := a.authenticate(r, a.user)
	if err == nil && scoped(auth) {
		err = &gatehouse.Error{Code: gatehouse.CodeForbidden}
	}
	return auth, err
}

// authorize answers POST /authorize {"action","resource":{…}} for other
// services: the configured policies decide, deny by default.
func (a *api) authorize(w http.ResponseWriter, r *http.Request) {
	auth, obj, ok := a.readAuthed(w, r, a.user)
	if !ok {
		return
	}
	if obj.shapeErr != nil {
		a.writeError(w, r, obj.shapeErr)
		return
	}
	d := &decoder{obj: obj.fields}
	action, _ := d.str("action", true)
	var resource map[string]any
	if raw, ok := d.obj["resource"]; ok && d.present("resource") {
		if err := jsonUnmarshal(raw, &resource); err != nil || resource == nil {
			d.fail("dict_type", "Input should be a valid dictionary", rawInput(raw), "resource")
		}
	}
	if !a.done(w, r, d) {
		return
	}
	if resource == nil {
		resource = map[string]any{}
	}
	subject, err := a.resolver.Subject(r.Context(), auth)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	request := map[string]any{"method": r.Method, "path": r.URL.Path, "ip": a.client(r).IP, "time": time.Now().UTC()}
	dec := a.Policies.Evaluate(r.Context(), subject, action, resource, request)
	writeJSON(w, http.StatusOK, struct {
		Allow  bool   `json:"allow"`
		Reason string `json:"reason"`
	}{dec.Allow, dec.Reason})
}
