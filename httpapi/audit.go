package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Audit events httpapi records besides gatehouse's own (stores keep any
// event name).
const (
	// AuditThrottled records a request a rate limit refused (429), with
	// the route in attrs. A throttled login is recorded as
	// gatehouse.AuditLoginFailed instead, detail TOO_MANY_REQUESTS, so
	// that every failed login is found under one name.
	AuditThrottled gatehouse.AuditEventType = "request.throttled"
	// AuditAccessDenied records an authenticated request refused for
	// want of rights (403), with the route in attrs: privilege probing
	// (ASVS 16.3.2).
	AuditAccessDenied gatehouse.AuditEventType = "access.denied"
)

// ScopeAudit is the scope a request made with an API key needs to read
// GET /audit, on top of its user being a superuser: a key made for other
// work, if leaked, does not show who logs in from where.
const ScopeAudit = "audit:read"

// throttledSample bounds the events of throttled requests: at most one per
// client, route and minute, so that a client hammering a limit cannot fill
// the audit log with its refusals.
var throttledSample = gatehouse.Rate{Limit: 1, Period: time.Minute, Burst: 1}

// record adds an event about r to the audit log, with r's client address
// and User-Agent; an ActorID equal to the UserID is dropped (the user
// acted on their own account).
//
// Handlers record once the action has taken effect (or failed) and before
// they answer, so a client holding its answer finds the event recorded.
// Recording cannot fail the request: the action has happened, and
// answering 500 would not undo it but only make the client retry. A
// failure is logged at error level with the event, so the record still
// exists in the server's log. The request's cancellation is ignored, so a
// client hanging up does not keep its event out of the log.
func (a *api) record(r *http.Request, e gatehouse.AuditEvent) {
	if a.Audit == nil {
		return
	}
	c := a.client(r)
	e.IP, e.UserAgent = c.IP, c.UserAgent
	if e.ActorID == e.UserID {
		e.ActorID = gatehouse.ID{}
	}
	ctx := context.WithoutCancel(r.Context())
	if err := a.Audit.Record(ctx, e); err != nil {
		a.Logger.ErrorContext(ctx, "audit: recording an event failed", "audit_event", e, "error", err)
	}
}

// recordThrottled records a throttled request, sampled (throttledSample).
func (a *api) recordThrottled(r *http.Request, event gatehouse.AuditEventType) {
	if a.Audit == nil {
		return
	}
	key := "audit-throttled:" + r.Pattern + ":" + clientKey(a.ClientIP(r))
	if d, err := a.Limiter.Allow(r.Context(), key, throttledSample); err != nil || !d.Allowed {
		return // refused anyway; a limiter error is answered by the next check
	}
	a.record(r, gatehouse.AuditEvent{
		Event: event, Outcome: gatehouse.AuditDenied, Detail: string(gatehouse.CodeTooManyRequests),
		Attrs: map[string]string{"route": r.Pattern},
	})
}

// succeededEvent is a successful event about user; attrs are key, value
// pairs of identifiers, never secrets.
func succeededEvent(event gatehouse.AuditEventType, user gatehouse.ID, attrs ...string) gatehouse.AuditEvent {
	return gatehouse.AuditEvent{Event: event, UserID: user, Outcome: gatehouse.AuditSuccess, Attrs: pairs(attrs)}
}

// failedEvent is an attempt that err ended, its code the detail: denied
// when a rule refused it (403, 429), a failure otherwise.
func failedEvent(event gatehouse.AuditEventType, user gatehouse.ID, err error, attrs ...string) gatehouse.AuditEvent {
	code := gatehouse.ErrorCode(err)
	outcome := gatehouse.AuditFailure
	if code == gatehouse.CodeForbidden || code == gatehouse.CodeTooManyRequests {
		outcome = gatehouse.AuditDenied
	}
	return gatehouse.AuditEvent{Event: event, UserID: user, Outcome: outcome, Detail: string(code), Attrs: pairs(attrs)}
}

func pairs(kv []string) map[string]string {
	if len(kv) == 0 {
		return nil
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// auditEventJSON is an audit event on the wire.
type auditEventJSON struct {
	ID        string            `json:"id"`
	Time      time.Time         `json:"time"`
	Event     string            `json:"event"`
	UserID    *string           `json:"user_id"`
	ActorID   *string           `json:"actor_id"`
	IP        string            `json:"ip"`
	UserAgent string            `json:"user_agent"`
	Outcome   string            `json:"outcome"`
	Detail    string            `json:"detail"`
	Attrs     map[string]string `json:"attrs"`
}

func toAuditEventJSON(e gatehouse.AuditEvent) auditEventJSON {
	optional := func(id gatehouse.ID) *string {
		if id.IsZero() {
			return nil
		}
		s := id.String()
		return &s
	}
	attrs := e.Attrs
	if attrs == nil {
		attrs = map[string]string{}
	}
	return auditEventJSON{
		ID: e.ID.String(), Time: e.Time.UTC(), Event: string(e.Event),
		UserID: optional(e.UserID), ActorID: optional(e.ActorID),
		IP: e.IP, UserAgent: e.UserAgent, Outcome: string(e.Outcome), Detail: e.Detail, Attrs: attrs,
	}
}

// listAudit answers GET /audit?user_id=&event=&since=&until=&limit=&offset=
// for superusers (with an API key, one with ScopeAudit): a page of events,
// newest first.
func (a *api) listAudit(w http.ResponseWriter, r *http.Request) {
	auth, err := a.authenticate(r, a.superuser())
	if err == nil && scoped(auth) && !slices.Contains(auth.Principal.Scopes, ScopeAudit) {
		err = &gatehouse.Error{Code: gatehouse.CodeForbidden}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	var errs validationError
	f := gatehouse.AuditFilter{
		Limit:  queryInt(q.Get("limit"), 50, 1, gatehouse.MaxAuditListLimit, "limit", &errs),
		Offset: queryInt(q.Get("offset"), 0, 0, 1<<31-1, "offset", &errs),
		Since:  queryTime(q.Get("since"), "since", &errs),
		Until:  queryTime(q.Get("until"), "until", &errs),
		Event:  gatehouse.AuditEventType(q.Get("event")),
	}
	if s := q.Get("user_id"); s != "" {
		id, err := gatehouse.ParseID(s)
		if err != nil {
			errs = append(errs, invalid("uuid_parsing", "Input should be a valid UUID", s, "query", "user_id")...)
		}
		f.UserID = id
	}
	if len(f.Event) > gatehouse.MaxAuditEventType || strings.ContainsFunc(string(f.Event), func(c rune) bool { return c < 0x20 }) {
		errs = append(errs, invalid("value_error", "Value error, not an event name", string(f.Event), "query", "event")...)
	}
	if len(errs) > 0 {
		a.writeError(w, r, errs)
		return
	}
	events, total, err := a.Audit.ListAuditEvents(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page := struct {
		Items []auditEventJSON `json:"items"`
		Total int              `json:"total"`
	}{make([]auditEventJSON, 0, len(events)), total}
	for _, e := range events {
		page.Items = append(page.Items, toAuditEventJSON(e))
	}
	writeJSON(w, http.StatusOK, page)
}

// queryTime parses an RFC 3339 query parameter; "" is the zero time.
func queryTime(s, name string, errs *validationError) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		*errs = append(*errs, invalid("datetime_parsing", "Input should be a valid datetime", s, "query", name)...)
	}
	return t
}
