package gatehouse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditEventType names what an audit event records, as "area.verb" (or a
// single word), so that related events sort and filter together and new
// areas such as "mfa.enabled" fit in without a schema change: stores keep
// any name, not only the ones below.
type AuditEventType string

// The events Gatehouse records.
const (
	AuditLoginSucceeded  AuditEventType = "login.succeeded"
	AuditLoginFailed     AuditEventType = "login.failed"
	AuditLogout          AuditEventType = "logout"
	AuditTokenRefreshed  AuditEventType = "token.refreshed"
	AuditRefreshReused   AuditEventType = "refresh.reused"
	AuditPasswordChanged AuditEventType = "password.changed"
	AuditPasswordReset   AuditEventType = "password.reset"
	AuditEmailChanged    AuditEventType = "email.changed"
	AuditEmailVerified   AuditEventType = "email.verified"
	AuditRolesChanged    AuditEventType = "roles.changed"
	AuditAPIKeyCreated   AuditEventType = "api_key.created"
	AuditAPIKeyRevoked   AuditEventType = "api_key.revoked"
	AuditOAuthLinked     AuditEventType = "oauth.linked"
	AuditOAuthUnlinked   AuditEventType = "oauth.unlinked"
	AuditUserDeleted     AuditEventType = "user.deleted"
	AuditUserRegistered  AuditEventType = "user.registered"
	AuditSessionEnded    AuditEventType = "session.ended"

	AuditMFAEnabled               AuditEventType = "mfa.enabled"                 // a TOTP confirmed, a passkey added
	AuditMFADisabled              AuditEventType = "mfa.disabled"                // a TOTP or a passkey removed
	AuditMFARecoveryCodesReplaced AuditEventType = "mfa.recovery_codes_replaced" // new recovery codes
	AuditMFAChallengeSucceeded    AuditEventType = "mfa.succeeded"               // a second step of a login passed
	AuditMFAChallengeFailed       AuditEventType = "mfa.failed"                  // a wrong or replayed code
	AuditMFARequiredChanged       AuditEventType = "mfa.required_changed"        // who must have a second factor
)

// AuditOutcome says how the attempt an event records ended.
type AuditOutcome string

// The outcomes. A failure is an attempt that did not succeed (a wrong
// password, an expired token); denied is one refused by policy (a missing
// role, an inactive user), which is what an administrator looks for when
// hunting privilege probing.
const (
	AuditSuccess AuditOutcome = "success"
	AuditFailure AuditOutcome = "failure"
	AuditDenied  AuditOutcome = "denied"
)

// Size caps of an audit event, in bytes (attributes in number). A client
// chooses its User-Agent, and an attacker may choose it to fill the log;
// [AuditEvent.Capped] cuts every field to its cap so that one event stays
// small whatever a request carried.
const (
	MaxAuditEventType = 64
	MaxAuditIP        = 64 // an IPv6 address with a zone fits
	MaxAuditUserAgent = 512
	MaxAuditDetail    = 64
	MaxAuditAttrs     = 16
	MaxAuditAttrKey   = 64
	MaxAuditAttrValue = 256
)

// MaxAuditListLimit is the most events one ListAuditEvents call returns, so
// that an administrator's query cannot load the whole log at once.
const MaxAuditListLimit = 100

// AuditEvent is one security-relevant event: who did what to whom, when,
// from where, and how it ended (OWASP ASVS 16.2.1).
//
// An event never holds a secret: no password, token, token hash, API key,
// key material or OAuth provider token, in any field. Records of them
// would turn the audit log into a second credential store, read by more
// people and kept longer than the first. Attrs are for identifiers only:
// the backend, a key's id, role names, a provider's name.
//
// UserAgent, IP and attribute values come from clients. Stores keep them
// as given (after [AuditEvent.Capped]), control characters included, so an
// investigator sees what was sent; printing them is the reader's concern.
// Logged through log/slog they are quoted (see [AuditEvent.LogValue]), so
// a CR/LF cannot forge a log line (ASVS 16.4.1).
type AuditEvent struct {
	// ID identifies the event; a store fills in a zero ID with NewID().
	ID ID
	// Time is when it happened, in UTC; a store fills in a zero Time from
	// its clock.
	Time  time.Time
	Event AuditEventType
	// UserID is the user the event is about; zero when unknown, such as a
	// failed login with an e-mail no user has.
	UserID ID
	// ActorID is who acted, when not UserID: an administrator changing
	// another user's roles. Zero when the user acted on their own account.
	ActorID   ID
	IP        string // the client address, as chosen by the server's client-IP source
	UserAgent string
	Outcome   AuditOutcome
	// Detail is a short machine code saying why, usually an error Code
	// such as LOGIN_BAD_CREDENTIALS.
	Detail string
	// Attrs holds a few non-secret identifiers, such as "backend": "jwt"
	// or "key_id": "…".
	Attrs map[string]string
}

// Validate reports whether e can be recorded: it must name an event and
// have one of the three outcomes. Stores call it so that a record a reader
// could not classify is refused where it is made, not found years later.
func (e AuditEvent) Validate() error {
	if e.Event == "" {
		return errors.New("gatehouse: audit event: no event type")
	}
	switch e.Outcome {
	case AuditSuccess, AuditFailure, AuditDenied:
		return nil
	}
	return fmt.Errorf("gatehouse: audit event %s: outcome %q, want success, failure or denied", e.Event, e.Outcome)
}

// Capped returns e as an AuditStore keeps it: Time in UTC, every string
// cut to its cap (Max* above) on a character boundary, at most
// MaxAuditAttrs attributes (those with the smallest keys, keys cut to
// MaxAuditAttrKey; of keys that become equal, the smallest original wins),
// and bytes that no text column can hold, NUL and invalid UTF-8, replaced
// with U+FFFD. Without that last step PostgreSQL would refuse the whole
// event, and a client could keep its failed logins out of the log with one
// bad byte in its User-Agent. e's Attrs map is not changed.
func (e AuditEvent) Capped() AuditEvent {
	e.Time = e.Time.UTC()
	e.Event = AuditEventType(capString(string(e.Event), MaxAuditEventType))
	e.IP = capString(e.IP, MaxAuditIP)
	e.UserAgent = capString(e.UserAgent, MaxAuditUserAgent)
	e.Detail = capString(e.Detail, MaxAuditDetail)
	if len(e.Attrs) == 0 {
		e.Attrs = nil
		return e
	}
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make(map[string]string, min(len(keys), MaxAuditAttrs))
	for _, k := range keys {
		if len(attrs) == MaxAuditAttrs {
			break
		}
		ck := capString(k, MaxAuditAttrKey)
		if _, dup := attrs[ck]; !dup {
			attrs[ck] = capString(e.Attrs[k], MaxAuditAttrValue)
		}
	}
	e.Attrs = attrs
	return e
}

// capString makes s valid UTF-8 without NUL and cuts it to at most n
// bytes without splitting a character.
func capString(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// LogValue implements slog.LogValuer, so that logging an event, as in
// slog.Info("audit", "event", e), writes its fields as a group. slog's text
// and JSON handlers quote every string that needs it, escaping CR, LF and
// other control characters: a User-Agent of "x\r\nlevel=ERROR" stays
// inside one line of output. Empty optional fields are left out.
func (e AuditEvent) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("id", e.ID.String()),
		slog.Time("time", e.Time.UTC()),
		slog.String("event", string(e.Event)),
		slog.String("outcome", string(e.Outcome)),
	}
	if !e.UserID.IsZero() {
		attrs = append(attrs, slog.String("user_id", e.UserID.String()))
	}
	if !e.ActorID.IsZero() {
		attrs = append(attrs, slog.String("actor_id", e.ActorID.String()))
	}
	for _, f := range []struct{ key, value string }{
		{"ip", e.IP}, {"user_agent", e.UserAgent}, {"detail", e.Detail},
	} {
		if f.value != "" {
			attrs = append(attrs, slog.String(f.key, f.value))
		}
	}
	if len(e.Attrs) > 0 {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		group := make([]any, len(keys))
		for i, k := range keys {
			group[i] = slog.String(k, e.Attrs[k])
		}
		attrs = append(attrs, slog.Group("attrs", group...))
	}
	return slog.GroupValue(attrs...)
}

// AuditFilter selects events for AuditStore.ListAuditEvents. Zero fields
// select everything. Stores keep times to the microsecond and compare
// Since and Until cut the same way, so an event recorded with Time t is
// selected by Since t and not by Until t.
type AuditFilter struct {
	UserID ID
	Event  AuditEventType
	Since  time.Time // events at or after Since
	Until  time.Time // events before Until
	// Limit is the most events to return: 0, or more than
	// MaxAuditListLimit, means MaxAuditListLimit.
	Limit  int
	Offset int
}

// AuditLog records audit events. Record should not be skipped on error
// paths: a failed login matters more than a successful one.
type AuditLog interface {
	// Record records e, or nothing when e.Validate fails. An AuditStore
	// keeps e.Capped(), filling in a zero ID and Time.
	Record(ctx context.Context, e AuditEvent) error
}

// AuditStore is an AuditLog that can be read back and pruned.
//
// Errors carry CodeUnavailable when the store cannot be reached.
type AuditStore interface {
	AuditLog
	// ListAuditEvents returns a page of the events f selects, newest
	// first (events of one instant by descending ID, so pages never
	// overlap), and how many f selects in all.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, int, error)
	// PruneAuditEvents deletes the events before before (compared to the
	// microsecond, as in AuditFilter), for retention, and returns how many
	// it deleted.
	PruneAuditEvents(ctx context.Context, before time.Time) (int, error)
}
