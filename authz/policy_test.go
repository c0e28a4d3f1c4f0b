package authz_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// Article is an application's resource.
type Article struct {
	ID        string
	AuthorID  gatehouse.ID
	Published bool
}

func allowAll[R any](context.Context, *authz.Subject, string, R) authz.Decision {
	return authz.Allow("everyone")
}

// The seed's rules, as typed policies.
var (
	isAdmin authz.Policy[*Article] = func(_ context.Context, s *authz.Subject, _ string, _ *Article) authz.Decision {
		if s.HasRole("admin") {
			return authz.Allow("admin")
		}
		return authz.Deny("not an admin")
	}
	isAuthor authz.Policy[*Article] = func(_ context.Context, s *authz.Subject, _ string, a *Article) authz.Decision {
		if s.User != nil && a.AuthorID == s.User.ID { // a nil article panics: Evaluate denies
			return authz.Allow("author")
		}
		return authz.Deny("not the author")
	}
	isDraft authz.Policy[*Article] = func(_ context.Context, _ *authz.Subject, _ string, a *Article) authz.Decision {
		if !a.Published {
			return authz.Allow("draft")
		}
		return authz.Deny("published")
	}
	canEditArticle   = authz.Any(isAuthor, isAdmin)
	canDeleteArticle = authz.Any(isAdmin, authz.All(isAuthor, isDraft))

	panics authz.Policy[*Article] = func(context.Context, *authz.Subject, string, *Article) authz.Decision {
		panic("boom")
	}
	denies authz.Policy[*Article] = func(context.Context, *authz.Subject, string, *Article) authz.Decision {
		return authz.Deny("no")
	}
	allows authz.Policy[*Article] = allowAll[*Article]
)

func TestPolicies(t *testing.T) {
	t.Parallel()
	alice := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
	bob := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}}
	admin := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID(), IsActive: true}, Roles: []string{"admin"}}
	draft := &Article{ID: "1", AuthorID: alice.User.ID}
	published := &Article{ID: "2", AuthorID: alice.User.ID, Published: true}
	tests := []struct {
		name     string
		policy   authz.Policy[*Article]
		subject  *authz.Subject
		article  *Article
		allow    bool
		reasonIs string // when set, the reason must contain it
	}{
		{"author edits", canEditArticle, alice, published, true, "author"},
		{"other edits", canEditArticle, bob, published, false, "not the author"},
		{"admin edits", canEditArticle, admin, published, true, "admin"},
		{"author deletes draft", canDeleteArticle, alice, draft, true, "author; draft"},
		{"author deletes published", canDeleteArticle, alice, published, false, "published"},
		{"other deletes draft", canDeleteArticle, bob, draft, false, "not the author"},
		{"admin deletes published", canDeleteArticle, admin, published, true, "admin"},

		{"All allows", authz.All(allows, allows), alice, draft, true, ""},
		{"All denies", authz.All(allows, denies), alice, draft, false, "no"},
		{"All empty", authz.All[*Article](), alice, draft, false, "no policy"},
		{"All nil member", authz.All(allows, nil), alice, draft, false, "no policy"},
		{"All stops at deny", authz.All(denies, panics), alice, draft, false, "no"},
		{"Any allows", authz.Any(denies, allows), alice, draft, true, "everyone"},
		{"Any denies", authz.Any(denies, denies), alice, draft, false, "no; no"},
		{"Any empty", authz.Any[*Article](), alice, draft, false, "no policy"},
		{"Any survives a panic", authz.Any(panics, allows), alice, draft, true, "everyone"},
		{"Any stops at allow", authz.Any(allows, panics), alice, draft, true, ""},
		{"Not deny", authz.Not(denies), alice, draft, true, "not: no"},
		{"Not allow", authz.Not(allows), alice, draft, false, "not: everyone"},
		{"Not published", authz.Not(isDraft), alice, published, true, ""},

		// Fail safe: errors deny, and Not never turns them into allows.
		{"panic", panics, alice, draft, false, "policy error"},
		{"Not panic", authz.Not(panics), alice, draft, false, "policy error"},
		{"Not All panic", authz.Not(authz.All(allows, panics)), alice, draft, false, "policy error"},
		{"Not Any panic", authz.Not(authz.Any(denies, panics)), alice, draft, false, "policy error"},
		{"Not nil", authz.Not[*Article](nil), alice, draft, false, "no policy"},
		{"Not Not panic", authz.Not(authz.Not(panics)), alice, draft, false, "policy error"},
		{"Not empty All", authz.Not(authz.All[*Article]()), alice, draft, false, "no policy"},
		{"nil policy", nil, alice, draft, false, "no policy"},
		{"nil subject", allows, nil, draft, false, "no subject"},
		{"nil article", canEditArticle, alice, nil, false, "policy error"},
		{"Not nil article", authz.Not(isAuthor), alice, nil, false, "policy error"},
		{"subject without user", isAuthor, &authz.Subject{}, draft, false, "not the author"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := authz.Evaluate(context.Background(), tt.policy, tt.subject, "edit", tt.article)
			if d.Allow != tt.allow || !strings.Contains(d.Reason, tt.reasonIs) {
				t.Errorf("Evaluate = %+v, want Allow %v with reason containing %q", d, tt.allow, tt.reasonIs)
			}
		})
	}
}

func TestEvaluateLogsPanics(t *testing.T) {
	t.Parallel()
	s := &authz.Subject{User: &gatehouse.User{}}
	if d := authz.Evaluate(context.Background(), panics, s, "log-a-panic", nil); d.Allow {
		t.Fatalf("allowed: %+v", d)
	}
	if log := defaultLog.String(); !strings.Contains(log, `msg="authz: policy panicked" action=log-a-panic panic=boom stack=`) {
		t.Errorf("panic not logged:\n%s", log)
	}
}

// Missing attributes deny: a policy over a map resource that checks what
// it reads.
func TestMapPolicyMissingAttributes(t *testing.T) {
	t.Parallel()
	owner := func(_ context.Context, s *authz.Subject, _ string, res map[string]any) authz.Decision {
		id, ok := res["owner_id"].(string)
		if ok && s.User != nil && id == s.User.ID.String() {
			return authz.Allow("owner")
		}
		return authz.Deny("not the owner")
	}
	s := &authz.Subject{User: &gatehouse.User{ID: gatehouse.NewID()}}
	for name, res := range map[string]map[string]any{
		"nil map":    nil,
		"no key":     {"title": "x"},
		"nil value":  {"owner_id": nil},
		"wrong type": {"owner_id": 42},
		"other":      {"owner_id": gatehouse.NewID().String()},
	} {
		if d := authz.Evaluate(context.Background(), owner, s, "read", res); d.Allow {
			t.Errorf("%s: allowed: %+v", name, d)
		}
	}
	if d := authz.Evaluate(context.Background(), owner, s, "read", map[string]any{"owner_id": s.User.ID.String()}); !d.Allow {
		t.Errorf("owner denied: %+v", d)
	}
}

func TestGuard(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	log, logs := testLogger()
	az := &authz.Resolver{Roles: w.roles, Logger: log}
	editor := w.users["editor"]
	articles := map[string]*Article{
		"mine":   {ID: "mine", AuthorID: editor.ID, Published: true},
		"theirs": {ID: "theirs", AuthorID: gatehouse.NewID(), Published: true},
		"nil":    nil,
	}
	load := func(r *http.Request) (*Article, error) {
		id := r.PathValue("id")
		switch id {
		case "down":
			return nil, &gatehouse.Error{Code: gatehouse.CodeUnavailable}
		case "boom":
			return nil, errors.New("secret database detail")
		case "bad":
			return nil, &gatehouse.Error{Code: gatehouse.CodeBadRequest}
		}
		a, found := articles[id]
		if !found {
			return nil, &gatehouse.Error{Code: gatehouse.CodeNotFound}
		}
		return a, nil
	}
	mux := http.NewServeMux()
	mux.Handle("PUT /articles/{id}", w.auth.Handler(authz.Guard(az, "edit", load, canEditArticle)(
		http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			a, found := authz.ResourceFrom[*Article](r.Context())
			if _, wrongType := authz.ResourceFrom[Article](r.Context()); !found || wrongType {
				http.Error(rw, "no resource in context", 500)
				return
			}
			if _, found := authz.SubjectFrom(r.Context()); !found {
				http.Error(rw, "no subject in context", 500)
				return
			}
			rw.Write([]byte("edited " + a.ID))
		}))))
	tests := []struct {
		name, token, id string
		status          int
		body            string
	}{
		{"anonymous", "", "mine", 401, unauthorizedBody},
		{"anonymous, missing", "", "missing", 401, unauthorizedBody},
		{"author", "editor", "mine", 200, "edited mine"},
		{"not author", "editor", "theirs", 403, forbiddenBody},
		{"admin", "admin", "theirs", 200, "edited theirs"},
		{"scoped admin", "admin-key", "theirs", 200, "edited theirs"},
		{"missing", "editor", "missing", 404, `{"detail":"Not Found"}`},
		{"bad id", "editor", "bad", 400, `{"detail":"Bad Request"}`},
		{"load down", "editor", "down", 503, `{"detail":"SERVICE_UNAVAILABLE"}`},
		{"load fails", "editor", "boom", 500, `{"detail":"Internal Server Error"}`},
		{"nil resource", "editor", "nil", 403, forbiddenBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := serve(mux, "PUT", "/articles/"+tt.id, tt.token)
			if rec.Code != tt.status || rec.Body.String() != tt.body {
				t.Errorf("got %d %q, want %d %q", rec.Code, rec.Body, tt.status, tt.body)
			}
		})
	}
	t.Cleanup(func() {
		out := logs.String()
		for _, want := range []string{`msg="authz: forbidden"`, `not the author`, "policy error", "secret database detail"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})
}
