package gatehousetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestUserStore checks that a gatehouse.UserStore behaves as documented:
// ids and times assigned on creation from the store's clock, e-mails unique
// and matched ignoring (ASCII) case even under concurrent registration,
// partial updates, custom fields merged with nulls kept, paging and
// filtering with LIKE wildcards taken literally, and CodeNotFound /
// CodeConflict errors.
//
// open must return a new, empty store whose clock is now. Times are expected
// back in UTC, truncated to microseconds.
func TestUserStore(t *testing.T, open func(t *testing.T, now func() time.Time) gatehouse.UserStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, s gatehouse.UserStore, clk *clock)
	}{
		{"CreateAssignsIDAndTimes", testCreateAssignsIDAndTimes},
		{"CreateKeepsID", testCreateKeepsID},
		{"FindByEmailIgnoresCase", testFindByEmailIgnoresCase},
		{"DuplicateEmailOtherCase", testDuplicateEmailOtherCase},
		{"NotFound", testNotFound},
		{"Update", testUpdate},
		{"PartialUpdate", testPartialUpdate},
		{"UpdateEmailConflict", testUpdateEmailConflict},
		{"ConditionalUpdate", testConditionalUpdate},
		{"ConcurrentConditionalUpdates", testConcurrentConditionalUpdates},
		{"Fields", testFields},
		{"Delete", testDelete},
		{"FindUsersPages", testFindUsersPages},
		{"FindUsersDefaultLimit", testFindUsersDefaultLimit},
		{"FindUsersSameInstant", testFindUsersSameInstant},
		{"FindUsersFilter", testFindUsersFilter},
		{"FindUsersLikeWildcards", testFindUsersLikeWildcards},
		{"ConcurrentCreateSameEmail", testConcurrentCreateSameEmail},
		{"ConcurrentFieldUpdates", testConcurrentFieldUpdates},
		{"TimesRoundTrip", testTimesRoundTrip},
		{"ClockInjected", testClockInjected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			s := open(t, clk.Now)
			tt.run(t, s, clk)
		})
	}
}

func create(t *testing.T, s gatehouse.UserStore, u *gatehouse.User) *gatehouse.User {
	t.Helper()
	if u.HashedPassword == "" {
		u.HashedPassword = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.Email, err)
	}
	return u
}

func find(t *testing.T, s gatehouse.UserStore, id gatehouse.ID) *gatehouse.User {
	t.Helper()
	u, err := s.FindUserByID(t.Context(), id)
	if err != nil {
		t.Fatalf("FindUserByID(%v): %v", id, err)
	}
	return u
}

func findUsers(t *testing.T, s gatehouse.UserStore, f gatehouse.UserFilter) ([]string, int) {
	t.Helper()
	users, total, err := s.FindUsers(t.Context(), f)
	if err != nil {
		t.Fatalf("FindUsers(%+v): %v", f, err)
	}
	emails := make([]string, len(users))
	for i, u := range users {
		emails[i] = u.Email
	}
	return emails, total
}

func wantCode(t *testing.T, what string, err error, want gatehouse.Code) {
	t.Helper()
	if got := code(err); got != want {
		t.Errorf("%s: error %v has code %q, want %q", what, err, got, want)
	}
}

// diffUser lists how got differs from want; times compare as stored.
func diffUser(got, want *gatehouse.User) string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Email != want.Email {
		add("Email", got.Email, want.Email)
	}
	if got.HashedPassword != want.HashedPassword {
		add("HashedPassword", got.HashedPassword, want.HashedPassword)
	}
	if got.IsActive != want.IsActive {
		add("IsActive", got.IsActive, want.IsActive)
	}
	if got.IsSuperuser != want.IsSuperuser {
		add("IsSuperuser", got.IsSuperuser, want.IsSuperuser)
	}
	if got.IsVerified != want.IsVerified {
		add("IsVerified", got.IsVerified, want.IsVerified)
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, stored(want.CreatedAt))
	}
	if !sameTime(got.UpdatedAt, want.UpdatedAt) {
		add("UpdatedAt", got.UpdatedAt, stored(want.UpdatedAt))
	}
	if !sameFields(got.Fields, want.Fields) {
		add("Fields", got.Fields, want.Fields)
	}
	return strings.Join(d, "; ")
}

// sameFields compares custom fields; a nil map and an empty one are alike.
func sameFields(got, want map[string]any) bool {
	if len(got) == 0 && len(want) == 0 {
		return true
	}
	return reflect.DeepEqual(got, want)
}

func testCreateAssignsIDAndTimes(t *testing.T, s gatehouse.UserStore, clk *clock) {
	u := create(t, s, &gatehouse.User{Email: "alice@example.com", IsActive: true})
	if u.ID.IsZero() {
		t.Fatal("CreateUser left the ID zero")
	}
	if !sameTime(u.CreatedAt, clk.Now()) || !sameTime(u.UpdatedAt, clk.Now()) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want both %v", u.CreatedAt, u.UpdatedAt, stored(clk.Now()))
	}
	if d := diffUser(find(t, s, u.ID), u); d != "" {
		t.Errorf("FindUserByID after CreateUser: %s", d)
	}
	v := create(t, s, &gatehouse.User{Email: "bob@example.com"})
	if v.ID == u.ID {
		t.Errorf("two users got the same ID %v", u.ID)
	}
}

func testCreateKeepsID(t *testing.T, s gatehouse.UserStore, _ *clock) {
	id := gatehouse.NewID()
	u := create(t, s, &gatehouse.User{ID: id, Email: "alice@example.com"})
	if u.ID != id {
		t.Fatalf("CreateUser replaced the given ID %v with %v", id, u.ID)
	}
	if d := diffUser(find(t, s, id), u); d != "" {
		t.Errorf("FindUserByID: %s", d)
	}
}

func testFindByEmailIgnoresCase(t *testing.T, s gatehouse.UserStore, _ *clock) {
	u := create(t, s, &gatehouse.User{Email: "Alice.Smith@Example.COM", IsActive: true})
	for _, email := range []string{"Alice.Smith@Example.COM", "alice.smith@example.com", "ALICE.SMITH@EXAMPLE.COM"} {
		got, err := s.FindUserByEmail(t.Context(), email)
		if err != nil {
			t.Errorf("FindUserByEmail(%q): %v", email, err)
			continue
		}
		// The e-mail comes back as it was given, not lowered.
		if d := diffUser(got, u); d != "" {
			t.Errorf("FindUserByEmail(%q): %s", email, d)
		}
	}
	_, err := s.FindUserByEmail(t.Context(), "alice.smith@example.co")
	wantCode(t, "FindUserByEmail of a prefix", err, gatehouse.CodeNotFound)
}

func testDuplicateEmailOtherCase(t *testing.T, s gatehouse.UserStore, _ *clock) {
	first := create(t, s, &gatehouse.User{Email: "Bob@Example.com"})
	for _, email := range []string{"Bob@Example.com", "bob@example.com", "BOB@EXAMPLE.COM"} {
		err := s.CreateUser(t.Context(), &gatehouse.User{Email: email, HashedPassword: "h"})
		wantCode(t, fmt.Sprintf("CreateUser(%q) after %q", email, first.Email), err, gatehouse.CodeConflict)
	}
	if emails, total := findUsers(t, s, gatehouse.UserFilter{}); total != 1 || len(emails) != 1 {
		t.Errorf("FindUsers = %q, total %d; want only %q", emails, total, first.Email)
	}
}

func testNotFound(t *testing.T, s gatehouse.UserStore, _ *clock) {
	ctx := t.Context()
	create(t, s, &gatehouse.User{Email: "someone@example.com"})
	missing := gatehouse.NewID()
	_, err := s.FindUserByID(ctx, missing)
	wantCode(t, "FindUserByID", err, gatehouse.CodeNotFound)
	_, err = s.FindUserByEmail(ctx, "nobody@example.com")
	wantCode(t, "FindUserByEmail", err, gatehouse.CodeNotFound)
	verified := true
	_, err = s.UpdateUser(ctx, missing, gatehouse.UserUpdate{IsVerified: &verified})
	wantCode(t, "UpdateUser", err, gatehouse.CodeNotFound)
	_, err = s.UpdateUser(ctx, missing, gatehouse.UserUpdate{Fields: map[string]any{"a": 1}})
	wantCode(t, "UpdateUser of fields", err, gatehouse.CodeNotFound)
	err = s.DeleteUser(ctx, missing)
	wantCode(t, "DeleteUser", err, gatehouse.CodeNotFound)
}

func testUpdate(t *testing.T, s gatehouse.UserStore, clk *clock) {
	u := create(t, s, &gatehouse.User{Email: "carol@example.com", IsActive: true, Fields: map[string]any{"name": "Carol"}})
	clk.Add(time.Hour)
	email, hash, active, super, verified := "Carol.New@Example.com", "new-hash", false, true, true
	got, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{
		Email: &email, HashedPassword: &hash, IsActive: &active, IsSuperuser: &super, IsVerified: &verified,
		Fields: map[string]any{"name": "Caroline"},
	})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := &gatehouse.User{
		ID: u.ID, Email: email, HashedPassword: hash, IsActive: active, IsSuperuser: super, IsVerified: verified,
		CreatedAt: u.CreatedAt, UpdatedAt: clk.Now(), Fields: map[string]any{"name": "Caroline"},
	}
	if d := diffUser(got, want); d != "" {
		t.Errorf("UpdateUser returned: %s", d)
	}
	if d := diffUser(find(t, s, u.ID), want); d != "" {
		t.Errorf("FindUserByID after UpdateUser: %s", d)
	}
	if _, err := s.FindUserByEmail(t.Context(), "carol@example.com"); code(err) != gatehouse.CodeNotFound {
		t.Errorf("the old e-mail still finds a user (err %v)", err)
	}
}

func testPartialUpdate(t *testing.T, s gatehouse.UserStore, clk *clock) {
	u := create(t, s, &gatehouse.User{
		Email: "dave@example.com", HashedPassword: "dave-hash", IsActive: true, IsSuperuser: true,
		Fields: map[string]any{"name": "Dave", "age": 40.0},
	})
	clk.Add(time.Minute)
	verified := true
	got, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{IsVerified: &verified})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := *u
	want.IsVerified = true
	want.UpdatedAt = clk.Now()
	if d := diffUser(got, &want); d != "" {
		t.Errorf("UpdateUser(IsVerified) returned: %s", d)
	}

	// An empty update changes nothing but the update time.
	clk.Add(time.Minute)
	got, err = s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{})
	if err != nil {
		t.Fatalf("UpdateUser(empty): %v", err)
	}
	want.UpdatedAt = clk.Now()
	if d := diffUser(got, &want); d != "" {
		t.Errorf("UpdateUser(empty) returned: %s", d)
	}
	if d := diffUser(find(t, s, u.ID), &want); d != "" {
		t.Errorf("FindUserByID after UpdateUser: %s", d)
	}
}

func testUpdateEmailConflict(t *testing.T, s gatehouse.UserStore, _ *clock) {
	a := create(t, s, &gatehouse.User{Email: "erin@example.com"})
	b := create(t, s, &gatehouse.User{Email: "frank@example.com"})
	taken := "ERIN@example.com"
	_, err := s.UpdateUser(t.Context(), b.ID, gatehouse.UserUpdate{Email: &taken})
	wantCode(t, "UpdateUser to a taken e-mail", err, gatehouse.CodeConflict)
	if d := diffUser(find(t, s, b.ID), b); d != "" {
		t.Errorf("failed UpdateUser changed the user: %s", d)
	}
	// A user may change the case of its own e-mail.
	own := "Erin@Example.com"
	got, err := s.UpdateUser(t.Context(), a.ID, gatehouse.UserUpdate{Email: &own})
	if err != nil {
		t.Fatalf("UpdateUser to its own e-mail in another case: %v", err)
	}
	if got.Email != own {
		t.Errorf("Email = %q, want %q", got.Email, own)
	}
}

func testConditionalUpdate(t *testing.T, s gatehouse.UserStore, _ *clock) {
	u := create(t, s, &gatehouse.User{Email: "cond@example.com"})
	stale, newHash, yes, no := "$argon2id$stale", "$argon2id$new", true, false
	for _, tc := range []struct {
		name string
		upd  gatehouse.UserUpdate
	}{
		{"IfHashedPassword", gatehouse.UserUpdate{HashedPassword: &newHash, IfHashedPassword: &stale}},
		{"IfVerified", gatehouse.UserUpdate{IsVerified: &yes, IfVerified: &yes}},
		{"both, one failing", gatehouse.UserUpdate{IsVerified: &yes, IfVerified: &no, IfHashedPassword: &stale}},
	} {
		_, err := s.UpdateUser(t.Context(), u.ID, tc.upd)
		wantCode(t, "UpdateUser with a failing precondition "+tc.name, err, gatehouse.CodeConflict)
		if d := diffUser(find(t, s, u.ID), u); d != "" {
			t.Errorf("%s: a failed conditional update changed the user: %s", tc.name, d)
		}
	}
	_, err := s.UpdateUser(t.Context(), gatehouse.NewID(), gatehouse.UserUpdate{IsVerified: &yes, IfVerified: &no})
	wantCode(t, "conditional UpdateUser of a missing user", err, gatehouse.CodeNotFound)

	old := u.HashedPassword
	got, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{
		HashedPassword: &newHash, IfHashedPassword: &old, IsVerified: &yes, IfVerified: &no})
	if err != nil {
		t.Fatalf("UpdateUser with holding preconditions: %v", err)
	}
	if got.HashedPassword != newHash || !got.IsVerified {
		t.Errorf("after a conditional update: hash %q verified %v, want %q true", got.HashedPassword, got.IsVerified, newHash)
	}
}

// testConcurrentConditionalUpdates races writers that each saw the same
// stored hash: exactly one may replace it.
func testConcurrentConditionalUpdates(t *testing.T, s gatehouse.UserStore, _ *clock) {
	u := create(t, s, &gatehouse.User{Email: "race@example.com"})
	old := u.HashedPassword
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			h := fmt.Sprintf("$argon2id$writer%d", i)
			<-start
			_, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{HashedPassword: &h, IfHashedPassword: &old})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch gatehouse.ErrorCode(err) {
		case "":
			won++
		case gatehouse.CodeConflict:
		default:
			t.Errorf("concurrent conditional update: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent conditional updates won, want exactly 1", won, n)
	}
}

func testFields(t *testing.T, s gatehouse.UserStore, _ *clock) {
	u := create(t, s, &gatehouse.User{Email: "gina@example.com", Fields: map[string]any{
		"name":  "Gina",
		"age":   42, // an int goes in, a float64 comes out, as with encoding/json
		"vip":   true,
		"tags":  []any{"a", 1.5},
		"pet":   nil,
		"score": 0.25,
	}})
	want := map[string]any{"name": "Gina", "age": 42.0, "vip": true, "tags": []any{"a", 1.5}, "pet": nil, "score": 0.25}
	if got := find(t, s, u.ID).Fields; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields after CreateUser = %#v, want %#v", got, want)
	}

	// Listed keys are set, a nil value stores null, others stay.
	got, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{Fields: map[string]any{
		"name": "Gina B.", "age": nil, "city": "Oslo",
	}})
	if err != nil {
		t.Fatalf("UpdateUser(Fields): %v", err)
	}
	want = map[string]any{"name": "Gina B.", "age": nil, "vip": true, "tags": []any{"a", 1.5}, "pet": nil, "score": 0.25, "city": "Oslo"}
	if !reflect.DeepEqual(got.Fields, want) {
		t.Errorf("UpdateUser returned Fields %#v, want %#v", got.Fields, want)
	}
	if got := find(t, s, u.ID).Fields; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields after UpdateUser = %#v, want %#v", got, want)
	}

	// A user created without fields has none (nil or empty).
	v := create(t, s, &gatehouse.User{Email: "hank@example.com"})
	if got := find(t, s, v.ID).Fields; len(got) != 0 {
		t.Errorf("Fields of a user created without = %#v, want none", got)
	}
}

func testDelete(t *testing.T, s gatehouse.UserStore, _ *clock) {
	ctx := t.Context()
	u := create(t, s, &gatehouse.User{Email: "ivan@example.com"})
	keep := create(t, s, &gatehouse.User{Email: "judy@example.com"})
	if err := s.DeleteUser(ctx, u.ID); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	_, err := s.FindUserByID(ctx, u.ID)
	wantCode(t, "FindUserByID after DeleteUser", err, gatehouse.CodeNotFound)
	_, err = s.FindUserByEmail(ctx, u.Email)
	wantCode(t, "FindUserByEmail after DeleteUser", err, gatehouse.CodeNotFound)
	wantCode(t, "second DeleteUser", s.DeleteUser(ctx, u.ID), gatehouse.CodeNotFound)
	find(t, s, keep.ID)
	// The e-mail is free again.
	create(t, s, &gatehouse.User{Email: "IVAN@example.com"})
}

func testFindUsersPages(t *testing.T, s gatehouse.UserStore, clk *clock) {
	var all []string
	for i := range 7 {
		// Ids are random, so creation order differs from id order.
		all = append(all, create(t, s, &gatehouse.User{Email: fmt.Sprintf("user%d@example.com", i)}).Email)
		clk.Add(time.Second)
	}
	tests := []struct {
		f    gatehouse.UserFilter
		want []string
	}{
		{gatehouse.UserFilter{}, all},
		{gatehouse.UserFilter{Limit: 3}, all[:3]},
		{gatehouse.UserFilter{Limit: 3, Offset: 3}, all[3:6]},
		{gatehouse.UserFilter{Limit: 3, Offset: 6}, all[6:]},
		{gatehouse.UserFilter{Offset: 5}, all[5:]},
		{gatehouse.UserFilter{Offset: 7}, nil},
		{gatehouse.UserFilter{Limit: 100, Offset: 50}, nil},
	}
	for _, tt := range tests {
		emails, total := findUsers(t, s, tt.f)
		if !slices.Equal(emails, tt.want) || total != len(all) {
			t.Errorf("FindUsers(%+v) = %q, total %d; want %q, total %d", tt.f, emails, total, tt.want, len(all))
		}
	}
}

func testFindUsersDefaultLimit(t *testing.T, s gatehouse.UserStore, clk *clock) {
	const n = 53
	for i := range n {
		create(t, s, &gatehouse.User{Email: fmt.Sprintf("user%02d@example.com", i)})
		clk.Add(time.Millisecond)
	}
	emails, total := findUsers(t, s, gatehouse.UserFilter{})
	if len(emails) != 50 || total != n {
		t.Errorf("FindUsers with no limit gave %d users, total %d; want 50, total %d", len(emails), total, n)
	}
	if len(emails) > 0 && emails[0] != "user00@example.com" {
		t.Errorf("first user = %q, want the oldest, user00@example.com", emails[0])
	}
}

func testFindUsersSameInstant(t *testing.T, s gatehouse.UserStore, _ *clock) {
	// Users created at one instant are ordered by id, so that pages are
	// stable.
	var ids []string
	for i := range 5 {
		ids = append(ids, create(t, s, &gatehouse.User{Email: fmt.Sprintf("same%d@example.com", i)}).ID.String())
	}
	slices.Sort(ids)
	var got []string
	for off := 0; off < 5; off += 2 {
		users, _, err := s.FindUsers(t.Context(), gatehouse.UserFilter{Limit: 2, Offset: off})
		if err != nil {
			t.Fatalf("FindUsers: %v", err)
		}
		for _, u := range users {
			got = append(got, u.ID.String())
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("pages of users created at one instant = %q, want ids in order %q", got, ids)
	}
}

func testFindUsersFilter(t *testing.T, s gatehouse.UserStore, clk *clock) {
	for _, e := range []string{"ann@example.org", "Bob@EXAMPLE.org", "carl@example.com", "example.org@else.net"} {
		create(t, s, &gatehouse.User{Email: e})
		clk.Add(time.Second)
	}
	tests := []struct {
		f         gatehouse.UserFilter
		want      []string
		wantTotal int
	}{
		{gatehouse.UserFilter{Email: "example.ORG"}, []string{"ann@example.org", "Bob@EXAMPLE.org", "example.org@else.net"}, 3},
		{gatehouse.UserFilter{Email: "@EXAMPLE.ORG"}, []string{"ann@example.org", "Bob@EXAMPLE.org"}, 2},
		{gatehouse.UserFilter{Email: "bob"}, []string{"Bob@EXAMPLE.org"}, 1},
		{gatehouse.UserFilter{Email: "example.org", Limit: 1, Offset: 1}, []string{"Bob@EXAMPLE.org"}, 3},
		{gatehouse.UserFilter{Email: "nobody"}, nil, 0},
	}
	for _, tt := range tests {
		emails, total := findUsers(t, s, tt.f)
		if !slices.Equal(emails, tt.want) || total != tt.wantTotal {
			t.Errorf("FindUsers(%+v) = %q, total %d; want %q, total %d", tt.f, emails, total, tt.want, tt.wantTotal)
		}
	}
}

func testFindUsersLikeWildcards(t *testing.T, s gatehouse.UserStore, clk *clock) {
	for _, e := range []string{`a%b@x.io`, `a_b@x.io`, `axb@x.io`, `a\b@x.io`, `ab@x.io`, `a\\b@x.io`} {
		create(t, s, &gatehouse.User{Email: e})
		clk.Add(time.Second)
	}
	// LIKE's wildcards and escape character in a filter match only
	// themselves.
	tests := []struct {
		filter string
		want   []string
	}{
		{`%`, []string{`a%b@x.io`}},
		{`_`, []string{`a_b@x.io`}},
		{`\`, []string{`a\b@x.io`, `a\\b@x.io`}},
		{`\\`, []string{`a\\b@x.io`}},
		{`a%b`, []string{`a%b@x.io`}},
		{`a_b`, []string{`a_b@x.io`}},
		{`a\b`, []string{`a\b@x.io`}},
		{`\%`, nil},
		{`ab@`, []string{`ab@x.io`}},
	}
	for _, tt := range tests {
		emails, total := findUsers(t, s, gatehouse.UserFilter{Email: tt.filter})
		if !slices.Equal(emails, tt.want) || total != len(tt.want) {
			t.Errorf("FindUsers(Email: %#q) = %q, total %d; want %q", tt.filter, emails, total, tt.want)
		}
	}
}

func testConcurrentCreateSameEmail(t *testing.T, s gatehouse.UserStore, _ *clock) {
	const n = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, n)
	)
	for i := range n {
		// The same address in a different mix of case each time.
		b := []byte("race@example.com")
		for j := range b {
			if (i>>(j%5))&1 == 1 {
				b[j] = strings.ToUpper(string(b[j]))[0]
			}
		}
		wg.Go(func() {
			<-start
			errs[i] = s.CreateUser(t.Context(), &gatehouse.User{Email: string(b), HashedPassword: "h", IsActive: true})
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch code(err) {
		case "":
			ok++
		case gatehouse.CodeConflict:
		default:
			t.Errorf("CreateUser #%d: %v, want nil or a %q error", i, err, gatehouse.CodeConflict)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent CreateUser calls for one e-mail succeeded, want exactly 1", ok, n)
	}
	if emails, total := findUsers(t, s, gatehouse.UserFilter{}); total != 1 {
		t.Errorf("FindUsers after the race = %q, total %d; want 1 user", emails, total)
	}
}

func testConcurrentFieldUpdates(t *testing.T, s gatehouse.UserStore, _ *clock) {
	// Concurrent updates of different custom fields of one user all land:
	// merging is atomic, never read here and written back there.
	u := create(t, s, &gatehouse.User{Email: "many@example.com", Fields: map[string]any{"keep": "yes"}})
	const n = 20
	var wg sync.WaitGroup
	want := map[string]any{"keep": "yes"}
	for i := range n {
		key := fmt.Sprintf("k%02d", i)
		want[key] = float64(i)
		wg.Go(func() {
			if _, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{Fields: map[string]any{key: i}}); err != nil {
				t.Errorf("UpdateUser(%s): %v", key, err)
			}
		})
	}
	wg.Wait()
	if got := find(t, s, u.ID).Fields; !reflect.DeepEqual(got, want) {
		t.Errorf("Fields after %d concurrent updates = %v, want %v", n, got, want)
	}
}

func testTimesRoundTrip(t *testing.T, s gatehouse.UserStore, clk *clock) {
	// The clock has nanoseconds and a zone other than UTC; what CreateUser
	// reports must be exactly what reads give back.
	u := create(t, s, &gatehouse.User{Email: "kim@example.com"})
	got := find(t, s, u.ID)
	if got.CreatedAt != u.CreatedAt || got.UpdatedAt != u.UpdatedAt {
		t.Errorf("read back CreatedAt, UpdatedAt = %v, %v; CreateUser reported %v, %v",
			got.CreatedAt, got.UpdatedAt, u.CreatedAt, u.UpdatedAt)
	}
	if !sameTime(got.CreatedAt, clk.Now()) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, stored(clk.Now()))
	}

	// Times far from now survive too: no nanoseconds-since-1970 overflow.
	for _, at := range []time.Time{
		time.Date(1901, 12, 13, 20, 45, 52, 999_999_999, time.UTC),
		time.Date(2300, 1, 2, 3, 4, 5, 6_007_008, time.FixedZone("UTC-5", -5*60*60)),
	} {
		clk.Set(at)
		u := create(t, s, &gatehouse.User{Email: fmt.Sprintf("year%d@example.com", at.Year())})
		if got := find(t, s, u.ID); !sameTime(got.CreatedAt, at) || got.CreatedAt != u.CreatedAt {
			t.Errorf("CreatedAt at clock %v: read back %v, reported %v; want %v", at, got.CreatedAt, u.CreatedAt, stored(at))
		}
	}
}

func testClockInjected(t *testing.T, s gatehouse.UserStore, clk *clock) {
	created := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	clk.Set(created)
	u := create(t, s, &gatehouse.User{Email: "lee@example.com"})
	updated := created.Add(400 * 24 * time.Hour)
	clk.Set(updated)
	active := true
	got, err := s.UpdateUser(t.Context(), u.ID, gatehouse.UserUpdate{IsActive: &active})
	if err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if !sameTime(got.CreatedAt, created) || !sameTime(got.UpdatedAt, updated) {
		t.Errorf("CreatedAt, UpdatedAt = %v, %v; want the injected clock's %v, %v", got.CreatedAt, got.UpdatedAt, created, updated)
	}
}
