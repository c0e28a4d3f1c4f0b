package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/oauth"
)

// OAuthProvider configures login with one identity provider.
type OAuthProvider struct {
	Flow *oauth.Flow
	// Backend names the backend whose login answer the callback gives;
	// default the first backend that has a login route.
	Backend string
	// CallbackURL and AssociateCallbackURL are the absolute URLs of
	// GET /auth/NAME/callback and GET /auth/associate/NAME/callback, as
	// registered at the provider.
	CallbackURL          string
	AssociateCallbackURL string
	// AssociateByEmail links a provider account to an existing user with
	// the same e-mail, when the provider says the e-mail is verified. Off,
	// such a login is refused (OAUTH_USER_ALREADY_EXISTS): an attacker who
	// controls a provider account with the victim's address would
	// otherwise log in as the victim.
	AssociateByEmail bool
	// ReturnURLs are where a browser flow (?redirect=true&return_to=…) may
	// be sent back to after the callback; anything else is refused.
	ReturnURLs []string
}

// csrfCookie is FastAPI Users' name for the OAuth CSRF cookie.
const csrfCookie = "fastapiusersoauthcsrf"

// stateLifetime is how long the CSRF cookie lives: the state token's own
// lifetime in the contract.
const stateLifetime = time.Hour

// oauthAuthorize answers GET …/authorize: the provider's URL (or, with
// ?redirect=true, a 302 to it) and the CSRF cookie the callback checks.
func (a *api) oauthAuthorize(name string, associate bool) http.HandlerFunc {
	p := a.OAuth[name]
	return func(w http.ResponseWriter, r *http.Request) {
		var userID gatehouse.ID
		callback := p.CallbackURL
		if associate {
			auth, err := a.authenticate(r, a.user)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			userID, callback = auth.User.ID, p.AssociateCallbackURL
		}
		q := r.URL.Query()
		returnTo := q.Get("return_to")
		if returnTo != "" && (associate || !slices.Contains(p.ReturnURLs, returnTo) || !ambient(a.oauthBackend(p))) {
			a.writeError(w, r, invalid("value_error", "Value error, return_to is not an allowed return URL", returnTo, "query", "return_to"))
			return
		}
		authURL, csrf, err := p.Flow.Authorize(callback, q["scopes"], userID, returnTo)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: csrf, Path: "/", MaxAge: int(stateLifetime / time.Second),
			HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode,
		})
		if q.Get("redirect") == "true" {
			// #nosec G710 -- the provider's configured authorization endpoint, built here
			http.Redirect(w, r, authURL, http.StatusFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"authorization_url": authURL})
	}
}

// oauthCallback answers GET …/callback, in the contract's order: (for
// association) who asks, the provider's error or a missing code, then the
// state and the code.
func (a *api) oauthCallback(name string, associate bool) http.HandlerFunc {
	p := a.OAuth[name]
	return func(w http.ResponseWriter, r *http.Request) {
		// The URL of this answer holds a code and a state: keep it out of
		// Referer headers of whatever the page loads next.
		w.Header().Set("Referrer-Policy", "no-referrer")
		ctx := r.Context()
		var current *gatehouse.User
		callback := p.CallbackURL
		if associate {
			auth, err := a.authenticate(r, a.user)
			if err != nil {
				a.writeError(w, r, err)
				return
			}
			current, callback = auth.User, p.AssociateCallbackURL
		}
		q := r.URL.Query()
		if e := q.Get("error"); e != "" || q.Get("code") == "" {
			detail := gatehouse.CodeBadRequest
			if e != "" && len(e) <= 64 && validErrorCode(e) {
				detail = gatehouse.Code(e) // the provider's error code, as FastAPI Users answers it
			}
			a.writeError(w, r, &gatehouse.Error{Code: detail})
			return
		}
		var cookie string
		if c, err := r.Cookie(csrfCookie); err == nil {
			cookie = c.Value
		}
		var userID gatehouse.ID
		if current != nil {
			userID = current.ID
		}
		ident, returnTo, err := p.Flow.Callback(ctx, callback, q.Get("code"), q.Get("state"), cookie, userID)
		if err == nil && ident.Email == "" {
			err = &gatehouse.Error{Code: gatehouse.CodeOAuthNotAvailableEmail}
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if associate {
			if err := a.link(r, name, current, ident); err != nil {
				a.writeError(w, r, err)
				return
			}
			a.writeUser(w, r, http.StatusOK, current)
			return
		}
		b := a.oauthBackend(p)
		u, err := a.oauthUser(r, name, p, ident)
		if err == nil && !u.IsActive {
			a.record(r, failedEvent(gatehouse.AuditLoginFailed, u.ID, &gatehouse.Error{Code: gatehouse.CodeLoginBadCredentials}, "backend", b.Name, "provider", name))
			err = &gatehouse.Error{Code: gatehouse.CodeLoginBadCredentials}
		} else if err != nil {
			// The provider vouched for the identity, yet it may not log
			// in (its e-mail belongs to an unlinked user, say).
			a.record(r, failedEvent(gatehouse.AuditLoginFailed, gatehouse.ID{}, err, "backend", b.Name, "provider", name))
		}
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		// A provider's word replaces the password, not the second factor.
		switch due, setup, err := a.secondStep(r, u); {
		case err != nil:
			a.writeError(w, r, err)
			return
		case due:
			a.oauthMFA(w, r, u, b.Name, returnTo, setup)
			return
		}
		tok, err := a.issue(gatehouse.WithClient(ctx, a.client(r)), b, u)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		a.record(r, succeededEvent(gatehouse.AuditLoginSucceeded, u.ID, "backend", b.Name, "provider", name))
		if returnTo != "" {
			// A browser flow: the login's cookies, then back to the app.
			capture := &headerCapture{header: w.Header()}
			if err := b.Transport.WriteLogin(capture, r, tok); err != nil {
				a.writeError(w, r, err)
				return
			}
			// #nosec G710 -- returnTo matched Config.ReturnURLs exactly and came back in the signed state
			http.Redirect(w, r, returnTo, http.StatusFound)
		} else if err := b.Transport.WriteLogin(w, r, tok); err != nil {
			a.Logger.ErrorContext(ctx, "write login response", "backend", b.Name, "error", err)
			return
		}
		if err := a.Manager.LoggedIn(ctx, u); err != nil {
			a.Logger.ErrorContext(ctx, "after-login hook", "user_id", u.ID.String(), "error", err)
		}
	}
}

// ambient reports whether b answers logins with cookies, the only answer
// a browser keeps across a redirect.
func ambient(b *gatehouse.Backend) bool {
	if b == nil {
		return false
	}
	amb, ok := b.Transport.(gatehouse.Ambient)
	return ok && amb.Ambient()
}

// validErrorCode accepts an OAuth error code (RFC 6749 §5.2: printable
// ASCII without quotes or backslash) before it is echoed back.
func validErrorCode(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// headerCapture lets a transport write a login answer whose headers (the
// cookies) are kept and whose status and body are dropped, for a redirect.
type headerCapture struct{ header http.Header }

func (h *headerCapture) Header() http.Header         { return h.header }
func (h *headerCapture) Write(b []byte) (int, error) { return len(b), nil }
func (h *headerCapture) WriteHeader(int)             {}

// oauthBackend is the backend whose login answer an OAuth login gives.
func (a *api) oauthBackend(p OAuthProvider) *gatehouse.Backend {
	if b, ok := a.Authenticator.Backend(p.Backend); ok {
		return b
	}
	for _, b := range a.Authenticator.Backends() {
		if _, ok := b.Strategy.(gatehouse.NoLogin); !ok {
			b, _ := a.Authenticator.Backend(b.Name)
			return b
		}
	}
	return nil
}

// oauthUser finds or makes the user a provider identity belongs to
// (contract §2.5): the linked account's user; else, with AssociateByEmail
// and a verified e-mail, the user with that e-mail; else a new user.
func (a *api) oauthUser(r *http.Request, provider string, p OAuthProvider, id *oauth.Identity) (*gatehouse.User, error) {
	ctx := r.Context()
	acc, err := a.OAuthAccounts.FindOAuthAccount(ctx, provider, id.AccountID)
	switch gatehouse.ErrorCode(err) {
	case "":
		access, refresh, err := a.sealTokens(id)
		if err != nil {
			return nil, err
		}
		if err := a.OAuthAccounts.UpdateOAuthTokens(ctx, acc.ID, id.Email, access, refresh, id.Expiry); err != nil {
			return nil, err
		}
		return a.Manager.Users.FindUserByID(ctx, acc.UserID)
	case gatehouse.CodeNotFound:
	default:
		return nil, err
	}
	email, problem := normalizeEmail(id.Email)
	if problem != "" {
		return nil, &gatehouse.Error{Code: gatehouse.CodeOAuthNotAvailableEmail}
	}
	existing, err := a.Manager.Users.FindUserByEmail(ctx, email)
	switch gatehouse.ErrorCode(err) {
	case "":
		if !p.AssociateByEmail || !id.EmailVerified {
			return nil, &gatehouse.Error{Code: gatehouse.CodeOAuthUserAlreadyExists}
		}
		return existing, a.link(r, provider, existing, id)
	case gatehouse.CodeNotFound:
	default:
		return nil, err
	}
	u := &gatehouse.User{Email: email, HashedPassword: gatehouse.NoPassword, IsActive: true, IsVerified: id.EmailVerified}
	if err := a.Manager.Users.CreateUser(ctx, u); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			err = &gatehouse.Error{Code: gatehouse.CodeOAuthUserAlreadyExists}
		}
		return nil, err
	}
	a.record(r, succeededEvent(gatehouse.AuditUserRegistered, u.ID, "provider", provider))
	if err := a.link(r, provider, u, id); err != nil {
		return nil, err
	}
	if err := a.Manager.Registered(ctx, u); err != nil {
		a.Logger.ErrorContext(ctx, "after-register hook", "user_id", u.ID.String(), "error", err)
	}
	return u, nil
}

// link attaches a provider account to u, recording a new link. An account
// linked to someone else stays theirs.
func (a *api) link(r *http.Request, provider string, u *gatehouse.User, id *oauth.Identity) error {
	ctx := r.Context()
	access, refresh, err := a.sealTokens(id)
	if err != nil {
		return err
	}
	acc, err := a.OAuthAccounts.FindOAuthAccount(ctx, provider, id.AccountID)
	switch gatehouse.ErrorCode(err) {
	case "":
		if acc.UserID != u.ID {
			return &gatehouse.Error{Code: gatehouse.CodeOAuthUserAlreadyExists}
		}
		return a.OAuthAccounts.UpdateOAuthTokens(ctx, acc.ID, id.Email, access, refresh, id.Expiry)
	case gatehouse.CodeNotFound:
	default:
		return err
	}
	err = a.OAuthAccounts.CreateOAuthAccount(ctx, gatehouse.OAuthAccount{
		ID: gatehouse.NewID(), UserID: u.ID, Provider: provider, AccountID: id.AccountID, AccountEmail: id.Email,
		AccessToken: access, RefreshToken: refresh, ExpiresAt: id.Expiry, CreatedAt: time.Now().UTC(),
	})
	switch gatehouse.ErrorCode(err) {
	case "":
		a.record(r, succeededEvent(gatehouse.AuditOAuthLinked, u.ID, "provider", provider))
	case gatehouse.CodeConflict:
		return &gatehouse.Error{Code: gatehouse.CodeOAuthUserAlreadyExists}
	}
	return err
}

// sealTokens encrypts the provider's tokens for storage; without Seal they
// are not kept at all.
func (a *api) sealTokens(id *oauth.Identity) (access, refresh []byte, err error) {
	if a.Seal == nil {
		return nil, nil, nil
	}
	if access, err = a.Seal([]byte(id.AccessToken)); err != nil {
		return nil, nil, err
	}
	if id.RefreshToken != "" {
		if refresh, err = a.Seal([]byte(id.RefreshToken)); err != nil {
			return nil, nil, err
		}
	}
	return access, refresh, nil
}

type oauthAccountJSON struct {
	ID           string `json:"id"`
	OAuthName    string `json:"oauth_name"`
	AccountID    string `json:"account_id"`
	AccountEmail string `json:"account_email"`
}

func (a *api) listOAuthAccounts(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.user)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	accounts, err := a.OAuthAccounts.ListOAuthAccounts(r.Context(), auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	out := make([]oauthAccountJSON, 0, len(accounts))
	for _, acc := range accounts {
		out = append(out, oauthAccountJSON{acc.ID.String(), acc.Provider, acc.AccountID, acc.AccountEmail})
	}
	writeJSON(w, http.StatusOK, out)
}

// unlinkOAuthAccount answers DELETE /users/me/oauth-accounts/{id}, refusing
// to take away a user's last way to log in.
func (a *api) unlinkOAuthAccount(w http.ResponseWriter, r *http.Request) {
	auth, err := a.owner(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	id, err := gatehouse.ParseID(r.PathValue("id"))
	if err != nil {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	accounts, err := a.OAuthAccounts.ListOAuthAccounts(r.Context(), auth.User.ID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	i := slices.IndexFunc(accounts, func(acc gatehouse.OAuthAccount) bool { return acc.ID == id })
	if i < 0 {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	if len(accounts) == 1 && auth.User.HashedPassword == gatehouse.NoPassword {
		a.writeError(w, r, &gatehouse.Error{Code: gatehouse.CodeOAuthLastLoginMethod})
		return
	}
	if err := a.OAuthAccounts.DeleteOAuthAccount(r.Context(), auth.User.ID, id); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditOAuthUnlinked, auth.User.ID, "provider", accounts[i].Provider))
	w.WriteHeader(http.StatusNoContent)
}
