package authz_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// The seed's article rules, written as server policies.
var seedRules = map[string]string{
	"author-edits":         `action == "edit" && resource.author_id == user.id`,
	"author-deletes-draft": `action == "delete" && resource.author_id == user.id && resource.published == false`,
	"admin":                `"admin" in user.roles`,
}

func mustCompile(t testing.TB, name, expr string) *authz.CELPolicy {
	t.Helper()
	p, err := authz.CompileCEL(name, expr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func seedPolicies(t testing.TB) authz.CELPolicies {
	var ps authz.CELPolicies
	for _, name := range []string{"author-edits", "author-deletes-draft", "admin"} {
		ps = append(ps, mustCompile(t, name, seedRules[name]))
	}
	return ps
}

func TestCELSeedRules(t *testing.T) {
	t.Parallel()
	ps := seedPolicies(t)
	alice := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
	bob := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
	admin := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}, Roles: []string{"admin"}}
	draft := map[string]any{"id": 1, "author_id": alice.User.ID.String(), "published": false}
	published := map[string]any{"id": 2, "author_id": alice.User.ID.String(), "published": true}
	tests := []struct {
		name     string
		s        *authz.Subject
		action   string
		resource map[string]any
		allow    bool
		reason   string
	}{
		{"author edits", alice, "edit", published, true, `policy "author-edits" allowed`},
		{"other edits", bob, "edit", published, false, "no policy allowed"},
		{"admin edits", admin, "edit", published, true, `policy "admin" allowed`},
		{"author deletes draft", alice, "delete", draft, true, `policy "author-deletes-draft" allowed`},
		{"author deletes published", alice, "delete", published, false, "no policy allowed"},
		{"other deletes draft", bob, "delete", draft, false, "no policy allowed"},
		{"admin deletes published", admin, "delete", published, true, `policy "admin" allowed`},
		{"unknown action", alice, "publish", draft, false, "no policy allowed"},
		// Missing attributes deny.
		{"no author", alice, "edit", map[string]any{"id": 3}, false, "no policy allowed"},
		{"nil author", alice, "edit", map[string]any{"author_id": nil}, false, "no policy allowed"},
		{"nil resource", alice, "delete", nil, false, "no policy allowed"},
		{"no published", alice, "delete", map[string]any{"author_id": alice.User.ID.String()}, false, "no policy allowed"},
		{"nil subject", nil, "edit", published, false, "no policy allowed"},
		{"subject without user", &authz.Subject{Roles: []string{"admin"}}, "edit", published, false, "no policy allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := ps.Evaluate(context.Background(), tt.s, tt.action, tt.resource, nil)
			if d.Allow != tt.allow || d.Reason != tt.reason {
				t.Errorf("Evaluate = %+v, want Allow %v, Reason %q", d, tt.allow, tt.reason)
			}
		})
	}
	if d := (authz.CELPolicies{}).Evaluate(context.Background(), admin, "edit", published, nil); d.Allow || d.Reason != "no policy allowed" {
		t.Errorf("no policies: %+v, want deny", d)
	}
}

func TestCompileCELErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, expr string
		want       string // in the error, besides the name
	}{
		{"syntax", `resource.author_id ==`, "Syntax error"},
		{"unbalanced", `(user.id == "x"`, "Syntax error"},
		{"undeclared", `account.id == user.id`, "undeclared reference"},
		{"empty", ``, "Syntax error"},
		{"dyn", `resource.published`, "not bool"},
		{"int", `1 + 2`, "not bool"},
		{"string", `user.email`, "not bool"},
		{"list", `user.roles`, "not bool"},
		{"action typed", `action + 1 == 2`, "no matching overload"},
		{"huge", strings.Repeat(`user.id == "x" || `, 1200) + `false`, "expression code point size exceeds limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := authz.CompileCEL(tt.name, tt.expr)
			if err == nil {
				t.Fatalf("compiled: %v", p)
			}
			if msg := err.Error(); !strings.Contains(msg, `CEL policy "`+tt.name+`"`) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name the policy or say %q", msg, tt.want)
			}
		})
	}
	if _, err := authz.CompileCEL("", "true"); err == nil {
		t.Error("a policy without a name compiled")
	}
}

func TestCELFailsSafe(t *testing.T) {
	t.Parallel()
	u := &gatehouse.User{ID: gatehouse.NewID(), IsActive: true, Fields: map[string]any{"age": 41.0}}
	s := &authz.Subject{User: u, Roles: []string{"editor"}}
	list50 := "[" + strings.TrimSuffix(strings.Repeat("1,", 50), ",") + "]"
	big := make([]any, 200_000)
	for i := range big {
		big[i] = "tag"
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name, expr string
		ctx        context.Context
		resource   map[string]any
		reason     string
	}{
		{"missing key", `resource.author_id == user.id`, nil, map[string]any{}, "no such key: author_id"},
		{"missing custom field", `user.department == "news"`, nil, nil, "no such key: department"},
		{"type mismatch", `resource.count > 1`, nil, map[string]any{"count": "many"}, "no such overload"},
		{"division by zero", `1 / resource.n == 1`, nil, map[string]any{"n": 0}, "division by zero"},
		{"not a bool", `resource.flag == true || resource.flag`, nil, map[string]any{"flag": "yes"}, "no such overload"},
		{"unsupported value", `resource.x == 1`, nil, map[string]any{"x": struct{}{}}, "unsupported conversion"},
		{"deep comprehension", list50 + `.all(a, ` + list50 + `.all(b, ` + list50 + `.all(c, ` + list50 + `.all(d, a + b + c + d > 0))))`,
			nil, nil, "cost limit exceeded"},
		{"huge data", `resource.tags.exists(t, t == "needle")`, nil, map[string]any{"tags": big}, "cost limit exceeded"},
		{"cancelled", list50 + `.all(a, ` + list50 + `.all(b, true))`, cancelled, nil, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := mustCompile(t, tt.name, tt.expr)
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			start := time.Now()
			d := p.Evaluate(ctx, s, "read", tt.resource, nil)
			if d.Allow || !strings.Contains(d.Reason, `policy "`+tt.name+`"`) || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("Evaluate = %+v, want deny with %q", d, tt.reason)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			// Deny, and not a deny that a caller could flip: CELPolicies
			// still denies by default.
			if d := (authz.CELPolicies{p}).Evaluate(ctx, s, "read", tt.resource, nil); d.Allow {
				t.Errorf("CELPolicies allowed: %+v", d)
			}
		})
	}
	t.Cleanup(func() { // after the parallel subtests
		if log := defaultLog.String(); !strings.Contains(log, `msg="authz: CEL policy failed" policy="deep comprehension"`) {
			t.Errorf("runtime errors not logged:\n%s", log)
		}
	})
	var nilPolicy *authz.CELPolicy
	if d := nilPolicy.Evaluate(context.Background(), s, "read", nil, nil); d.Allow {
		t.Errorf("nil policy allowed: %+v", d)
	}
	if d := (authz.CELPolicies{nil, mustCompile(t, "yes", "true")}).Evaluate(context.Background(), s, "read", nil, nil); !d.Allow {
		t.Errorf("a nil policy stopped the others: %+v", d)
	}
	// An error in one policy does not stop another from allowing.
	ps := authz.CELPolicies{mustCompile(t, "broken", `resource.x == 1`), mustCompile(t, "editor", `"editor" in user.roles`)}
	if d := ps.Evaluate(context.Background(), s, "read", nil, nil); !d.Allow || d.Reason != `policy "editor" allowed` {
		t.Errorf("Evaluate = %+v", d)
	}
}

func TestCELUserAndRequest(t *testing.T) {
	t.Parallel()
	u := &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true, IsSuperuser: true, IsVerified: true,
		Fields: map[string]any{"department": "news", "age": 41.0, "id": "spoofed", "roles": []any{"admin"}}}
	unscoped := &authz.Subject{User: u, Roles: []string{"editor"}, Permissions: []string{"articles:write"}}
	scoped := &authz.Subject{User: u, Permissions: []string{"articles:read"}, Scoped: true}
	plain := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true, Fields: map[string]any{"is_superuser": true}}}
	request := map[string]any{"method": "GET", "path": "/articles/1", "ip": "192.0.2.1", "time": time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	tests := []struct {
		expr string
		s    *authz.Subject
		want bool
	}{
		{`user.id == "` + u.ID.String() + `"`, unscoped, true}, // built-in keys win over custom fields
		{`user.email == "alice@example.com" && user.is_verified && user.is_active`, unscoped, true},
		{`user.department == "news" && user.age >= 18`, unscoped, true},
		{`"editor" in user.roles && !("admin" in user.roles)`, unscoped, true},
		{`"articles:write" in user.permissions`, unscoped, true},
		{`user.is_superuser == true`, unscoped, true},
		{`user.is_superuser == true`, scoped, false}, // a key stays within its scopes
		{`"articles:read" in user.permissions && !("articles:write" in user.permissions)`, scoped, true},
		{`user.is_superuser == true`, plain, false}, // a custom field cannot make a superuser
		{`size(user.roles) == 0 && size(user.permissions) == 0`, plain, true},
		{`request.method == "GET" && request.path.startsWith("/articles/") && request.ip == "192.0.2.1"`, unscoped, true},
		{`request.time > timestamp("2025-01-01T00:00:00Z") && request.time.getHours() == 12`, unscoped, true},
	}
	for _, tt := range tests {
		p := mustCompile(t, "t", tt.expr)
		if d := p.Evaluate(context.Background(), tt.s, "read", nil, request); d.Allow != tt.want {
			t.Errorf("%s: %+v, want Allow %v", tt.expr, d, tt.want)
		}
	}
	if p := mustCompile(t, "named", "true"); p.Name() != "named" {
		t.Errorf("Name() = %q", p.Name())
	}
}

func TestCELConcurrent(t *testing.T) {
	t.Parallel()
	ps := seedPolicies(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			// Compiling concurrently is safe too, errors included.
			if _, err := authz.CompileCEL("bad", `account.id == user.id`); err == nil {
				t.Error("compiled an undeclared reference")
			}
			s := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
			for j := range 50 {
				author := gatehouse.NewID().String()
				if (i+j)%2 == 0 {
					author = s.User.ID.String()
				}
				d := ps.Evaluate(context.Background(), s, "edit", map[string]any{"author_id": author}, nil)
				if d.Allow != ((i+j)%2 == 0) {
					t.Errorf("Evaluate = %+v", d)
				}
			}
		})
	}
	wg.Wait()
}
