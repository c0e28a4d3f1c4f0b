package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/authz"
)

// Article is the service's own data. Gatehouse knows nothing of it: the
// policies below read its AuthorID and Published fields.
type Article struct {
	ID        gatehouse.ID `json:"id"`
	AuthorID  gatehouse.ID `json:"author_id"`
	Title     string       `json:"title"`
	Body      string       `json:"body"`
	Published bool         `json:"published"`
}

// articleStore keeps articles in memory: example data, lost at exit.
type articleStore struct {
	mu       sync.Mutex
	articles map[gatehouse.ID]Article
}

func (s *articleStore) put(a Article) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.articles == nil {
		s.articles = make(map[gatehouse.ID]Article)
	}
	s.articles[a.ID] = a
}

func (s *articleStore) delete(id gatehouse.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.articles, id)
}

func (s *articleStore) count() (all, published int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.articles {
		all++
		if a.Published {
			published++
		}
	}
	return all, published
}

// load finds the article named in the path for authz.Guard: a
// CodeNotFound error becomes a 404.
func (s *articleStore) load(r *http.Request) (Article, error) {
	id, err := gatehouse.ParseID(r.PathValue("id"))
	if err != nil {
		return Article{}, &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.articles[id]
	if !ok {
		return Article{}, &gatehouse.Error{Code: gatehouse.CodeNotFound}
	}
	return a, nil
}

// The article policies. Each looks at who asks (the Subject) and at the
// article; All and Any combine them.
var (
	isAuthor = authz.Policy[Article](func(_ context.Context, s *authz.Subject, _ string, a Article) authz.Decision {
		if s.User != nil && s.User.ID == a.AuthorID {
			return authz.Allow("author")
		}
		return authz.Deny("not the author")
	})
	isDraft = authz.Policy[Article](func(_ context.Context, _ *authz.Subject, _ string, a Article) authz.Decision {
		if !a.Published {
			return authz.Allow("draft")
		}
		return authz.Deny("published")
	})
	isAdmin = authz.Policy[Article](func(_ context.Context, s *authz.Subject, _ string, _ Article) authz.Decision {
		if s.HasRole("admin") {
			return authz.Allow("admin")
		}
		return authz.Deny("not an admin")
	})

	// canEdit: an author edits their own article, an admin any.
	canEdit = authz.Any(isAuthor, isAdmin)
	// canDelete: an author deletes their own draft, an admin anything.
	canDelete = authz.Any(authz.All(isAuthor, isDraft), isAdmin)
)

// service serves the article routes.
type service struct {
	auth     *gatehouse.Authenticator
	authz    *authz.Resolver
	manager  *gatehouse.Manager
	articles *articleStore
}

// register mounts the routes on mux. auth.Handler comes first on each, so
// an anonymous request gets 401 before anything else is looked at.
func (s *service) register(mux *http.ServeMux) {
	loggedIn := s.auth.Handler
	mux.Handle("GET /reports", loggedIn(http.HandlerFunc(s.reports)))
	mux.Handle("POST /articles", loggedIn(s.authz.RequirePermissions("articles:write")(http.HandlerFunc(s.create))))
	mux.Handle("PUT /articles/{id}", loggedIn(authz.Guard(s.authz, "edit", s.articles.load, canEdit)(http.HandlerFunc(s.edit))))
	mux.Handle("DELETE /articles/{id}", loggedIn(authz.Guard(s.authz, "delete", s.articles.load, canDelete)(http.HandlerFunc(s.delete))))
	mux.Handle("DELETE /admin/users/{id}", loggedIn(s.authz.RequireRoles("admin")(http.HandlerFunc(s.deleteUser))))
}

// reports answers any logged-in user.
func (s *service) reports(w http.ResponseWriter, r *http.Request) {
	all, published := s.articles.count()
	writeJSON(w, http.StatusOK, map[string]int{"articles": all, "published": published})
}

// articleInput is what POST and PUT read.
type articleInput struct {
	Title     string `json:"title"`
	Body      string `json:"body"`
	Published bool   `json:"published"`
}

func readInput(w http.ResponseWriter, r *http.Request) (articleInput, bool) {
	var in articleInput
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Title == "" {
		gatehouse.WriteError(w, &gatehouse.Error{Code: gatehouse.CodeBadRequest, Reason: "expected JSON with a title"})
		return in, false
	}
	return in, true
}

func (s *service) create(w http.ResponseWriter, r *http.Request) {
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	u, _ := gatehouse.UserFrom(r.Context())
	a := Article{ID: gatehouse.NewID(), AuthorID: u.ID, Title: in.Title, Body: in.Body, Published: in.Published}
	s.articles.put(a)
	writeJSON(w, http.StatusCreated, a)
}

// edit replaces an article's text and published flag; Guard has checked
// canEdit and hands over the article it loaded.
func (s *service) edit(w http.ResponseWriter, r *http.Request) {
	a, _ := authz.ResourceFrom[Article](r.Context())
	in, ok := readInput(w, r)
	if !ok {
		return
	}
	a.Title, a.Body, a.Published = in.Title, in.Body, in.Published
	s.articles.put(a)
	writeJSON(w, http.StatusOK, a)
}

func (s *service) delete(w http.ResponseWriter, r *http.Request) {
	a, _ := authz.ResourceFrom[Article](r.Context())
	s.articles.delete(a.ID)
	w.WriteHeader(http.StatusNoContent)
}

// deleteUser lets holders of the admin role delete accounts without making
// them superusers. Superusers are out of their reach: only another
// superuser (DELETE /users/{id}) removes one.
func (s *service) deleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := gatehouse.ParseID(r.PathValue("id"))
	if err != nil {
		gatehouse.WriteError(w, &gatehouse.Error{Code: gatehouse.CodeNotFound})
		return
	}
	u, err := s.manager.Users.FindUserByID(r.Context(), id)
	if err == nil && u.IsSuperuser {
		err = &gatehouse.Error{Code: gatehouse.CodeForbidden}
	}
	if err == nil {
		err = s.manager.Delete(r.Context(), u)
	}
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeInternal {
			slog.ErrorContext(r.Context(), "delete user", "err", err)
		}
		gatehouse.WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
