package pages

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
)

// csrfField is the hidden form field holding the CSRF token.
const csrfField = "csrf_token"

// csrfValueLen is the length of a CSRF cookie value: 32 random bytes in
// unpadded base64url.
const csrfValueLen = 43

// csrf issues and checks the double-submit tokens: a random value in a
// cookie, and its HMAC in each form. A sibling subdomain or a plain-HTTP
// attacker who can plant a cookie still cannot make the matching form
// value without the key; a cross-site page can neither read the cookie nor
// make the form value.
type csrf struct {
	key    []byte
	cookie string
	secure bool
}

func newCSRF(key []byte, secure bool) *csrf {
	c := &csrf{key: key, cookie: "gatehouse_csrf", secure: secure}
	if secure {
		// Only this host, over HTTPS, may set it (no cookie tossing).
		c.cookie = "__Host-gatehouse_csrf"
	}
	return c
}

// value returns the request's CSRF cookie value if it is well formed.
func (c *csrf) value(r *http.Request) (string, bool) {
	var found string
	for _, ck := range r.CookiesNamed(c.cookie) {
		if found != "" {
			return "", false // two cookies: one was planted
		}
		found = ck.Value
	}
	if len(found) != csrfValueLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(found); err != nil {
		return "", false
	}
	return found, true
}

// token returns the form token of the request's CSRF cookie, setting a new
// cookie first when the request has none. It is SameSite=Strict, so a
// page opened from another site (a mail's link) does not see it and sets
// a new one, which the form of that page then matches.
func (c *csrf) token(w http.ResponseWriter, r *http.Request) string {
	v, ok := c.value(r)
	if !ok {
		b := make([]byte, 32)
		rand.Read(b) // never fails (crypto/rand)
		v = base64.RawURLEncoding.EncodeToString(b)
		// #nosec G124 -- HttpOnly and SameSite=Strict are set; Secure is on
		// unless the server was configured for plain HTTP (newCSRF).
		http.SetCookie(w, &http.Cookie{
			Name: c.cookie, Value: v, Path: "/",
			Secure: c.secure, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		})
	}
	return c.sign(v)
}

func (c *csrf) sign(v string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(v))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errCSRF = errors.New("pages: missing or wrong CSRF token")

// check verifies a parsed form's token against the request's cookie, in
// constant time.
func (c *csrf) check(r *http.Request) error {
	v, ok := c.value(r)
	if !ok {
		return errCSRF
	}
	got := r.PostForm.Get(csrfField)
	if subtle.ConstantTimeCompare([]byte(got), []byte(c.sign(v))) != 1 {
		return errCSRF
	}
	return nil
}
