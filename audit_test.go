package gatehouse_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

func TestAuditEventValidate(t *testing.T) {
	ok := gatehouse.AuditEvent{Event: gatehouse.AuditLogout, Outcome: gatehouse.AuditSuccess}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate of %+v: %v", ok, err)
	}
	for _, o := range []gatehouse.AuditOutcome{gatehouse.AuditFailure, gatehouse.AuditDenied} {
		e := ok
		e.Outcome = o
		if err := e.Validate(); err != nil {
			t.Errorf("Validate with outcome %q: %v", o, err)
		}
	}
	bad := map[string]gatehouse.AuditEvent{
		"no event type":      {Outcome: gatehouse.AuditSuccess},
		"no outcome":         {Event: gatehouse.AuditLogout},
		"an unknown outcome": {Event: gatehouse.AuditLogout, Outcome: "Success"},
	}
	for name, e := range bad {
		if err := e.Validate(); err == nil {
			t.Errorf("Validate of an event with %s succeeded", name)
		}
	}
}

func TestAuditEventCapped(t *testing.T) {
	attrs := map[string]string{"backend": "jwt", "empty": ""}
	for i := range gatehouse.MaxAuditAttrs {
		attrs[fmt.Sprintf("z%02d", i)] = "v"
	}
	e := gatehouse.AuditEvent{
		Time:      time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("UTC+9", 9*60*60)),
		Event:     gatehouse.AuditLoginFailed,
		IP:        "203.0.113.9",
		UserAgent: "ab" + strings.Repeat("🙂", 200), // 4-byte characters; 2+4k never lands on the cap
		Detail:    "LOGIN_BAD_CREDENTIALS\x00\xfe",
		Attrs:     attrs,
	}
	c := e.Capped()
	if c.Time.Location() != time.UTC || !c.Time.Equal(e.Time) {
		t.Errorf("Time = %v, want %v in UTC", c.Time, e.Time)
	}
	if want := "ab" + strings.Repeat("🙂", (gatehouse.MaxAuditUserAgent-2)/4); c.UserAgent != want {
		t.Errorf("UserAgent cut to %d bytes (valid UTF-8: %t), want %d", len(c.UserAgent), utf8.ValidString(c.UserAgent), len(want))
	}
	if c.IP != e.IP || c.Event != e.Event {
		t.Errorf("short fields changed: IP %q, Event %q", c.IP, c.Event)
	}
	if want := "LOGIN_BAD_CREDENTIALS\uFFFD\uFFFD"; c.Detail != want {
		t.Errorf("Detail = %q, want %q", c.Detail, want)
	}
	if len(c.Attrs) != gatehouse.MaxAuditAttrs {
		t.Errorf("%d attributes kept, want %d", len(c.Attrs), gatehouse.MaxAuditAttrs)
	}
	// The smallest keys win: backend, empty, z00…z13.
	if _, ok := c.Attrs["backend"]; !ok || c.Attrs["z13"] != "v" {
		t.Errorf("attributes kept: %v, want the %d smallest keys", c.Attrs, gatehouse.MaxAuditAttrs)
	}
	if _, ok := c.Attrs["z14"]; ok {
		t.Errorf("attribute z14 kept: %v", c.Attrs)
	}
	if len(attrs) != gatehouse.MaxAuditAttrs+2 {
		t.Errorf("Capped changed the caller's map: %d attributes left", len(attrs))
	}

	// Keys that become equal when cut: the smallest original wins.
	long := strings.Repeat("k", gatehouse.MaxAuditAttrKey)
	c = gatehouse.AuditEvent{Attrs: map[string]string{long + "b": "2", long + "a": "1"}}.Capped()
	if len(c.Attrs) != 1 || c.Attrs[long] != "1" {
		t.Errorf("colliding cut keys: %v, want {%s: 1}", c.Attrs, long)
	}

	if c := (gatehouse.AuditEvent{Attrs: map[string]string{}}).Capped(); c.Attrs != nil {
		t.Errorf("empty Attrs capped to %#v, want nil", c.Attrs)
	}
}

// A User-Agent with CR/LF is logged on one line, escaped, and reads back
// unchanged from the JSON handler's output (security checklist item 99).
func TestAuditEventLogValue(t *testing.T) {
	ua := "evil\r\nlevel=ERROR msg=\"forged\" user_id=admin\n"
	e := gatehouse.AuditEvent{
		ID: gatehouse.NewID(), Time: time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("X", 3600)),
		Event: gatehouse.AuditLoginFailed, UserID: gatehouse.NewID(), IP: "198.51.100.2", UserAgent: ua,
		Outcome: gatehouse.AuditFailure, Detail: string(gatehouse.CodeLoginBadCredentials),
		Attrs: map[string]string{"backend": "jwt\r\nx=y"},
	}

	var text bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("audit", "audit", e)
	if out := strings.TrimSuffix(text.String(), "\n"); strings.ContainsAny(out, "\r\n") {
		t.Errorf("text log is not one line: %q", text.String())
	}
	for _, want := range []string{
		`audit.user_agent="evil\r\nlevel=ERROR msg=\"forged\" user_id=admin\n"`,
		`audit.time=2025-06-01T11:00:00.000Z`,
		`audit.user_id=` + e.UserID.String(),
		`audit.attrs.backend="jwt\r\nx=y"`,
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text log %q lacks %s", text.String(), want)
		}
	}

	var js bytes.Buffer
	slog.New(slog.NewJSONHandler(&js, nil)).Info("audit", "audit", e)
	if out := strings.TrimSuffix(js.String(), "\n"); strings.ContainsAny(out, "\r\n") {
		t.Errorf("JSON log is not one line: %q", js.String())
	}
	var rec struct {
		Audit struct {
			UserAgent string            `json:"user_agent"`
			Actor     *string           `json:"actor_id"`
			Attrs     map[string]string `json:"attrs"`
		} `json:"audit"`
	}
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Audit.UserAgent != ua || rec.Audit.Attrs["backend"] != e.Attrs["backend"] {
		t.Errorf("JSON log gives user_agent %q, attrs %v; want %q, %v", rec.Audit.UserAgent, rec.Audit.Attrs, ua, e.Attrs)
	}
	if rec.Audit.Actor != nil {
		t.Errorf("JSON log has actor_id %q for an event without one", *rec.Audit.Actor)
	}
}

// An audit event logged through log/slog: the User-Agent's line break is
// escaped, so it cannot start a forged line.
func ExampleAuditEvent_LogValue() {
	id, _ := gatehouse.ParseID("0b6f2a4e-8c1d-4f3a-9e7b-5d2c1a0f9e8d")
	e := gatehouse.AuditEvent{
		ID:        id,
		Time:      time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Event:     gatehouse.AuditLoginFailed,
		IP:        "198.51.100.2",
		UserAgent: "curl\nlevel=ERROR",
		Outcome:   gatehouse.AuditFailure,
		Detail:    string(gatehouse.CodeLoginBadCredentials),
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the record's own time, which changes
			}
			return a
		},
	}))
	logger.Info("audit", "audit", e)
	// Output:
	// level=INFO msg=audit audit.id=0b6f2a4e-8c1d-4f3a-9e7b-5d2c1a0f9e8d audit.time=2025-06-01T12:00:00.000Z audit.event=login.failed audit.outcome=failure audit.ip=198.51.100.2 audit.user_agent="curl\nlevel=ERROR" audit.detail=LOGIN_BAD_CREDENTIALS
}
