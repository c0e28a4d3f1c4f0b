package pages

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// account is what the account page shows, read from the API.
type account struct {
	Email               string
	Verified, Superuser bool
	// Fields are the app's custom user fields, in the API's order.
	Fields     []shownField
	Roles      []string
	SessionsOn bool
	Sessions   []sessionRow
	KeysOn     bool
	Keys       []keyRow
	Scopes     []string        // what a new key may be given
	Checked    map[string]bool // scopes ticked in a form being re-shown
	Expires    string          // expiry picked in a form being re-shown
	LinkedOn   bool
	Linked     []linkedRow
	// MFAOn says whether the API has second factors; TOTP whether the
	// user has an authenticator app, CodesLeft their unused recovery codes.
	MFAOn, TOTP bool
	CodesLeft   int
	// MFARequired says the site requires a second factor of the user: the
	// last one cannot be removed.
	MFARequired bool
	// PasskeysOn says whether the API has passkeys; Passkeys are the
	// user's, oldest first.
	PasskeysOn bool
	Passkeys   []passkeyRow
}

// passkeyRow is a passkey, with the password field of its remove form.
type passkeyRow struct {
	ID, Name, Added, LastUsed string
	Password                  *field
}

type shownField struct{ Label, Value string }

type sessionRow struct {
	ID, Device, IP, Created, LastUsed string
	Current                           bool
}

type keyRow struct {
	ID, Name, Prefix, Created, LastUsed, Expires string
	Scopes                                       []string
}

type linkedRow struct{ ID, Provider, Email string }

// newKey is a key just made, shown once.
type newKey struct{ Name, Key string }

// expiries are the lifetimes a new API key may have, by form value.
var expiries = map[string]time.Duration{
	"30d": 30 * 24 * time.Hour, "90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour,
}

func (h *handler) accountView(w http.ResponseWriter, r *http.Request) *view {
	return h.newView(w, r, "Your account", append(append(newPasswordFields(),
		&field{ID: "key-name", Name: "name", Label: "Name of the key", Type: "text", Autocomplete: "off", Required: true,
			Hint: "Say where you use it, for example “backup script”."}),
		append(mfaFields(), &field{ID: "passkey-name", Name: "name", Label: "Name of the passkey", Type: "text", Autocomplete: "off",
			Hint: "Optional. Say which device or key holds it, for example “work laptop”."})...)...)
}

func (h *handler) getAccount(w http.ResponseWriter, r *http.Request) {
	c := h.client(w, r)
	v := h.accountView(w, r)
	v.Notice = notice(r)
	h.showAccount(w, r, c, v, http.StatusOK)
}

// showAccount loads the account and renders it with status, or sends the
// browser to the login page when it is not logged in.
func (h *handler) showAccount(w http.ResponseWriter, r *http.Request, c *client, v *view, status int) {
	acc, res := h.loadAccount(c)
	switch {
	case res == nil:
		if v.Account != nil { // a form being re-shown keeps its choices
			acc.Checked, acc.Expires = v.Account.Checked, v.Account.Expires
		}
		v.Account = acc
		v.Passkeys = acc.PasskeysOn
		for i := range acc.Passkeys {
			acc.Passkeys[i].Password = v.passkeyPassword(acc.Passkeys[i].ID, acc.Passkeys[i].Name)
		}
		if len(acc.Passkeys) > 0 {
			v.F["mfa-password"].Hint = "Logging in then asks for one of your passkeys instead."
		}
		h.render(w, r, status, "account", v)
	case res.status == http.StatusUnauthorized:
		http.Redirect(w, r, h.prefix+LoginPath+"?next="+url.QueryEscape(h.prefix+AccountPath), http.StatusSeeOther)
	default:
		v.failAPI(readError(res))
		h.render(w, r, res.status, "message", v)
	}
}

// loadAccount reads the user and the sections whose features are on (the
// API answers 404 for the routes of those that are off). It returns the
// failed answer when a read fails.
func (h *handler) loadAccount(c *client) (*account, *result) {
	res := c.authed(http.MethodGet, "/users/me", nil)
	if !res.ok() {
		return nil, res
	}
	acc := &account{}
	if err := acc.readUser(res.body); err != nil {
		return nil, &result{status: http.StatusBadGateway}
	}

	var mfa struct {
		TOTP          bool `json:"totp"`
		RecoveryCodes int  `json:"recovery_codes"`
		Required      bool `json:"required"`
	}
	if on, res := section(c, "/users/me/mfa", &mfa); res != nil {
		return nil, res
	} else if on {
		acc.MFAOn, acc.TOTP, acc.CodesLeft, acc.MFARequired = true, mfa.TOTP, mfa.RecoveryCodes, mfa.Required
		// GET /users/me/mfa answers an empty passkey list both when the
		// user has none and when the API has no passkeys; only the list's
		// own route (404 when they are off) tells the two apart.
		var keys []struct {
			ID         string     `json:"id"`
			Name       string     `json:"name"`
			CreatedAt  time.Time  `json:"created_at"`
			LastUsedAt *time.Time `json:"last_used_at"`
		}
		if on, res := section(c, "/users/me/mfa/passkeys", &keys); res != nil {
			return nil, res
		} else if on {
			acc.PasskeysOn = true
			for _, k := range keys {
				row := passkeyRow{ID: k.ID, Name: k.Name, Added: when(k.CreatedAt), LastUsed: "Never"}
				if row.Name == "" {
					row.Name = "Unnamed passkey"
				}
				if k.LastUsedAt != nil {
					row.LastUsed = when(*k.LastUsedAt)
				}
				acc.Passkeys = append(acc.Passkeys, row)
			}
		}
	}

	var sessions []struct {
		ID         string    `json:"id"`
		CreatedAt  time.Time `json:"created_at"`
		LastUsedAt time.Time `json:"last_used_at"`
		UserAgent  string    `json:"user_agent"`
		IP         string    `json:"ip"`
		Current    bool      `json:"current"`
	}
	if on, res := section(c, "/users/me/sessions", &sessions); res != nil {
		return nil, res
	} else if on {
		acc.SessionsOn = true
		for _, s := range sessions {
			device := s.UserAgent
			if device == "" {
				device = "Unknown device"
			}
			acc.Sessions = append(acc.Sessions, sessionRow{ID: s.ID, Device: device, IP: s.IP,
				Created: when(s.CreatedAt), LastUsed: when(s.LastUsedAt), Current: s.Current})
		}
	}

	var keys []struct {
		ID         string     `json:"id"`
		Name       string     `json:"name"`
		Prefix     string     `json:"prefix"`
		Scopes     []string   `json:"scopes"`
		CreatedAt  time.Time  `json:"created_at"`
		LastUsedAt *time.Time `json:"last_used_at"`
		ExpiresAt  *time.Time `json:"expires_at"`
	}
	if on, res := section(c, "/users/me/api-keys", &keys); res != nil {
		return nil, res
	} else if on {
		acc.KeysOn = true
		for _, k := range keys {
			row := keyRow{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, Created: when(k.CreatedAt),
				LastUsed: "Never", Expires: "Never"}
			if k.LastUsedAt != nil {
				row.LastUsed = when(*k.LastUsedAt)
			}
			if k.ExpiresAt != nil {
				row.Expires = when(*k.ExpiresAt)
			}
			acc.Keys = append(acc.Keys, row)
		}
	}

	var linked []struct {
		ID           string `json:"id"`
		OAuthName    string `json:"oauth_name"`
		AccountEmail string `json:"account_email"`
	}
	if on, res := section(c, "/users/me/oauth-accounts", &linked); res != nil {
		return nil, res
	} else if on {
		acc.LinkedOn = true
		for _, l := range linked {
			acc.Linked = append(acc.Linked, linkedRow{ID: l.ID, Provider: l.OAuthName, Email: l.AccountEmail})
		}
	}
	return acc, nil
}

// section reads a list of the account page into v. on is false when the
// feature is off (404); res is the answer when the read failed.
func section(c *client, path string, v any) (on bool, res *result) {
	res = c.authed(http.MethodGet, path, nil)
	switch {
	case res.status == http.StatusNotFound:
		return false, nil
	case !res.ok():
		return false, res
	case res.decode(v) != nil:
		return false, &result{status: http.StatusBadGateway}
	}
	return true, nil
}

// readUser reads a UserRead, keeping the order of the custom fields.
func (acc *account) readUser(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("pages: /users/me is not an object")
	}
	var perms []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		switch key {
		case "id", "is_active":
		case "email":
			err = json.Unmarshal(raw, &acc.Email)
		case "is_verified":
			err = json.Unmarshal(raw, &acc.Verified)
		case "is_superuser":
			err = json.Unmarshal(raw, &acc.Superuser)
		case "roles":
			err = json.Unmarshal(raw, &acc.Roles)
		case "permissions":
			err = json.Unmarshal(raw, &perms)
		default:
			acc.Fields = append(acc.Fields, shownField{Label: fieldLabel(key), Value: fieldValue(raw)})
		}
		if err != nil {
			return err
		}
	}
	// A key may carry the user's permissions, and the right to manage keys.
	acc.Scopes = slices.Compact(slices.Sorted(slices.Values(append(perms, "api-keys"))))
	return nil
}

// fieldLabel turns a field name ("first_name") into a label ("First name").
func fieldLabel(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// fieldValue shows a JSON value: strings as they are, null as "Not set",
// anything else as JSON.
func fieldValue(raw json.RawMessage) string {
	var s string
	switch {
	case string(raw) == "null":
		return "Not set"
	case json.Unmarshal(raw, &s) == nil:
		return s
	}
	return string(raw)
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// postAccount runs one of the account page's forms, named by its action.
func (h *handler) postAccount(w http.ResponseWriter, r *http.Request) {
	c := h.client(w, r)
	v := h.accountView(w, r)
	f := r.PostForm
	var res *result
	switch f.Get("action") {
	case "change-password":
		if !checkConfirm(v, r) {
			h.showAccount(w, r, c, v, http.StatusUnprocessableEntity)
			return
		}
		res = c.authed(http.MethodPatch, "/users/me", map[string]string{"password": f.Get("password")})
		if res.ok() {
			h.redirect(w, r, h.prefix+AccountPath, "password-changed")
			return
		}
		if e := readError(res); e.code == "UPDATE_USER_INVALID_PASSWORD" {
			v.fail("password", e.message())
		}
	case "end-session":
		res = c.authed(http.MethodDelete, "/users/me/sessions/"+url.PathEscape(f.Get("session")), nil)
		if res.ok() {
			h.redirect(w, r, h.prefix+AccountPath, "session-ended")
			return
		}
	case "end-other-sessions":
		res = c.authed(http.MethodDelete, "/users/me/sessions", nil)
		if res.ok() {
			h.redirect(w, r, h.prefix+AccountPath, "sessions-ended")
			return
		}
	case "end-all-sessions":
		// The others first: logging out ends the login the second call
		// needs.
		res = c.authed(http.MethodDelete, "/users/me/sessions", nil)
		if res.ok() {
			res = c.authed(http.MethodPost, "/auth/"+h.cfg.CookieBackend+"/logout", nil)
		}
		if res.ok() {
			h.redirect(w, r, h.prefix+LoginPath, "logged-out-all")
			return
		}
	case "create-key":
		h.createKey(w, r, c, v)
		return
	case "revoke-key":
		res = c.authed(http.MethodDelete, "/users/me/api-keys/"+url.PathEscape(f.Get("key")), nil)
		if res.ok() {
			h.redirect(w, r, h.prefix+AccountPath, "key-revoked")
			return
		}
	case "unlink":
		res = c.authed(http.MethodDelete, "/users/me/oauth-accounts/"+url.PathEscape(f.Get("account")), nil)
		if res.ok() {
			h.redirect(w, r, h.prefix+AccountPath, "unlinked")
			return
		}
	default:
		v.Message = "This form asks for nothing the account page does."
		h.render(w, r, http.StatusBadRequest, "message", v)
		return
	}
	if res.status == http.StatusUnauthorized {
		http.Redirect(w, r, h.prefix+LoginPath+"?next="+url.QueryEscape(h.prefix+AccountPath), http.StatusSeeOther)
		return
	}
	if len(v.Errors) == 0 {
		v.failAPI(readError(res))
	}
	h.showAccount(w, r, c, v, res.status)
}

// createKey makes an API key and renders the account page showing it, the
// only time it is ever shown; on failure it re-renders the form with the
// problems.
func (h *handler) createKey(w http.ResponseWriter, r *http.Request, c *client, v *view) {
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	v.F["key-name"].Value = name
	scopes := f["scope"]
	if scopes == nil {
		scopes = []string{}
	}
	body := map[string]any{"name": name, "scopes": scopes}
	if d, ok := expiries[f.Get("expires")]; ok {
		body["expires_at"] = time.Now().Add(d).UTC().Format(time.RFC3339)
	}
	res := c.authed(http.MethodPost, "/users/me/api-keys", body)
	if res.status == http.StatusUnauthorized {
		http.Redirect(w, r, h.prefix+LoginPath+"?next="+url.QueryEscape(h.prefix+AccountPath), http.StatusSeeOther)
		return
	}
	if !res.ok() {
		v.Account = &account{Checked: make(map[string]bool), Expires: f.Get("expires")}
		for _, s := range scopes {
			v.Account.Checked[s] = true
		}
		v.failAPI(readError(res), fieldName{api: "name", id: "key-name",
			missing: "Enter a name for the key.", invalid: "Enter a name of 1 to 100 characters."})
		h.showAccount(w, r, c, v, res.status)
		return
	}
	var created struct{ Name, Key string }
	if err := res.decode(&created); err != nil || created.Key == "" {
		v.fail("", "Something went wrong on our side. Try again in a moment.")
		h.showAccount(w, r, c, v, http.StatusBadGateway)
		return
	}
	v.NewKey = &newKey{Name: created.Name, Key: created.Key}
	v.F["key-name"].Value = ""
	// The page holds the key; like every page it is not cached (no-store).
	h.showAccount(w, r, c, v, http.StatusCreated)
}
