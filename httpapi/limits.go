package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/clientip"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// Limits are the throttling rules of Config.Limiter. A zero field takes
// its value from DefaultLimits; there is no way to turn one kind of
// request's limit off while the others stay on, since each closes a hole
// the others leave open.
//
// A client is an address as Config.ClientIP finds it, grouped as
// clientip.Group does (an IPv6 /64): limits key on the group, so one
// IPv6 client does not get a fresh allowance with each of its addresses.
// An account is the e-mail address the client gave, whether or not a
// user has it, so that throttling never tells known addresses from
// unknown ones.
type Limits struct {
	// Login limits POST /auth/{backend}/login per client, per account
	// and client, and per account from clients not trusted for it (see
	// ratelimit.LoginRules, the default, for what that bounds). A
	// successful login, and a completed password reset, trust the client
	// for the account.
	Login ratelimit.Rules
	// Register limits POST /auth/register per client. Default: 10 at
	// once, then 10 an hour.
	Register ratelimit.Rules
	// Mail limits the requests that send mail, POST /auth/forgot-password
	// and POST /auth/request-verify-token, each on keys of its own: per
	// client and per e-mail address (checklist 84). Default
	// ratelimit.ForgotPasswordRules: 10 at once then 5 a minute per
	// client, 3 mails at once then 3 an hour per address.
	Mail ratelimit.Rules
	// FlowToken limits the routes that take a mailed token, POST
	// /auth/verify and POST /auth/reset-password, each on keys of its
	// own, per client: token guessing, and password hashing on demand.
	// Default: 10 at once, then 5 a minute.
	FlowToken ratelimit.Rules
	// Refresh limits POST /auth/{backend}/refresh per client, and, on
	// keys of their own, the logins with a passkey alone (POST
	// /auth/{backend}/passkey/begin and /passkey): a passkey's signature
	// cannot be guessed, so only the cost is bounded. Default: 120 at
	// once, then 60 a minute.
	Refresh ratelimit.Rules
	// MFA limits the one-time and recovery codes tried for one account
	// (the second step of a login, turning a TOTP on or off, new recovery
	// codes) and per client. Six digits with three valid codes at a time
	// leave a guesser, at the default of 5 at once then 10 an hour, about
	// a 0.07% chance a day. Default: per client 20 a minute (burst 40),
	// per account as said.
	MFA ratelimit.Rules
	// BadCredential limits the failed credentials (tokens, API keys) a
	// client may present to the authenticated routes. Only failures
	// count: a client over the limit is refused (429) before its
	// credential is looked at, so guessing learns nothing, and a valid
	// credential spends nothing, so an attacker can keep out only the
	// users who share its address. Requests without a credential are
	// neither counted nor refused. Default: 60 at once, then 30 a minute,
	// room for a few clients whose tokens expire at once behind one NAT.
	BadCredential gatehouse.Rate
}

// DefaultLimits returns the limits a zero Limits field takes.
func DefaultLimits() Limits {
	return Limits{
		Login:     ratelimit.LoginRules(),
		Register:  ratelimit.Rules{IP: gatehouse.Rate{Limit: 10, Period: time.Hour, Burst: 10}},
		Mail:      ratelimit.ForgotPasswordRules(),
		FlowToken: ratelimit.Rules{IP: gatehouse.Rate{Limit: 5, Period: time.Minute, Burst: 10}},
		Refresh:   ratelimit.Rules{IP: gatehouse.Rate{Limit: 60, Period: time.Minute, Burst: 120}},
		MFA: ratelimit.Rules{
			IP:      gatehouse.Rate{Limit: 20, Period: time.Minute, Burst: 40},
			Account: gatehouse.Rate{Limit: 10, Period: time.Hour, Burst: 5},
		},
		BadCredential: gatehouse.Rate{Limit: 30, Period: time.Minute, Burst: 60},
	}
}

// withDefaults fills l's zero fields from DefaultLimits and checks every
// rate, so that a bad setting fails New rather than each request (NewPolicy
// would panic on it).
func (l Limits) withDefaults() (Limits, error) {
	def := DefaultLimits()
	for _, f := range []struct {
		name      string
		rules     *ratelimit.Rules
		defaulted ratelimit.Rules
	}{
		{"Login", &l.Login, def.Login}, {"Register", &l.Register, def.Register}, {"Mail", &l.Mail, def.Mail},
		{"FlowToken", &l.FlowToken, def.FlowToken}, {"Refresh", &l.Refresh, def.Refresh}, {"MFA", &l.MFA, def.MFA},
	} {
		if *f.rules == (ratelimit.Rules{}) {
			*f.rules = f.defaulted
		}
		if err := checkRules(*f.rules); err != nil {
			return l, fmt.Errorf("httpapi: Limits.%s: %w", f.name, err)
		}
	}
	if l.BadCredential == (gatehouse.Rate{}) {
		l.BadCredential = def.BadCredential
	}
	if err := l.BadCredential.Validate(); err != nil {
		return l, fmt.Errorf("httpapi: Limits.BadCredential: %w", err)
	}
	return l, nil
}

// checkRules applies NewPolicy's checks as an error.
func checkRules(r ratelimit.Rules) error {
	var zero gatehouse.Rate
	if r.IP == zero && r.Pair == zero && r.Account == zero {
		return errors.New("no rule")
	}
	for _, rate := range []gatehouse.Rate{r.IP, r.Pair, r.Account} {
		if rate == zero {
			continue
		}
		if err := rate.Validate(); err != nil {
			return err
		}
	}
	if r.TrustFor < 0 {
		return errors.New("TrustFor must not be negative")
	}
	if r.TrustFor > 0 {
		return gatehouse.Rate{Limit: 1, Period: r.TrustFor, Burst: 1}.Validate()
	}
	return nil
}

// policyKind names one kind of throttled request.
type policyKind int

const (
	loginPolicy policyKind = iota
	registerPolicy
	forgotPolicy
	requestVerifyPolicy
	verifyPolicy
	resetPolicy
	refreshPolicy
	mfaPolicy
	passkeyPolicy
	numPolicies
)

// policies are the throttling policies of the routes; the api holds nil
// when the Config has no Limiter. Each policy has a name of its own, so
// that their keys in a shared Limiter never meet.
type policies struct {
	byKind        [numPolicies]*ratelimit.Policy
	badCredential gatehouse.Rate
}

func newPolicies(l gatehouse.Limiter, lim Limits) *policies {
	p := &policies{badCredential: lim.BadCredential}
	for kind, def := range map[policyKind]struct {
		name  string
		rules ratelimit.Rules
	}{
		loginPolicy:         {"login", lim.Login},
		registerPolicy:      {"register", lim.Register},
		forgotPolicy:        {"forgot", lim.Mail},
		requestVerifyPolicy: {"request-verify", lim.Mail},
		verifyPolicy:        {"verify", lim.FlowToken},
		resetPolicy:         {"reset", lim.FlowToken},
		refreshPolicy:       {"refresh", lim.Refresh},
		mfaPolicy:           {"mfa", lim.MFA},
		passkeyPolicy:       {"passkey", lim.Refresh},
	} {
		p.byKind[kind] = ratelimit.NewPolicy(l, def.name, def.rules)
	}
	return p
}

// policy is the policy of kind, nil without a Limiter.
func (p *policies) policy(kind policyKind) *ratelimit.Policy {
	if p == nil {
		return nil
	}
	return p.byKind[kind]
}

// throttled is the cause of a 429: how long the client should wait, which
// writeError sends as Retry-After.
type throttled time.Duration

func (t throttled) Error() string { return "httpapi: throttled for " + time.Duration(t).String() }

// retryAfter is d in whole seconds, rounded up and at least one: a client
// retrying after a rounded-down wait would be refused again.
func (t throttled) retryAfter() string {
	return strconv.FormatInt(max(1, int64((time.Duration(t)+time.Second-1)/time.Second)), 10)
}

func tooMany(wait time.Duration) error {
	return &gatehouse.Error{Code: gatehouse.CodeTooManyRequests, Err: throttled(wait)}
}

// limiterDown is the error of a limiter that cannot decide: the request
// is refused (503), never let through unthrottled.
func limiterDown(err error) error {
	return &gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: fmt.Errorf("httpapi: rate limit: %w", err)}
}

// check counts a request from r's client for account against p. It
// returns nil when the request may proceed, else the error that answers
// it: 429 with the wait (recorded in the audit log as event), or 503 when
// the limiter cannot decide. Without a Limiter (p nil) it returns nil.
func (a *api) check(r *http.Request, p *ratelimit.Policy, account string, event gatehouse.AuditEventType) error {
	if p == nil {
		return nil
	}
	d, err := p.Check(r.Context(), a.ClientIP(r), account)
	if err != nil {
		return limiterDown(err)
	}
	if !d.Allowed {
		a.recordThrottled(r, event)
		return tooMany(d.RetryAfter)
	}
	return nil
}

// succeeded tells the login policy that r's client proved it belongs to
// account's owner. The request has succeeded by then: a limiter error
// only leaves the client less trusted than it might be, so it is logged,
// not answered.
func (a *api) succeeded(r *http.Request, account string) {
	if a.limits == nil {
		return
	}
	if err := a.limits.policy(loginPolicy).Succeeded(r.Context(), a.ClientIP(r), account); err != nil {
		a.Logger.ErrorContext(r.Context(), "rate limit: recording a success", "error", err)
	}
}

// credentialGuard throttles failed credentials on the authenticated
// routes (Limits.BadCredential). It returns the key to count a failure
// on, or "" when r is not guarded: no Limiter, or no credential at all.
// A client over the limit gets a 429 error before anything looks at its
// credential.
func (a *api) credentialGuard(r *http.Request) (key string, err error) {
	if a.limits == nil || !a.presented(r) {
		return "", nil
	}
	key = "bad-credential:ip:" + clientKey(a.ClientIP(r))
	d, err := a.Limiter.Peek(r.Context(), key, a.limits.badCredential)
	if err != nil {
		return "", limiterDown(err)
	}
	if !d.Allowed {
		a.recordThrottled(r, AuditThrottled)
		return "", tooMany(d.RetryAfter)
	}
	return key, nil
}

// countBadCredential counts one failed credential on key.
func (a *api) countBadCredential(ctx context.Context, key string) error {
	if _, err := a.Limiter.Allow(ctx, key, a.limits.badCredential); err != nil {
		return limiterDown(err)
	}
	return nil
}

// presented reports whether r carries a credential for some backend.
func (a *api) presented(r *http.Request) bool {
	for _, b := range a.Authenticator.Backends() {
		if _, ok := b.Transport.Credential(r); ok {
			return true
		}
	}
	return false
}

// clientKey names ip's group as the ratelimit policies do, "unknown" for
// requests without an address, which count as one client.
func clientKey(ip netip.Addr) string {
	if g := clientip.Group(ip); g.IsValid() {
		return g.String()
	}
	return "unknown"
}

// peer is the default ClientIP: the connection's peer address.
var peer = func() func(*http.Request) netip.Addr {
	r, err := clientip.New(nil)
	if err != nil {
		panic(err) // no prefixes: cannot fail
	}
	return r.IP
}()

// client describes r's sender for session records and the audit log.
func (a *api) client(r *http.Request) gatehouse.Client {
	ip := ""
	if addr := a.ClientIP(r); addr.IsValid() {
		ip = addr.String()
	}
	return gatehouse.Client{UserAgent: r.UserAgent(), IP: ip}
}
