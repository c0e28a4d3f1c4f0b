// Package bearer is the Bearer transport of Gatehouse: it reads access tokens
// from the Authorization header (RFC 6750 §2.1) and answers a login with the
// token in a JSON body, like FastAPI Users' BearerTransport.
//
// Reading is stricter than FastAPI Users': a request with two Authorization
// headers, or whose token holds anything but visible ASCII (spaces, control
// characters, non-ASCII bytes), carries no token at all, so ambiguous or
// smuggled values never reach a strategy (security checklist item 62).
package bearer

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// maxTokenBytes caps the token Credential returns. Gatehouse's tokens are
// well under 1 KiB; larger values are refused before any strategy parses
// them.
const maxTokenBytes = 4096

// Transport carries tokens in the Authorization header and writes the
// login response as JSON. The zero value is ready to use.
type Transport struct {
	// Now is the clock that expires_in is computed with; default time.Now.
	Now func() time.Time
}

var _ gatehouse.Transport = Transport{}

// Credential returns the token of an "Authorization: Bearer <token>"
// header. The scheme is matched ignoring case and the token is the text
// after the first space, without surrounding spaces or tabs, as FastAPI
// Users reads it. ok is false when there is no such header, when there is
// more than one, and when the token is empty, longer than 4096 bytes, or
// holds a byte outside visible ASCII (0x21–0x7E): a token with a space
// inside ("Bearer a b") is ambiguous, not two tokens.
func (Transport) Credential(r *http.Request) (token string, ok bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, rest, found := strings.Cut(values[0], " ")
	if !found || !strings.EqualFold(scheme, "bearer") {
		return "", false
	}
	token = strings.Trim(rest, " \t")
	if token == "" || len(token) > maxTokenBytes {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return "", false
		}
	}
	return token, true
}

// WriteLogin answers a login with 200 and
//
//	{"access_token":"<token>","token_type":"bearer"}
//
// exactly as FastAPI Users writes it, those two keys first. Gatehouse adds
// "refresh_token" when t has one and "expires_in" (whole seconds, rounded
// up) when t expires. Cache-Control: no-store and Pragma: no-cache keep the
// token out of caches (RFC 6749 §5.1).
func (tr Transport) WriteLogin(w http.ResponseWriter, r *http.Request, t gatehouse.Token) error {
	var b bytes.Buffer
	b.WriteString(`{"access_token":`)
	writeString(&b, t.AccessToken)
	b.WriteString(`,"token_type":"bearer"`)
	if t.RefreshToken != "" {
		b.WriteString(`,"refresh_token":`)
		writeString(&b, t.RefreshToken)
	}
	if !t.Expiry.IsZero() {
		now := time.Now
		if tr.Now != nil {
			now = tr.Now
		}
		b.WriteString(`,"expires_in":`)
		b.WriteString(strconv.FormatInt(expiresIn(t.Expiry.Sub(now())), 10))
	}
	b.WriteByte('}')

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(b.Bytes())
	return err
}

// expiresIn rounds d up to whole seconds. Strategies write exp in whole
// seconds, rounded down, so a fresh token has a fraction of a second less
// than its lifetime left: rounding up reports the lifetime itself (900 for
// 15 minutes), as clients expect. An expired token gives 0, never a
// negative lifetime.
func expiresIn(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// writeString appends s as a JSON string. HTML characters are left alone:
// the body is JSON, not HTML, and must match FastAPI Users byte for byte.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // cannot fail for a string
	b.Truncate(b.Len() - 1) // Encode appends a newline
}

// WriteLogout answers a logout with 204 and no body: a bearer token lives
// with the client, which simply forgets it.
func (Transport) WriteLogout(w http.ResponseWriter, r *http.Request) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}
