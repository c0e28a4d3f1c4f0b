package gatehousetest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestAuditStore checks that a gatehouse.AuditStore behaves as documented:
//
//   - events come back as recorded: every field, times in UTC truncated to
//     microseconds, attributes equal and nil when there are none; a zero
//     ID is filled in with a new one and a zero Time from the store's
//     clock; zero UserID and ActorID stay zero;
//   - an event that fails Validate is refused and not stored; an ID in
//     use is CodeConflict;
//   - ListAuditEvents filters by user, event type, Since (inclusive) and
//     Until (exclusive), compared to the microsecond, returns the events
//     newest first, those of one instant by descending ID, pages them by
//     Limit and Offset with the total the filter selects, and never
//     returns more than MaxAuditListLimit;
//   - PruneAuditEvents deletes exactly the events before its time and
//     counts them;
//   - concurrent Records all land, each with its own ID;
//   - a User-Agent with CR, LF, control characters and non-ASCII text
//     comes back unchanged, NUL and invalid UTF-8 as U+FFFD, and fields
//     over their caps come back cut as AuditEvent.Capped cuts them.
//
// open must return a new, empty store whose clock is now.
func TestAuditStore(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.AuditStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.AuditStore, clk *clock)
	}{
		{"RoundTrip", testAuditRoundTrip},
		{"Defaults", testAuditDefaults},
		{"Invalid", testAuditInvalid},
		{"DuplicateID", testAuditDuplicateID},
		{"Filters", testAuditFilters},
		{"Order", testAuditOrder},
		{"Pages", testAuditPages},
		{"LimitCap", testAuditLimitCap},
		{"Prune", testAuditPrune},
		{"Concurrent", testAuditConcurrent},
		{"UserAgent", testAuditUserAgent},
		{"Oversize", testAuditOversize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			tt.run(t, open(t, clk.Now), clk)
		})
	}
}

// auditEvent is a successful login of user at at, with every field set.
func auditEvent(user gatehouse.ID, at time.Time) gatehouse.AuditEvent {
	return gatehouse.AuditEvent{ID: gatehouse.NewID(), Time: at, Event: gatehouse.AuditLoginSucceeded,
		UserID: user, IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		Outcome: gatehouse.AuditSuccess, Attrs: map[string]string{"backend": "jwt"}}
}

func record(t *testing.T, s gatehouse.AuditStore, e gatehouse.AuditEvent) {
	t.Helper()
	if err := s.Record(t.Context(), e); err != nil {
		t.Fatalf("Record(%s %s): %v", e.Event, e.ID, err)
	}
}

func listAudit(t *testing.T, s gatehouse.AuditStore, f gatehouse.AuditFilter) ([]gatehouse.AuditEvent, int) {
	t.Helper()
	events, total, err := s.ListAuditEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("ListAuditEvents(%+v): %v", f, err)
	}
	if events == nil {
		t.Errorf("ListAuditEvents(%+v) = nil, want a non-nil slice", f)
	}
	return events, total
}

// onlyAudit is the one event the store holds.
func onlyAudit(t *testing.T, s gatehouse.AuditStore) gatehouse.AuditEvent {
	t.Helper()
	events, total := listAudit(t, s, gatehouse.AuditFilter{})
	if len(events) != 1 || total != 1 {
		t.Fatalf("ListAuditEvents = %d events, total %d; want 1, 1", len(events), total)
	}
	return events[0]
}

// diffAudit lists how got differs from want, times compared as stored.
func diffAudit(got, want gatehouse.AuditEvent) string {
	var d []string
	add := func(field, g, w string) { d = append(d, fmt.Sprintf("%s = %s, want %s", field, g, w)) }
	str := func(field, g, w string) {
		if g != w {
			add(field, brief(g), brief(w))
		}
	}
	str("ID", got.ID.String(), want.ID.String())
	if !sameTime(got.Time, want.Time) {
		add("Time", got.Time.String(), stored(want.Time).String())
	}
	str("Event", string(got.Event), string(want.Event))
	str("UserID", got.UserID.String(), want.UserID.String())
	str("ActorID", got.ActorID.String(), want.ActorID.String())
	str("IP", got.IP, want.IP)
	str("UserAgent", got.UserAgent, want.UserAgent)
	str("Outcome", string(got.Outcome), string(want.Outcome))
	str("Detail", got.Detail, want.Detail)
	if !maps.Equal(got.Attrs, want.Attrs) || (got.Attrs == nil) != (want.Attrs == nil) {
		add("Attrs", briefAttrs(got.Attrs), briefAttrs(want.Attrs))
	}
	return strings.Join(d, "; ")
}

// brief quotes s for a failure message, shortened when long: the oversize
// cases would otherwise print kilobytes.
func brief(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", string([]rune(s)[:40]), len(s))
}

func briefAttrs(attrs map[string]string) string {
	if attrs == nil {
		return "nil"
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		kv = append(kv, brief(k)+": "+brief(attrs[k]))
	}
	return "{" + strings.Join(kv, ", ") + "}"
}

// auditIDs is the ids of events, in order, for failure messages.
func auditIDs(events []gatehouse.AuditEvent) []gatehouse.ID {
	ids := make([]gatehouse.ID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func testAuditRoundTrip(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	// A time in a zone other than UTC, with nanoseconds a store cannot
	// keep, an hour before the store's clock.
	at := clk.Now().Add(-time.Hour)
	e := gatehouse.AuditEvent{
		ID: gatehouse.NewID(), Time: at, Event: gatehouse.AuditRolesChanged,
		UserID: gatehouse.NewID(), ActorID: gatehouse.NewID(),
		IP: "2001:db8::1", UserAgent: "curl/8.5.0", Outcome: gatehouse.AuditDenied,
		Detail: string(gatehouse.CodeForbidden),
		Attrs:  map[string]string{"backend": "jwt", "roles": "admin,editor", "key_id": "k1"},
	}
	record(t, s, e)
	if d := diffAudit(onlyAudit(t, s), e); d != "" {
		t.Errorf("event after Record: %s", d)
	}
}

func testAuditDefaults(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	// A failed login for an e-mail no user has: no user, no actor, no
	// attributes; the store picks the ID and the time.
	e := gatehouse.AuditEvent{Event: gatehouse.AuditLoginFailed, Outcome: gatehouse.AuditFailure,
		IP: "198.51.100.1", Detail: string(gatehouse.CodeLoginBadCredentials), Attrs: map[string]string{}}
	record(t, s, e)
	got := onlyAudit(t, s)
	if got.ID.IsZero() {
		t.Error("Record of a zero ID stored a zero ID, want a new one")
	}
	want := e
	want.ID, want.Time, want.Attrs = got.ID, clk.Now(), nil
	if d := diffAudit(got, want); d != "" {
		t.Errorf("event after Record: %s", d)
	}
}

func testAuditInvalid(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	good := auditEvent(gatehouse.NewID(), clk.Now())
	noEvent, noOutcome, badOutcome := good, good, good
	noEvent.Event = ""
	noOutcome.Outcome = ""
	badOutcome.Outcome = "maybe"
	for name, e := range map[string]gatehouse.AuditEvent{
		"no event type": noEvent, "no outcome": noOutcome, "an unknown outcome": badOutcome,
	} {
		if err := s.Record(t.Context(), e); err == nil {
			t.Errorf("Record of an event with %s succeeded", name)
		}
	}
	if events, total := listAudit(t, s, gatehouse.AuditFilter{}); len(events) != 0 || total != 0 {
		t.Errorf("after refused Records: %d events, total %d; want none", len(events), total)
	}
}

func testAuditDuplicateID(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	e := auditEvent(gatehouse.NewID(), clk.Now())
	record(t, s, e)
	again := auditEvent(gatehouse.NewID(), clk.Now())
	again.ID = e.ID
	if err := s.Record(t.Context(), again); code(err) != gatehouse.CodeConflict {
		t.Errorf("Record of an ID in use: %v, want a %q error", err, gatehouse.CodeConflict)
	}
	if d := diffAudit(onlyAudit(t, s), e); d != "" {
		t.Errorf("first event after the duplicate: %s", d)
	}
}

func testAuditFilters(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	u1, u2 := gatehouse.NewID(), gatehouse.NewID()
	// at(i) has nanoseconds, which the store cuts: the filters must select
	// as if the bounds were cut alike.
	base := clk.Now().Add(-time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	mk := func(i int, user gatehouse.ID, ev gatehouse.AuditEventType) gatehouse.AuditEvent {
		e := auditEvent(user, at(i))
		e.Event = ev
		if ev == gatehouse.AuditLoginFailed {
			e.Outcome = gatehouse.AuditFailure
		}
		return e
	}
	es := []gatehouse.AuditEvent{
		mk(0, u1, gatehouse.AuditLoginSucceeded),
		mk(1, u1, gatehouse.AuditLoginFailed),
		mk(2, u1, gatehouse.AuditLogout),
		mk(3, u2, gatehouse.AuditLoginFailed),
		mk(4, gatehouse.ID{}, gatehouse.AuditLoginFailed), // unknown e-mail
	}
	for _, e := range es {
		record(t, s, e)
	}
	tests := []struct {
		name string
		f    gatehouse.AuditFilter
		want []int // indexes into es, newest first
	}{
		{"all", gatehouse.AuditFilter{}, []int{4, 3, 2, 1, 0}},
		{"user", gatehouse.AuditFilter{UserID: u1}, []int{2, 1, 0}},
		{"user without events", gatehouse.AuditFilter{UserID: gatehouse.NewID()}, nil},
		{"event", gatehouse.AuditFilter{Event: gatehouse.AuditLoginFailed}, []int{4, 3, 1}},
		{"user and event", gatehouse.AuditFilter{UserID: u1, Event: gatehouse.AuditLoginFailed}, []int{1}},
		{"since, inclusive", gatehouse.AuditFilter{Since: at(1)}, []int{4, 3, 2, 1}},
		{"until, exclusive", gatehouse.AuditFilter{Until: at(3)}, []int{2, 1, 0}},
		{"since and until", gatehouse.AuditFilter{Since: at(1), Until: at(3)}, []int{2, 1}},
		{"since in UTC", gatehouse.AuditFilter{Since: at(3).UTC()}, []int{4, 3}},
		{"since a nanosecond later", gatehouse.AuditFilter{Since: stored(at(1)).Add(time.Nanosecond)}, []int{4, 3, 2, 1}},
		{"since a microsecond later", gatehouse.AuditFilter{Since: stored(at(1)).Add(time.Microsecond)}, []int{4, 3, 2}},
		{"everything", gatehouse.AuditFilter{UserID: u2, Event: gatehouse.AuditLoginFailed, Since: at(0), Until: at(4)}, []int{3}},
	}
	for _, tt := range tests {
		got, total := listAudit(t, s, tt.f)
		if total != len(tt.want) {
			t.Errorf("%s: total %d, want %d", tt.name, total, len(tt.want))
		}
		want := make([]gatehouse.ID, len(tt.want))
		for i, j := range tt.want {
			want[i] = es[j].ID
		}
		if !slices.Equal(auditIDs(got), want) {
			t.Errorf("%s: events %v, want %v", tt.name, auditIDs(got), want)
			continue
		}
		for i, j := range tt.want {
			if d := diffAudit(got[i], es[j]); d != "" {
				t.Errorf("%s: event %d: %s", tt.name, j, d)
			}
		}
	}
}

// sortAudit orders events as ListAuditEvents must: newest first, then by
// descending ID (bytes, which is also the order of the canonical text).
func sortAudit(events []gatehouse.AuditEvent) {
	slices.SortFunc(events, func(a, b gatehouse.AuditEvent) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
}

func testAuditOrder(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	now := stored(clk.Now())
	// Three instants, recorded out of order, several events at each.
	var want []gatehouse.AuditEvent
	for _, d := range []time.Duration{time.Second, 0, 2 * time.Second, time.Second, 0, 2 * time.Second, time.Second} {
		e := auditEvent(gatehouse.NewID(), now.Add(d))
		record(t, s, e)
		want = append(want, e)
	}
	sortAudit(want)
	got, _ := listAudit(t, s, gatehouse.AuditFilter{})
	if !slices.Equal(auditIDs(got), auditIDs(want)) {
		t.Errorf("ListAuditEvents order %v, want %v (newest first, then descending ID)", auditIDs(got), auditIDs(want))
	}
}

func testAuditPages(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	user := gatehouse.NewID()
	now := stored(clk.Now())
	var want []gatehouse.AuditEvent
	for i := range 25 {
		// Pairs of events share an instant, so pages must break ties.
		e := auditEvent(user, now.Add(time.Duration(i/2)*time.Second))
		record(t, s, e)
		want = append(want, e)
		// Another user's events must not be counted.
		record(t, s, auditEvent(gatehouse.NewID(), e.Time))
	}
	sortAudit(want)
	var got []gatehouse.AuditEvent
	for offset := 0; offset < 30; offset += 10 {
		page, total := listAudit(t, s, gatehouse.AuditFilter{UserID: user, Limit: 10, Offset: offset})
		if total != 25 {
			t.Errorf("page at %d: total %d, want 25", offset, total)
		}
		if wantLen := min(10, 25-offset); len(page) != wantLen {
			t.Errorf("page at %d: %d events, want %d", offset, len(page), wantLen)
		}
		got = append(got, page...)
	}
	if !slices.Equal(auditIDs(got), auditIDs(want)) {
		t.Errorf("pages of 10 gave %v, want %v", auditIDs(got), auditIDs(want))
	}
	page, total := listAudit(t, s, gatehouse.AuditFilter{UserID: user, Limit: 10, Offset: 100})
	if len(page) != 0 || total != 25 {
		t.Errorf("page past the end: %d events, total %d; want 0, 25", len(page), total)
	}
	page, _ = listAudit(t, s, gatehouse.AuditFilter{UserID: user, Limit: 3, Offset: -5})
	if !slices.Equal(auditIDs(page), auditIDs(want[:3])) {
		t.Errorf("negative Offset gave %v, want the first page %v", auditIDs(page), auditIDs(want[:3]))
	}
}

func testAuditLimitCap(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	const n = gatehouse.MaxAuditListLimit + 20
	user := gatehouse.NewID()
	for i := range n {
		record(t, s, auditEvent(user, clk.Now().Add(time.Duration(i)*time.Millisecond)))
	}
	for _, limit := range []int{0, -1, gatehouse.MaxAuditListLimit + 1, 1 << 30} {
		page, total := listAudit(t, s, gatehouse.AuditFilter{Limit: limit})
		if len(page) != gatehouse.MaxAuditListLimit || total != n {
			t.Errorf("Limit %d: %d events, total %d; want %d, %d", limit, len(page), total, gatehouse.MaxAuditListLimit, n)
		}
	}
}

func testAuditPrune(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	now := clk.Now()
	user := gatehouse.NewID()
	old, edge, recent := auditEvent(user, now.Add(-48*time.Hour)), auditEvent(user, now.Add(-24*time.Hour)), auditEvent(user, now)
	for _, e := range []gatehouse.AuditEvent{old, edge, recent} {
		record(t, s, e)
	}
	// edge is not before its own time, whatever nanoseconds a store cuts.
	if n, err := s.PruneAuditEvents(t.Context(), edge.Time); err != nil || n != 1 {
		t.Errorf("PruneAuditEvents(before edge) = %d, %v; want 1, nil", n, err)
	}
	got, total := listAudit(t, s, gatehouse.AuditFilter{})
	if want := []gatehouse.ID{recent.ID, edge.ID}; !slices.Equal(auditIDs(got), want) || total != 2 {
		t.Errorf("after PruneAuditEvents: %v, total %d; want %v, 2", auditIDs(got), total, want)
	}
	if n, err := s.PruneAuditEvents(t.Context(), edge.Time); err != nil || n != 0 {
		t.Errorf("second PruneAuditEvents = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.PruneAuditEvents(t.Context(), now.Add(time.Hour)); err != nil || n != 2 {
		t.Errorf("PruneAuditEvents(after everything) = %d, %v; want 2, nil", n, err)
	}
	if _, total := listAudit(t, s, gatehouse.AuditFilter{}); total != 0 {
		t.Errorf("after pruning everything: total %d, want 0", total)
	}
}

func testAuditConcurrent(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	const workers, each = 8, 20
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				// Zero ID and time: the store fills both in, at one instant.
				e := auditEvent(gatehouse.NewID(), time.Time{})
				e.ID = gatehouse.ID{}
				if err := s.Record(t.Context(), e); err != nil {
					t.Errorf("concurrent Record: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	seen := map[gatehouse.ID]bool{}
	for offset := 0; ; offset += gatehouse.MaxAuditListLimit {
		page, total := listAudit(t, s, gatehouse.AuditFilter{Offset: offset})
		if total != workers*each {
			t.Fatalf("after %d concurrent Records: total %d", workers*each, total)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			if seen[e.ID] {
				t.Errorf("ID %s listed twice", e.ID)
			}
			seen[e.ID] = true
			if !sameTime(e.Time, clk.Now()) {
				t.Errorf("event %s at %v, want the store's clock %v", e.ID, e.Time, stored(clk.Now()))
			}
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct events listed, want %d", len(seen), workers*each)
	}
}

func testAuditUserAgent(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	// What a client sends is kept: an investigator must see the CR/LF
	// someone used to try to forge a log line. Only what no text column
	// can hold is replaced.
	tests := []struct{ name, sent, want string }{
		{"CR/LF", "Mozilla/5.0\r\nlevel=ERROR msg=\"forged\"\n", ""},
		{"control characters", "a\tb\x1b[31mred\x1b[0m\x7f\u2028\u2029", ""},
		{"unicode", "Navigateur/1.0 (ünïcødé; 日本語; 🙂; e\u0301)", ""},
		{"NUL and invalid UTF-8", "a\x00b\xffc\xc3", "a\uFFFDb\uFFFDc\uFFFD"},
	}
	for _, tt := range tests {
		want := tt.want
		if want == "" {
			want = tt.sent
		}
		e := auditEvent(gatehouse.NewID(), clk.Now())
		e.UserAgent = tt.sent
		e.Attrs = map[string]string{"note": tt.sent}
		record(t, s, e)
		got, _ := listAudit(t, s, gatehouse.AuditFilter{UserID: e.UserID})
		if len(got) != 1 {
			t.Errorf("%s: %d events, want 1", tt.name, len(got))
			continue
		}
		if got[0].UserAgent != want {
			t.Errorf("%s: UserAgent %q, want %q", tt.name, got[0].UserAgent, want)
		}
		if got[0].Attrs["note"] != want {
			t.Errorf("%s: attribute %q, want %q", tt.name, got[0].Attrs["note"], want)
		}
	}
}

func testAuditOversize(t *testing.T, s gatehouse.AuditStore, clk *clock) {
	attrs := map[string]string{strings.Repeat("k", 200): "long key"}
	for i := range gatehouse.MaxAuditAttrs + 4 {
		attrs[fmt.Sprintf("a%02d", i)] = strings.Repeat("v", 1000)
	}
	e := auditEvent(gatehouse.NewID(), clk.Now())
	// Multi-byte characters, so that a cut in the middle of one shows.
	e.UserAgent = strings.Repeat("€", 1000)
	e.IP = strings.Repeat("1", 200)
	e.Detail = strings.Repeat("D", 200)
	e.Event = gatehouse.AuditEventType("mfa." + strings.Repeat("x", 200))
	e.Attrs = attrs
	record(t, s, e)
	got := onlyAudit(t, s)

	want := e
	want.UserAgent = strings.Repeat("€", gatehouse.MaxAuditUserAgent/3)
	want.IP = strings.Repeat("1", gatehouse.MaxAuditIP)
	want.Detail = strings.Repeat("D", gatehouse.MaxAuditDetail)
	want.Event = e.Event[:gatehouse.MaxAuditEventType]
	// The smallest keys are kept, long ones cut.
	want.Attrs = map[string]string{}
	for i := range gatehouse.MaxAuditAttrs {
		want.Attrs[fmt.Sprintf("a%02d", i)] = strings.Repeat("v", gatehouse.MaxAuditAttrValue)
	}
	if d := diffAudit(got, want); d != "" {
		t.Errorf("oversize event: %s", d)
	}
	if len(attrs) != gatehouse.MaxAuditAttrs+5 {
		t.Errorf("Record changed the caller's Attrs: %d left", len(attrs))
	}

	e2 := auditEvent(gatehouse.NewID(), clk.Now())
	e2.Attrs = map[string]string{strings.Repeat("k", 200): "long key"}
	record(t, s, e2)
	got2, _ := listAudit(t, s, gatehouse.AuditFilter{UserID: e2.UserID})
	if len(got2) != 1 {
		t.Fatalf("event with a long attribute key: %d events, want 1", len(got2))
	}
	if got2[0].Attrs[strings.Repeat("k", gatehouse.MaxAuditAttrKey)] != "long key" {
		t.Errorf("event with a long attribute key: attributes %s, want the key cut to %d bytes",
			briefAttrs(got2[0].Attrs), gatehouse.MaxAuditAttrKey)
	}
}
