package authz_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// BenchmarkCan is the permission check a handler or RequirePermissions
// makes once the subject is resolved: a user with 24 permissions, asked
// for two.
func BenchmarkCan(b *testing.B) {
	var perms []string
	for _, res := range []string{"articles", "comments", "media", "pages", "tags", "users"} {
		for _, verb := range []string{"delete", "publish", "read", "write"} {
			perms = append(perms, res+":"+verb)
		}
	}
	s := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}, Permissions: perms}
	b.ReportAllocs()
	for b.Loop() {
		if !s.Can("articles:write", "users:read") {
			b.Fatal("denied")
		}
	}
}

// BenchmarkRequirePermissions is a whole request through
// RequirePermissions after authentication: role lookup (in memory),
// subject, check.
func BenchmarkRequirePermissions(b *testing.B) {
	w := newWorld(b)
	az := &authz.Resolver{Roles: w.roles}
	h := w.auth.Handler(az.RequirePermissions("articles:write")(ok))
	b.ReportAllocs()
	for b.Loop() {
		if rec := serve(h, "POST", "/articles", "editor"); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkCELEvaluate is one request's evaluation of the seed's policies
// (author edits, author deletes draft, admin) for an author editing their
// article: the first policy allows.
func BenchmarkCELEvaluate(b *testing.B) {
	for _, bc := range []struct {
		name   string
		action string
	}{{"allow-first", "edit"}, {"deny-all", "publish"}} {
		b.Run(bc.name, func(b *testing.B) {
			ps := seedPolicies(b)
			s := &authz.Subject{
				User:        &gatehouse.User{ID: gatehouse.NewID(), Email: "alice@example.com", IsActive: true, Fields: map[string]any{"department": "news"}},
				Roles:       []string{"editor", "viewer"},
				Permissions: []string{"articles:read", "articles:write"},
			}
			article := map[string]any{"id": 1, "author_id": s.User.ID.String(), "published": false, "title": "Hello"}
			request := map[string]any{"method": "PUT", "path": "/articles/1"}
			want := bc.action == "edit"
			b.ReportAllocs()
			for b.Loop() {
				if d := ps.Evaluate(context.Background(), s, bc.action, article, request); d.Allow != want {
					b.Fatal(fmt.Sprint(d))
				}
			}
		})
	}
}
