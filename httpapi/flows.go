package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
)

// flowTimeout bounds the work a flow does after its answer was sent.
const flowTimeout = 30 * time.Second

// requestVerifyToken answers POST /auth/request-verify-token: always 202
// for a valid body, whoever the e-mail belongs to.
func (a *api) requestVerifyToken(w http.ResponseWriter, r *http.Request) {
	a.startFlow(w, r, requestVerifyPolicy, a.Manager.RequestVerify)
}

// forgotPassword answers POST /auth/forgot-password: always 202 for a valid
// body, whoever the e-mail belongs to.
func (a *api) forgotPassword(w http.ResponseWriter, r *http.Request) {
	a.startFlow(w, r, forgotPolicy, a.Manager.ForgotPassword)
}

// startFlow validates {"email"}, counts the request against the policy
// of kind, answers 202 null, and only then runs the flow. The limit counts
// the address as given, known or not, so a 429 reveals nothing either. Answering first means neither the lookup nor the hooks (mail, say)
// can tell by their timing whether the e-mail exists; the Manager also does
// the same work in both cases, so even a full worker pool, which runs the
// flow before answering, reveals nothing.
func (a *api) startFlow(w http.ResponseWriter, r *http.Request, kind policyKind, flow func(context.Context, string) error) {
	d, ok := a.readDecoder(w, r)
	if !ok {
		return
	}
	email, _ := d.email("email", true)
	if !a.done(w, r, d) {
		return
	}
	if err := a.check(r, a.limits.policy(kind), email, AuditThrottled); err != nil {
		a.writeError(w, r, err)
		return
	}
	// The flow may outlive the request: it keeps the request's values but
	// not its cancellation, and touches nothing of r once the handler ends.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), flowTimeout)
	path := r.URL.Path
	run := func() {
		defer cancel()
		if err := flow(ctx, email); err != nil {
			a.Logger.ErrorContext(ctx, "account flow failed", "path", path, "error", err)
		}
	}
	select {
	case a.flows <- struct{}{}:
		writeJSON(w, http.StatusAccepted, nil)
		go func() {
			defer func() { <-a.flows }()
			run()
		}()
	default:
		run()
		writeJSON(w, http.StatusAccepted, nil)
	}
}

// verify answers POST /auth/verify {"token"}.
func (a *api) verify(w http.ResponseWriter, r *http.Request) {
	d, ok := a.readDecoder(w, r)
	if !ok {
		return
	}
	token, _ := d.str("token", true)
	if !a.done(w, r, d) {
		return
	}
	if err := a.check(r, a.limits.policy(verifyPolicy), "", AuditThrottled); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Manager.Verify(r.Context(), token)
	if err != nil && u == nil {
		a.record(r, failedEvent(gatehouse.AuditEmailVerified, gatehouse.ID{}, err))
		a.writeError(w, r, err)
		return
	}
	a.record(r, succeededEvent(gatehouse.AuditEmailVerified, u.ID))
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "after-verify hook", "user_id", u.ID.String(), "error", err)
	}
	a.writeUser(w, r, http.StatusOK, u)
}

// resetPassword answers POST /auth/reset-password {"token","password"}.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) {
	d, ok := a.readDecoder(w, r)
	if !ok {
		return
	}
	token, _ := d.str("token", true)
	password, _ := d.str("password", true)
	if !a.done(w, r, d) {
		return
	}
	if err := a.check(r, a.limits.policy(resetPolicy), "", AuditThrottled); err != nil {
		a.writeError(w, r, err)
		return
	}
	u, err := a.Manager.ResetPassword(r.Context(), token, password)
	if err != nil && u == nil {
		a.record(r, failedEvent(gatehouse.AuditPasswordReset, gatehouse.ID{}, err))
		a.writeError(w, r, err)
		return
	}
	// Only the owner can use the mailed token: the client is trusted for
	// the account's logins from now on, even while strangers keep its
	// login throttled.
	a.succeeded(r, u.Email)
	a.record(r, succeededEvent(gatehouse.AuditPasswordReset, u.ID))
	if !a.KeepSessionsOnPasswordChange {
		if endErr := a.endSessionsAfter(r, u.ID, gatehouse.ID{}); endErr != nil {
			a.writeError(w, r, endErr)
			return
		}
	}
	if err != nil {
		a.Logger.ErrorContext(r.Context(), "after-reset hook", "user_id", u.ID.String(), "error", err)
	}
	writeJSON(w, http.StatusOK, nil)
}
