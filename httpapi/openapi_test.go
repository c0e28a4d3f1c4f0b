package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/jwt"
	"github.com/gatehouse/gatehouse/oauth"
	"github.com/gatehouse/gatehouse/oauth/oauthtest"
)

// everything is an API with every optional feature on.
func everything(t *testing.T) *server {
	t.Helper()
	idp := oauthtest.New(t)
	signer, err := jwt.NewSigner([]byte("oauth state signing key, 32+ bytes!"))
	if err != nil {
		t.Fatal(err)
	}
	return newServer(t, engines[0], options{
		backends: []string{"jwt=bearer+jwt", "cookie=cookie+jwt", "db=bearer+database", "apikey=apikey+apikey"},
		sessions: true, authz: true, services: true,
		oauth: func(base string) map[string]httpapi.OAuthProvider {
			cb, assoc := base+"/auth/idp/callback", base+"/auth/associate/idp/callback"
			idp.SetClient("idp-client", "idp-secret", cb, assoc)
			p, err := oauth.NewOIDC(context.Background(), oauth.OIDCConfig{
				Name: "idp", Issuer: idp.Issuer, ClientID: "idp-client", ClientSecret: "idp-secret",
			})
			if err != nil {
				t.Fatal(err)
			}
			return map[string]httpapi.OAuthProvider{"idp": {
				Flow:        &oauth.Flow{Provider: p, Signer: signer, Key: []byte("pkce derivation key, at least 32 bytes")},
				CallbackURL: cb, AssociateCallbackURL: assoc,
			}}
		},
	})
}

// TestOpenAPIRoutes checks that the document lists exactly what is mounted:
// the route table's patterns are the document's operations (plus the
// /docs/ subtree), and the mux routes a request for each operation by that
// operation's pattern, not the fallback.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	conditional := []string{
		"POST /auth/jwt/refresh", "GET /users/me/sessions", "DELETE /users/{id}/sessions",
		"GET /roles", "PUT /users/{id}/roles", "POST /authorize",
		"POST /users/me/api-keys", "DELETE /users/{id}/api-keys/{key_id}",
		"GET /auth/idp/authorize", "GET /auth/associate/idp/callback", "DELETE /users/me/oauth-accounts/{id}",
		"GET /auth/forward", "GET /.well-known/jwks.json", "GET /docs", "GET /metrics",
	}
	for _, tc := range []struct {
		name    string
		s       func(t *testing.T) *server
		present bool
	}{
		{"everything", everything, true},
		{"minimal", func(t *testing.T) *server { return newServer(t, engines[0], options{}) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.s(t)
			ops := s.contract.operations()
			documented := slices.Clone(ops)
			if tc.present { // the reference page's assets: served, not operations
				documented = append(documented, "GET /docs/")
			}
			slices.Sort(documented)
			mounted := slices.Clone(s.patterns)
			slices.Sort(mounted)
			if !slices.Equal(documented, mounted) {
				t.Errorf("documented %q\nmounted    %q", documented, mounted)
			}
			for _, c := range conditional {
				if slices.Contains(ops, c) != tc.present {
					t.Errorf("%s documented: %v, want %v", c, !tc.present, tc.present)
				}
			}
			for _, op := range ops {
				method, path, _ := cutPattern(op)
				r := httptest.NewRequest(method, fill(path), nil)
				s.handler.ServeHTTP(httptest.NewRecorder(), r)
				if r.Pattern != op {
					t.Errorf("%s %s was routed by %q", method, fill(path), r.Pattern)
				}
			}
		})
	}
}

func cutPattern(p string) (method, path string, ok bool) {
	for i := range len(p) {
		if p[i] == ' ' {
			return p[:i], p[i+1:], true
		}
	}
	return "", p, false
}

// TestOpenAPIDocument checks what clients and generators rely on: the
// version, the security schemes derived from the backends, and the
// response lists FastAPI Users' own document has (contract §1.10).
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	s := everything(t)
	doc := s.contract.doc
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	schemes := doc.Components.SecuritySchemes
	for name, want := range map[string]openapi3.SecurityScheme{
		"jwt":    {Type: "http", Scheme: "bearer", BearerFormat: "JWT"},
		"db":     {Type: "http", Scheme: "bearer", BearerFormat: "opaque"},
		"cookie": {Type: "apiKey", In: "cookie", Name: "gatehouse_auth"},
		"apikey": {Type: "apiKey", In: "header", Name: "X-API-Key"},
	} {
		got := schemes[name]
		if got == nil || got.Value.Type != want.Type || got.Value.Scheme != want.Scheme ||
			got.Value.BearerFormat != want.BearerFormat || got.Value.In != want.In || got.Value.Name != want.Name {
			t.Errorf("security scheme %s = %+v, want %+v", name, got, want)
		}
	}
	if len(schemes) != 4 {
		t.Errorf("%d security schemes, want 4", len(schemes))
	}
	me := doc.Paths.Value("/users/me").Get
	if me.Security == nil || len(*me.Security) != 4 {
		t.Errorf("GET /users/me security = %v, want the 4 schemes as alternatives", me.Security)
	}
	if reg := doc.Paths.Value("/auth/register").Post; reg.Security != nil {
		t.Errorf("POST /auth/register security = %v, want none", reg.Security)
	}
	for _, tc := range []struct {
		method, path string
		statuses     []int
	}{
		{"POST", "/auth/reset-password", []int{200, 400, 422}},
		{"POST", "/auth/forgot-password", []int{202, 422}},
		{"PATCH", "/users/{id}", []int{200, 401, 403, 404, 400, 422}},
		{"DELETE", "/users/{id}", []int{204, 401, 403, 404, 422}},
		{"GET", "/users/{id}", []int{200, 401, 403, 404, 422}},
		{"PATCH", "/users/me", []int{200, 401, 400, 422}},
		{"GET", "/users/me", []int{200, 401}},
		{"POST", "/auth/register", []int{201, 400, 422}},
		{"POST", "/auth/verify", []int{200, 400, 422}},
		{"POST", "/auth/request-verify-token", []int{202, 422}},
		{"GET", "/auth/idp/authorize", []int{200, 422}},
		{"GET", "/auth/idp/callback", []int{200, 400, 422}},
		{"GET", "/openapi.json", []int{200}},
	} {
		op := doc.Paths.Value(tc.path).GetOperation(tc.method)
		for _, status := range tc.statuses {
			if op.Responses.Status(status) == nil {
				t.Errorf("%s %s does not document %d", tc.method, tc.path, status)
			}
		}
	}
	user := doc.Components.Schemas["UserRead"].Value
	for _, key := range []string{"roles", "permissions"} {
		if !slices.Contains(user.Required, key) {
			t.Errorf("UserRead with RBAC on lacks %q: %v", key, user.Required)
		}
	}
}

// TestOpenAPIServices runs the optional handlers through the checked
// server: each is served as given, and as documented.
func TestOpenAPIServices(t *testing.T) {
	t.Parallel()
	s := everything(t)
	for _, path := range []string{"/auth/forward", "/.well-known/jwks.json", "/docs", "/docs/app.js", "/metrics", "/healthz", "/readyz", "/openapi.json"} {
		res := s.do(http.MethodGet, path, "", "", "")
		if res.status != http.StatusOK || res.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: %d, Cache-Control %q", path, res.status, res.header.Get("Cache-Control"))
		}
	}
}

// TestContractCatches makes sure the check every test runs through fails
// on what it is there to catch.
func TestContractCatches(t *testing.T) {
	t.Parallel()
	s := newServer(t, engines[0], options{})
	for _, tc := range []struct {
		status int
		body   string
	}{
		{http.StatusTeapot, `{"detail":"Not Found"}`},               // undocumented status
		{http.StatusOK, `{"id":"x","email":"a@example.com"}`},       // missing fields
		{http.StatusNotFound, `{"detail":"LOGIN_BAD_CREDENTIALS"}`}, // code not listed for that status
		{http.StatusOK, `{"id":"00000000-0000-4000-8000-000000000000","email":"a@example.com",` + // a leak
			`"is_active":true,"is_superuser":false,"is_verified":false,"hashed_password":"x"}`},
	} {
		r := httptest.NewRequest(http.MethodGet, "/users/00000000-0000-4000-8000-000000000000", nil)
		r.Pattern = "GET /users/{id}"
		header := http.Header{"Content-Type": {"application/json"}}
		if err := s.contract.check(r, tc.status, header, []byte(tc.body)); err == nil {
			t.Errorf("%d %s passed the check", tc.status, tc.body)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/nowhere", nil)
	r.Pattern = "/"
	if err := s.contract.check(r, http.StatusOK, http.Header{}, []byte("{}")); err == nil {
		t.Error("a 200 from the fallback passed the check")
	}
}
