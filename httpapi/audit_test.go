package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/httpapi"
	"github.com/gatehouse/gatehouse/ratelimit"
)

// allEvents reads the whole audit log from the store.
func (s *server) allEvents() []gatehouse.AuditEvent {
	s.t.Helper()
	var out []gatehouse.AuditEvent
	for {
		page, total, err := s.stack.audit.ListAuditEvents(s.t.Context(), gatehouse.AuditFilter{Offset: len(out)})
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, page...)
		if len(out) >= total || len(page) == 0 {
			return out
		}
	}
}

// auditServer has every audited feature on, and a login limit low enough
// for a test to reach.
func auditServer(t *testing.T, e engine, out *outbox) *server {
	t.Helper()
	st := e.open(t, &clock{now: time.Now().UTC().Truncate(time.Second)})
	mem := ratelimit.NewMemory(0)
	mem.Now = st.clock.Now
	return start(t, st, options{
		audit: true, authz: true, sessions: true, hooks: out,
		backends: []string{"jwt=bearer+jwt", "apikey=apikey+apikey"},
		limiter:  mem,
		limits:   httpapi.Limits{Login: ratelimit.Rules{Account: gatehouse.Rate{Limit: 1, Period: time.Hour, Burst: 20}}},
	})
}

// TestAuditEvents: each audited action leaves its event, with who, whom,
// from where and how, and no secret anywhere in the log.
func TestAuditEvents(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		out := newOutbox()
		s := auditServer(t, e, out)
		adminID, admin := s.user("admin@example.com", true, true, true)
		secrets := []string{"password123", admin}

		const pw1, pw2, pw3 = "first-Secret-741", "second-Secret-852", "reset-Secret-963"
		secrets = append(secrets, pw1, pw2, pw3, "wrong-guess-secret")
		alice := s.register("alice@example.com", pw1)
		aliceID := alice["id"].(string)
		login := func(email, pw string) response {
			return s.form("/auth/jwt/login", url.Values{"username": {email}, "password": {pw}})
		}
		first := s.pairFrom(login("alice@example.com", pw1))
		login("alice@example.com", "wrong-guess-secret")
		login("nobody@example.com", "wrong-guess-secret")
		second := s.pairFrom(s.refresh("jwt", first.refresh))
		s.refresh("jwt", first.refresh) // reuse: the session ends
		secrets = append(secrets, first.access, first.refresh, second.access, second.refresh)

		p := s.pairFrom(login("alice@example.com", pw1))
		secrets = append(secrets, p.access, p.refresh)
		if res := s.json("PATCH", "/users/me", fmt.Sprintf(`{"password":%q}`, pw2), p.access); res.status != 200 {
			t.Fatalf("password change: %d %s", res.status, res.body)
		}
		if res := s.json("PATCH", "/users/me", `{"email":"alice.new@example.com"}`, p.access); res.status != 200 {
			t.Fatalf("e-mail change: %d %s", res.status, res.body)
		}
		s.json("POST", "/auth/request-verify-token", `{"email":"alice.new@example.com"}`, "")
		s.json("POST", "/auth/forgot-password", `{"email":"alice.new@example.com"}`, "")
		s.wait()
		verifyToken, resetToken := out.take(out.verify, "alice.new@example.com")[0], out.take(out.reset, "alice.new@example.com")[0]
		secrets = append(secrets, verifyToken, resetToken)
		s.json("POST", "/auth/verify", `{"token":"not-a-token"}`, "")
		if res := s.json("POST", "/auth/verify", fmt.Sprintf(`{"token":%q}`, verifyToken), ""); res.status != 200 {
			t.Fatalf("verify: %d %s", res.status, res.body)
		}
		if res := s.json("POST", "/auth/reset-password", fmt.Sprintf(`{"token":%q,"password":%q}`, resetToken, pw3), ""); res.status != 200 {
			t.Fatalf("reset: %d %s", res.status, res.body)
		}
		p = s.pairFrom(login("alice.new@example.com", pw3))
		secrets = append(secrets, p.access, p.refresh)

		s.json("POST", "/roles", `{"name":"editor","permissions":["articles:write"]}`, admin)
		if res := s.json("PUT", "/users/"+aliceID+"/roles", `{"roles":["editor"]}`, admin); res.status != 200 {
			t.Fatalf("roles: %d %s", res.status, res.body)
		}
		if res := s.json("PATCH", "/users/"+aliceID, `{"is_superuser":true}`, admin); res.status != 200 {
			t.Fatalf("superuser: %d %s", res.status, res.body)
		}
		s.json("PATCH", "/users/"+aliceID, `{"is_superuser":false}`, admin)
		res := s.json("POST", "/users/me/api-keys", `{"name":"ci","scopes":["articles:write"]}`, p.access)
		if res.status != 201 {
			t.Fatalf("api key: %d %s", res.status, res.body)
		}
		key := res.json(t)
		keyID := key["id"].(string)
		secrets = append(secrets, key["key"].(string))
		if res := s.json("DELETE", "/users/me/api-keys/"+keyID, "", p.access); res.status != 204 {
			t.Fatalf("revoke: %d %s", res.status, res.body)
		}
		s.json("DELETE", "/users/me/sessions", "", p.access)
		if res := s.json("GET", "/users", "", p.access); res.status != 403 {
			t.Fatalf("alice lists users: %d", res.status)
		}
		if res := s.json("POST", "/auth/jwt/logout", "", p.access); res.status != 204 {
			t.Fatalf("logout: %d %s", res.status, res.body)
		}
		for range 21 {
			login("victim@example.com", "wrong-guess-secret")
		}
		if res := login("victim@example.com", "wrong-guess-secret"); res.status != 429 {
			t.Fatalf("victim's 22nd login: %d", res.status)
		}
		if res := s.json("DELETE", "/users/"+aliceID, "", admin); res.status != 204 {
			t.Fatalf("delete: %d %s", res.status, res.body)
		}

		events := s.allEvents()
		type want struct {
			event            gatehouse.AuditEventType
			user, actor      string
			outcome          gatehouse.AuditOutcome
			detail, key, val string
		}
		ok := gatehouse.AuditSuccess
		for _, w := range []want{
			{gatehouse.AuditUserRegistered, aliceID, "", ok, "", "", ""},
			{gatehouse.AuditLoginSucceeded, aliceID, "", ok, "", "backend", "jwt"},
			{gatehouse.AuditLoginFailed, aliceID, "", gatehouse.AuditFailure, "LOGIN_BAD_CREDENTIALS", "backend", "jwt"},
			{gatehouse.AuditLoginFailed, "", "", gatehouse.AuditFailure, "LOGIN_BAD_CREDENTIALS", "backend", "jwt"},
			{gatehouse.AuditTokenRefreshed, aliceID, "", ok, "", "backend", "jwt"},
			{gatehouse.AuditRefreshReused, "", "", gatehouse.AuditFailure, "REFRESH_TOKEN_REUSED", "backend", "jwt"},
			{gatehouse.AuditPasswordChanged, aliceID, "", ok, "", "", ""},
			{gatehouse.AuditEmailChanged, aliceID, "", ok, "", "", ""},
			{gatehouse.AuditEmailVerified, "", "", gatehouse.AuditFailure, "VERIFY_USER_BAD_TOKEN", "", ""},
			{gatehouse.AuditEmailVerified, aliceID, "", ok, "", "", ""},
			{gatehouse.AuditPasswordReset, aliceID, "", ok, "", "", ""},
			{gatehouse.AuditRolesChanged, aliceID, adminID, ok, "", "roles", "editor"},
			{gatehouse.AuditRolesChanged, aliceID, adminID, ok, "", "is_superuser", "true"},
			{gatehouse.AuditRolesChanged, aliceID, adminID, ok, "", "is_superuser", "false"},
			{gatehouse.AuditAPIKeyCreated, aliceID, "", ok, "", "key_id", keyID},
			{gatehouse.AuditAPIKeyRevoked, aliceID, "", ok, "", "key_id", keyID},
			{gatehouse.AuditSessionEnded, aliceID, "", ok, "", "sessions", "others"},
			{httpapi.AuditAccessDenied, aliceID, "", gatehouse.AuditDenied, "Forbidden", "route", "GET /users"},
			{gatehouse.AuditLogout, aliceID, "", ok, "", "backend", "jwt"},
			{gatehouse.AuditLoginFailed, "", "", gatehouse.AuditDenied, "TOO_MANY_REQUESTS", "route", "POST /auth/jwt/login"},
			{gatehouse.AuditUserDeleted, aliceID, adminID, ok, "", "", ""},
		} {
			found := false
			for _, ev := range events {
				if ev.Event == w.event && idString(ev.UserID) == w.user && idString(ev.ActorID) == w.actor &&
					ev.Outcome == w.outcome && ev.Detail == w.detail && (w.key == "" || ev.Attrs[w.key] == w.val) &&
					ev.IP == "127.0.0.1" && ev.UserAgent == "Go-http-client/1.1" && !ev.Time.IsZero() {
					found = true
				}
			}
			if !found {
				t.Errorf("no event %+v", w)
			}
		}
		// Throttled attempts are sampled: one a minute per client and route.
		n := 0
		for _, ev := range events {
			if ev.Detail == "TOO_MANY_REQUESTS" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d events of throttled requests, want 1", n)
		}
		dump, err := json.Marshal(events)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range secrets {
			if strings.Contains(string(dump), secret) {
				t.Errorf("the audit log holds a secret: %q", secret)
			}
		}
		for _, ev := range events {
			if ev.Attrs["username"] != "" || strings.Contains(string(dump), "nobody@example.com") {
				t.Fatalf("the audit log holds a login's username: %+v", ev)
			}
		}
	})
}

func idString(id gatehouse.ID) string {
	if id.IsZero() {
		return ""
	}
	return id.String()
}

// TestAuditRoute: GET /audit filters and pages the log for superusers,
// and for their API keys only with the audit scope.
func TestAuditRoute(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := auditServer(t, e, newOutbox())
		_, admin := s.user("admin@example.com", true, true, true)
		aliceID, alice := s.user("alice@example.com", false, true, true)
		for range 3 {
			s.login("alice@example.com", "password123")
			s.clock.Add(time.Second)
		}
		list := func(query, token string) response {
			return s.do("GET", "/audit?"+query, "", "", token)
		}
		if res := list("", ""); res.status != 401 || res.body != unauthorized {
			t.Errorf("without a token: %d %s", res.status, res.body)
		}
		if res := list("", alice); res.status != 403 || res.body != forbidden {
			t.Errorf("as a user: %d %s", res.status, res.body)
		}

		type page struct {
			Items []map[string]any
			Total int
		}
		get := func(query, token string) page {
			t.Helper()
			res := list(query, token)
			if res.status != 200 {
				t.Fatalf("GET /audit?%s: %d %s", query, res.status, res.body)
			}
			var p page
			if err := json.Unmarshal([]byte(res.body), &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		all := get("", admin)
		if all.Total != len(s.allEvents()) || len(all.Items) != all.Total {
			t.Errorf("all: %d items, total %d, store has %d", len(all.Items), all.Total, len(s.allEvents()))
		}
		logins := get("user_id="+aliceID+"&event=login.succeeded", admin)
		if logins.Total != 4 || len(logins.Items) != 4 { // s.user logs in once
			t.Errorf("alice's logins: %d of %d", len(logins.Items), logins.Total)
		}
		var prev string
		for _, it := range logins.Items {
			if it["user_id"] != aliceID || it["event"] != "login.succeeded" || it["actor_id"] != nil || it["ip"] != "127.0.0.1" {
				t.Errorf("item %v", it)
			}
			if ts := it["time"].(string); prev != "" && ts > prev {
				t.Errorf("not newest first: %s after %s", ts, prev)
			}
			prev = it["time"].(string)
		}
		first, second := get("user_id="+aliceID+"&event=login.succeeded&limit=2", admin), get("user_id="+aliceID+"&event=login.succeeded&limit=2&offset=2", admin)
		if len(first.Items) != 2 || len(second.Items) != 2 || first.Total != 4 || first.Items[1]["id"] == second.Items[0]["id"] ||
			first.Items[0]["id"] != logins.Items[0]["id"] || second.Items[1]["id"] != logins.Items[3]["id"] {
			t.Errorf("pages: %v / %v", first, second)
		}
		oldest := logins.Items[3]["time"].(string)
		newest := logins.Items[0]["time"].(string)
		if p := get("event=login.succeeded&user_id="+aliceID+"&since="+url.QueryEscape(newest), admin); p.Total != 1 {
			t.Errorf("since the newest: %d", p.Total)
		}
		if p := get("event=login.succeeded&user_id="+aliceID+"&until="+url.QueryEscape(oldest), admin); p.Total != 0 {
			t.Errorf("until the oldest: %d", p.Total)
		}

		for _, q := range []string{"limit=0", "limit=101", "offset=-1", "limit=x", "user_id=nope", "since=yesterday", "until=2024-13-01T00:00:00Z"} {
			if res := list(q, admin); res.status != 422 || !strings.Contains(res.body, `"loc":["query",`) {
				t.Errorf("?%s: %d %s", q, res.status, res.body)
			}
		}

		// An admin's API key reads the log only with the audit scope.
		for scopes, status := range map[string]int{`[]`: 403, `["audit:read"]`: 200} {
			res := s.json("POST", "/users/me/api-keys", `{"name":"k","scopes":`+scopes+`}`, admin)
			if res.status != 201 {
				t.Fatalf("key %s: %d %s", scopes, res.status, res.body)
			}
			got := s.send("GET", "/audit", credential{"X-API-Key", res.json(t)["key"].(string)})
			if got.status != status {
				t.Errorf("key with scopes %s: %d %s, want %d", scopes, got.status, got.body, status)
			}
		}
	})
}

// TestNoAuditRoute: without an AuditStore there is no /audit.
func TestNoAuditRoute(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{})
		_, admin := s.user("admin@example.com", true, true, true)
		if res := s.do("GET", "/audit", "", "", admin); res.status != http.StatusNotFound {
			t.Errorf("GET /audit: %d %s", res.status, res.body)
		}
	})
}
