package gatehouse_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestWriteError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{&gatehouse.Error{Code: gatehouse.CodeLoginBadCredentials}, 400, `{"detail":"LOGIN_BAD_CREDENTIALS"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeRegisterInvalidPassword, Reason: "too short"}, 400,
			`{"detail":{"code":"REGISTER_INVALID_PASSWORD","reason":"too short"}}`, ""},
		{fmt.Errorf("wrapped: %w", &gatehouse.Error{Code: gatehouse.CodeNotFound, Err: errors.New("sql: no rows")}), 404, `{"detail":"Not Found"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeUnauthorized}, 401, `{"detail":"Unauthorized"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeForbidden}, 403, `{"detail":"Forbidden"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeUnavailable, Err: errors.New("dial tcp: refused")}, 503, `{"detail":"SERVICE_UNAVAILABLE"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeTooLarge}, 413, `{"detail":"Request Entity Too Large"}`, ""},
		{errors.New("pq: password authentication failed for secret"), 500, `{"detail":"Internal Server Error"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeInternal, Reason: "leaky"}, 500, `{"detail":"Internal Server Error"}`, ""},
		{&gatehouse.Error{Code: gatehouse.CodeUnavailable, RetryAfter: 1500 * time.Millisecond}, 503, `{"detail":"SERVICE_UNAVAILABLE"}`, "2"},
		{fmt.Errorf("login: %w", &gatehouse.Error{Code: gatehouse.CodeTooManyRequests, RetryAfter: time.Minute}), 429,
			`{"detail":"TOO_MANY_REQUESTS"}`, "60"},
	} {
		w := httptest.NewRecorder()
		gatehouse.WriteError(w, tc.err)
		if w.Code != tc.status || w.Body.String() != tc.body {
			t.Errorf("WriteError(%v) = %d %s, want %d %s", tc.err, w.Code, w.Body, tc.status, tc.body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("WriteError(%v): Retry-After %q, want %q", tc.err, got, tc.retryAfter)
		}
	}
}

func TestErrorIsComparesCodes(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("store: %w", &gatehouse.Error{Code: gatehouse.CodeConflict, Err: errors.New("duplicate key")})
	if !errors.Is(err, &gatehouse.Error{Code: gatehouse.CodeConflict}) {
		t.Error("errors.Is by code failed")
	}
	if errors.Is(err, &gatehouse.Error{Code: gatehouse.CodeNotFound}) {
		t.Error("errors.Is matched another code")
	}
	if gatehouse.ErrorCode(nil) != "" || gatehouse.ErrorCode(errors.New("x")) != gatehouse.CodeInternal {
		t.Error("ErrorCode fallbacks")
	}
}

func TestID(t *testing.T) {
	t.Parallel()
	id := gatehouse.NewID()
	if id[6]>>4 != 4 || id[8]>>6 != 2 {
		t.Fatalf("NewID %s is not a version 4 UUID", id)
	}
	for _, s := range []string{id.String(), "00112233-4455-6677-8899-AABBCCDDEEFF", "00112233445566778899aabbccddeeff"} {
		got, err := gatehouse.ParseID(s)
		if err != nil {
			t.Fatalf("ParseID(%q): %v", s, err)
		}
		again, _ := gatehouse.ParseID(got.String())
		if again != got {
			t.Fatalf("round trip of %q", s)
		}
	}
	for _, s := range []string{"", "me", "00112233-4455-6677-8899-aabbccddeef", "00112233_4455-6677-8899-aabbccddeeff",
		"0011223344556677-8899-aabbccddeeff-", "g0112233-4455-6677-8899-aabbccddeeff", "{00112233-4455-6677-8899-aabbccddeeff}"} {
		if _, err := gatehouse.ParseID(s); err == nil {
			t.Errorf("ParseID(%q) accepted", s)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("00112233-4455-6677-8899-aabbccddeeff")
	f.Add("00112233445566778899aabbccddeeff")
	f.Add("not-an-id")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := gatehouse.ParseID(s)
		if err != nil {
			return
		}
		if again, err := gatehouse.ParseID(id.String()); err != nil || again != id {
			t.Fatalf("%q parsed to %s which does not round-trip", s, id)
		}
	})
}
