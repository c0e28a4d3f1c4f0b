package gatehouse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Token is what a login hands to a client.
type Token struct {
	AccessToken  string
	RefreshToken string    // empty when the backend issues none
	Expiry       time.Time // when AccessToken stops working; zero if never
}

// Principal is what a strategy learns from a valid token.
type Principal struct {
	UserID ID
	// SessionID is the session the token belongs to; zero for a token
	// issued without one (refresh tokens off).
	SessionID ID
	// TokenID names this token for revocation: a JWT's jti, or the hash of
	// an opaque token. It is never the token itself.
	TokenID string
	Expiry  time.Time // zero if the token never expires
	// Scopes narrows what the request may do to these permissions (an API
	// key's scopes); nil leaves the user's permissions whole.
	Scopes []string
}

// Transport carries tokens: it finds one in a request and writes the login
// and logout responses.
type Transport interface {
	// Credential returns the token r carries. ok is false when r carries
	// none, or one so malformed that no strategy could accept it.
	Credential(r *http.Request) (token string, ok bool)
	WriteLogin(w http.ResponseWriter, r *http.Request, t Token) error
	WriteLogout(w http.ResponseWriter, r *http.Request) error
}

// Ambient is implemented by transports whose credential browsers attach to
// requests on their own, such as cookies. Unsafe requests authenticated by
// such a transport could be forged by another site, so the Authenticator
// checks their origin (see Authenticator.CrossOriginProtection).
type Ambient interface {
	Ambient() bool
}

// RefreshTransport is implemented by transports that carry refresh tokens
// themselves, such as the cookie transport's refresh cookie. Others take
// the refresh token from the refresh request's body.
type RefreshTransport interface {
	RefreshCredential(r *http.Request) (token string, ok bool)
}

// Strategy makes tokens and checks them.
type Strategy interface {
	// Write issues an access token for u in the given session (the zero
	// ID for none).
	Write(ctx context.Context, u *User, session ID) (Token, error)
	// Read checks a token. An invalid, expired or revoked token is an error
	// with CodeUnauthorized; a token that cannot be checked because a store
	// is down is CodeUnavailable.
	Read(ctx context.Context, token string) (Principal, error)
	// Destroy makes a token unusable (log out).
	Destroy(ctx context.Context, token string) error
}

// NoLogin is implemented by strategies whose tokens are not issued by
// logging in, such as API keys: their backends get no login, logout or
// refresh routes.
type NoLogin interface {
	NoLogin()
}

// Revocations remembers revoked token ids (a JWT's jti) until the tokens
// would have expired anyway.
type Revocations interface {
	Revoke(ctx context.Context, tokenID string, until time.Time) error
	// Revoked reports whether tokenID was revoked. An error means the answer
	// is unknown, and callers must fail closed.
	Revoked(ctx context.Context, tokenID string) (bool, error)
}

// Backend is a named transport + strategy pair. Each backend gets its own
// login and logout routes.
type Backend struct {
	Name      string
	Transport Transport
	Strategy  Strategy
}

// Auth is the result of authenticating a request.
type Auth struct {
	User      *User
	Backend   *Backend // the backend whose strategy accepted the token
	Token     string   // the token that authenticated the request
	Principal Principal
}

// Authenticator turns requests into users by trying its backends in order.
// Its shape follows net/http's CrossOriginProtection: Authenticate checks a
// request, Require builds middleware, SetErrorHandler changes how refusals
// are written.
type Authenticator struct {
	users    UserStore
	backends []Backend
	onError  func(http.ResponseWriter, *http.Request, error)
	csrf     *http.CrossOriginProtection
	sessions *Sessions
	observe  func(backend, outcome string)
}

// NewAuthenticator returns an Authenticator over the given backends, tried
// in order. Backend names must be unique and non-empty and each backend needs
// a transport and a strategy.
func NewAuthenticator(users UserStore, backends ...Backend) (*Authenticator, error) {
	if users == nil {
		return nil, errors.New("gatehouse: NewAuthenticator: nil UserStore")
	}
	if len(backends) == 0 {
		return nil, errors.New("gatehouse: NewAuthenticator: no backends")
	}
	seen := make(map[string]bool)
	for _, b := range backends {
		switch {
		case b.Name == "":
			return nil, errors.New("gatehouse: NewAuthenticator: backend without a name")
		case seen[b.Name]:
			return nil, fmt.Errorf("gatehouse: NewAuthenticator: duplicate backend name %q", b.Name)
		case b.Transport == nil || b.Strategy == nil:
			return nil, fmt.Errorf("gatehouse: NewAuthenticator: backend %q needs a transport and a strategy", b.Name)
		}
		seen[b.Name] = true
	}
	return &Authenticator{
		users:    users,
		backends: append([]Backend(nil), backends...),
		onError:  func(w http.ResponseWriter, _ *http.Request, err error) { WriteError(w, err) },
		csrf:     http.NewCrossOriginProtection(),
	}, nil
}

// CrossOriginProtection returns the protection applied to unsafe requests
// (POST, PUT, PATCH, DELETE) whose credential came from an Ambient
// transport: a cross-site one is refused with 403. Add trusted origins to
// it, for example a front end served from another origin.
func (a *Authenticator) CrossOriginProtection() *http.CrossOriginProtection { return a.csrf }

// CheckCrossOrigin refuses (CodeForbidden) an unsafe cross-site request
// that b's transport would authenticate by a credential the browser sent on
// its own. It allows everything for other transports. Login routes of
// cookie backends call it too: a forged login is an attack as well.
func (a *Authenticator) CheckCrossOrigin(r *http.Request, b *Backend) error {
	if amb, ok := b.Transport.(Ambient); !ok || !amb.Ambient() {
		return nil
	}
	if err := a.csrf.Check(r); err != nil {
		return &Error{Code: CodeForbidden, Err: err}
	}
	return nil
}

// SetSessions makes the Authenticator refuse tokens whose session has
// ended (logout, refresh-token reuse, "log out everywhere").
func (a *Authenticator) SetSessions(s *Sessions) { a.sessions = s }

// Sessions returns what SetSessions set, or nil.
func (a *Authenticator) Sessions() *Sessions { return a.sessions }

func (a *Authenticator) checkSession(ctx context.Context, p Principal) error {
	if p.SessionID.IsZero() || a.sessions == nil {
		return nil
	}
	live, err := a.sessions.Live(ctx, p.SessionID)
	switch {
	case err != nil:
		return err
	case !live:
		return &Error{Code: CodeUnauthorized}
	}
	return nil
}

// Backends returns the backends in the order they are tried.
func (a *Authenticator) Backends() []Backend { return append([]Backend(nil), a.backends...) }

// Backend returns the backend with the given name.
func (a *Authenticator) Backend(name string) (*Backend, bool) {
	for i := range a.backends {
		if a.backends[i].Name == name {
			return &a.backends[i], true
		}
	}
	return nil, false
}

// Outcomes of a token check, as Authenticate reports them to the func set by
// SetObserver.
const (
	TokenValid       = "valid"       // the token names an existing user
	TokenInvalid     = "invalid"     // unknown, expired or revoked token, ended session, or the user is gone
	TokenUnavailable = "unavailable" // the token could not be checked (a store is down): the request fails closed
)

// SetObserver makes Authenticate call f once for each backend whose
// transport found a credential and whose strategy checked it, with the
// backend's name and TokenValid, TokenInvalid or TokenUnavailable: metrics
// see how each strategy fares without the Authenticator knowing about them.
// Requests without a credential for a backend are not reported to it, nor is
// a cross-site request refused before its token is looked up.
//
// f runs on the request's goroutine, concurrently for concurrent requests,
// and must be quick. Like the other setters, SetObserver is not safe to call
// while requests are being served: call it before. nil removes the observer.
func (a *Authenticator) SetObserver(f func(backend, outcome string)) { a.observe = f }

// SetErrorHandler sets what writes the answer when Require refuses a
// request. The default is WriteError.
func (a *Authenticator) SetErrorHandler(h func(http.ResponseWriter, *http.Request, error)) {
	if h != nil {
		a.onError = h
	}
}

// Authenticate finds the user a request speaks for. Backends are consulted
// in order, each only if its transport found a token; the first whose
// strategy yields an existing user wins. When none does the error has
// CodeUnauthorized, or CodeUnavailable if a backend could not check its
// token because a store was down: the request then fails closed with a 503.
// An unsafe cross-site request whose only credentials are ambient (cookies)
// gets CodeForbidden.
func (a *Authenticator) Authenticate(r *http.Request) (*Auth, error) {
	ctx := r.Context()
	var unavailable, forbidden error
	for i := range a.backends {
		b := &a.backends[i]
		token, ok := b.Transport.Credential(r)
		if !ok {
			continue
		}
		// A forged cross-site request is refused before its token is even
		// looked up; an explicit credential of a later backend may still
		// authenticate the request.
		if err := a.CheckCrossOrigin(r, b); err != nil {
			forbidden = err
			continue
		}
		p, err := b.Strategy.Read(ctx, token)
		if err == nil {
			err = a.checkSession(ctx, p)
		}
		if err == nil {
			var u *User
			u, err = a.users.FindUserByID(ctx, p.UserID)
			if err == nil {
				a.report(b, TokenValid)
				return &Auth{User: u, Backend: b, Token: token, Principal: p}, nil
			}
		}
		switch ErrorCode(err) {
		case CodeUnauthorized, CodeNotFound:
			a.report(b, TokenInvalid)
		case CodeUnavailable:
			unavailable = err
			a.report(b, TokenUnavailable)
		default:
			// An unexpected failure cannot tell us who this is: fail closed,
			// but as unavailable, not as an internal error with details.
			unavailable = &Error{Code: CodeUnavailable, Err: err}
			a.report(b, TokenUnavailable)
		}
	}
	if forbidden != nil {
		return nil, forbidden
	}
	if unavailable != nil {
		return nil, unavailable
	}
	return nil, &Error{Code: CodeUnauthorized}
}

func (a *Authenticator) report(b *Backend, outcome string) {
	if a.observe != nil {
		a.observe(b.Name, outcome)
	}
}

// Requirement says what Require demands of the user.
type Requirement struct {
	Active    bool // inactive users get 401
	Verified  bool // unverified users get 403
	Superuser bool // other users get 403
	// Optional lets the request through without a user instead of refusing
	// it; UserFrom then reports false.
	Optional bool
}

// Check applies the requirement to an authenticated user: nil when allowed,
// else an error with CodeUnauthorized (no user, inactive) or CodeForbidden.
func (req Requirement) Check(u *User) error {
	switch {
	case u == nil, req.Active && !u.IsActive:
		return &Error{Code: CodeUnauthorized}
	case req.Verified && !u.IsVerified, req.Superuser && !u.IsSuperuser:
		return &Error{Code: CodeForbidden}
	}
	return nil
}

// Require returns middleware that lets a request through only when it is
// authenticated and meets req. The handler finds the user with UserFrom.
func (a *Authenticator) Require(req Requirement) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			auth, err := a.Authenticate(r)
			if err == nil {
				err = req.Check(auth.User)
			}
			if err != nil {
				if req.Optional {
					next.ServeHTTP(w, r)
					return
				}
				a.onError(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithAuth(r.Context(), auth)))
		})
	}
}

// Handler requires an active user before calling next.
func (a *Authenticator) Handler(next http.Handler) http.Handler {
	return a.Require(Requirement{Active: true})(next)
}

type authKey struct{}

// WithAuth returns a copy of ctx that carries auth.
func WithAuth(ctx context.Context, auth *Auth) context.Context {
	return context.WithValue(ctx, authKey{}, auth)
}

// AuthFrom returns the Auth that Require stored in ctx.
func AuthFrom(ctx context.Context) (*Auth, bool) {
	auth, ok := ctx.Value(authKey{}).(*Auth)
	return auth, ok && auth != nil
}

// UserFrom returns the authenticated user that Require stored in ctx.
func UserFrom(ctx context.Context) (*User, bool) {
	auth, ok := AuthFrom(ctx)
	if !ok {
		return nil, false
	}
	return auth.User, auth.User != nil
}
