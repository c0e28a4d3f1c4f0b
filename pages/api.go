package pages

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// forwarded are the browser's headers an API request keeps: who sends it
// (the session records show the user agent), its credentials, and what the
// API's own cross-origin check reads. Nothing else of the browser's
// request reaches the API.
var forwarded = []string{
	"User-Agent", "Accept-Language", "Origin",
	"Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User",
}

// fetchHeaders are the headers by which the API tells a browser's
// cross-site request; see refresh.
var fetchHeaders = []string{"Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User"}

// result is an API answer.
type result struct {
	status int
	header http.Header
	body   []byte
}

func (res *result) ok() bool { return res.status >= 200 && res.status < 300 }

// decode reads a JSON body into v.
func (res *result) decode(v any) error { return json.Unmarshal(res.body, v) }

// recorder keeps what the API writes.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}

// client makes the API requests of one browser request. The API's
// Set-Cookie headers go to the browser and into the Cookie header of the
// requests that follow, so a refreshed or new login counts at once.
type client struct {
	h       *handler
	w       http.ResponseWriter
	r       *http.Request
	cookies []*http.Cookie
	// refreshed is set once a refresh was tried: never twice per request.
	refreshed bool
}

func (h *handler) client(w http.ResponseWriter, r *http.Request) *client {
	return &client{h: h, w: w, r: r, cookies: r.Cookies()}
}

// call sends one request to the API. body, if not nil, is sent as JSON, or
// as a form when it is url.Values.
func (c *client) call(method, path string, body any) *result {
	return c.send(c.r.Context(), method, path, body, false)
}

func (c *client) send(ctx context.Context, method, path string, body any, dropFetch bool) *result {
	sub := c.r.Clone(ctx) // keeps RemoteAddr, Host and TLS, which the API reads
	sub.Method = method
	sub.URL = &url.URL{Path: path}
	sub.RequestURI = path
	sub.Header = make(http.Header)
	for _, k := range forwarded {
		if v := c.r.Header.Values(k); len(v) > 0 && !(dropFetch && slices.Contains(fetchHeaders, k)) {
			sub.Header[k] = slices.Clone(v)
		}
	}
	var parts []string
	for _, ck := range c.cookies {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	if len(parts) > 0 {
		sub.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	var b []byte
	switch v := body.(type) {
	case nil:
	case url.Values:
		b = []byte(v.Encode())
		sub.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	default:
		b, _ = json.Marshal(v) // only maps and slices of plain values
		sub.Header.Set("Content-Type", "application/json")
	}
	sub.Body = http.NoBody
	if b != nil {
		sub.Body = readCloser{bytes.NewReader(b)}
	}
	sub.ContentLength = int64(len(b))
	sub.GetBody = nil
	sub.Form, sub.PostForm, sub.MultipartForm = nil, nil, nil

	rec := &recorder{header: make(http.Header)}
	c.h.cfg.API.ServeHTTP(rec, sub)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	c.absorb(rec.header)
	return &result{status: rec.status, header: rec.header, body: rec.body.Bytes()}
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// absorb passes the API's cookies to the browser and on to later calls.
func (c *client) absorb(h http.Header) {
	for _, line := range h.Values("Set-Cookie") {
		c.w.Header().Add("Set-Cookie", line)
		set, err := http.ParseSetCookie(line)
		if err != nil {
			continue
		}
		c.cookies = slices.DeleteFunc(c.cookies, func(ck *http.Cookie) bool { return ck.Name == set.Name })
		if set.MaxAge >= 0 && set.Value != "" {
			// #nosec G124 -- a cookie sent on a request to the API, never
			// written to a response: Set-Cookie attributes do not apply.
			c.cookies = append(c.cookies, &http.Cookie{Name: set.Name, Value: set.Value})
		}
	}
	if ra := h.Get("Retry-After"); ra != "" {
		c.w.Header().Set("Retry-After", ra)
	}
}

// authed sends a request that needs the user's login. On a 401 it tries a
// refresh of the session once (the access cookie may have expired while
// the refresh cookie still holds), then retries.
func (c *client) authed(method, path string, body any) *result {
	res := c.call(method, path, body)
	if res.status != http.StatusUnauthorized || c.refreshed || len(c.cookies) == 0 {
		return res
	}
	c.refreshed = true
	// The refresh is the pages' own step, also made on a GET that another
	// site may have linked to: the browser's cross-site marks, which the
	// API would refuse on a POST, do not describe it. (Every form POST
	// was checked for them before it got here.)
	ref := c.send(c.r.Context(), http.MethodPost, "/auth/"+c.h.cfg.CookieBackend+"/refresh", nil, true)
	if !ref.ok() {
		return res
	}
	return c.call(method, path, body)
}

// apiError is an API error answer, read for a person.
type apiError struct {
	status int
	code   string // the detail code ("LOGIN_BAD_CREDENTIALS", "Not Found")
	reason string // the reason of {"detail":{"code","reason"}}
	// fields are the 422 problems by field name (the last element of loc).
	fields map[string]fieldProblem
}

type fieldProblem struct{ typ, msg string }

func readError(res *result) *apiError {
	e := &apiError{status: res.status}
	var body struct {
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(res.body, &body) != nil {
		return e
	}
	var code string
	var obj struct{ Code, Reason string }
	var list []struct {
		Type string `json:"type"`
		Loc  []any  `json:"loc"`
		Msg  string `json:"msg"`
	}
	switch {
	case json.Unmarshal(body.Detail, &code) == nil:
		e.code = code
	case json.Unmarshal(body.Detail, &list) == nil && list != nil:
		e.fields = make(map[string]fieldProblem)
		for _, item := range list {
			name := "body"
			if n := len(item.Loc); n > 0 {
				if s, ok := item.Loc[n-1].(string); ok {
					name = s
				}
			}
			if _, dup := e.fields[name]; !dup {
				e.fields[name] = fieldProblem{item.Type, item.Msg}
			}
		}
	case json.Unmarshal(body.Detail, &obj) == nil:
		e.code, e.reason = obj.Code, obj.Reason
	}
	return e
}

// messages are what a person reads for the API's codes. None tells
// whether an account exists where the API does not either.
//
// #nosec G101 -- error codes and the sentences shown for them, no credential.
var messages = map[string]string{
	"LOGIN_BAD_CREDENTIALS":           "Wrong e-mail or password.",
	"LOGIN_USER_NOT_VERIFIED":         "Confirm your e-mail address before you log in: open the link we sent you, or ask for a new one.",
	"REGISTER_USER_ALREADY_EXISTS":    "This e-mail address cannot be used to register. If it is yours, log in or reset your password.",
	"REGISTER_INVALID_PASSWORD":       "Choose another password.",
	"RESET_PASSWORD_BAD_TOKEN":        "This link is invalid, has expired or was already used. Ask for a new one.",
	"RESET_PASSWORD_INVALID_PASSWORD": "Choose another password.",
	"VERIFY_USER_BAD_TOKEN":           "This link is invalid or has expired. Ask for a new one below.",
	"VERIFY_USER_ALREADY_VERIFIED":    "This e-mail address is already confirmed.",
	"UPDATE_USER_INVALID_PASSWORD":    "Choose another password.",
	"API_KEY_SCOPE_NOT_ALLOWED":       "A key cannot have a permission that you do not have.",
	"OAUTH_LAST_LOGIN_METHOD":         "This is your only way to log in. Set a password before you unlink it.",
	"MFA_BAD_CODE":                    "That code is not right, or was already used.",
	"MFA_BAD_TOKEN":                   "This login has expired. Log in again.",
	"MFA_TOTP_NOT_ENABLED":            "Two-step verification is not turned on for this account.",
	"MFA_TOTP_ALREADY_ENABLED":        "Two-step verification is already on for this account.",
	"MFA_REQUIRED":                    "You must keep a second factor: this site requires one on your account. Add another one before you remove this one.",
	"MFA_BAD_PASSKEY":                 "That passkey was not accepted: it is not one of this account's, or it did not check that it is you.",
	"MFA_PASSKEY_NOT_ENABLED":         "This account has no passkey. Use a code instead.",
	"TOO_MANY_REQUESTS":               "Too many attempts. Wait a moment, then try again.",
	"Forbidden":                       "You are not allowed to do this.",
	"Not Found":                       "This item does not exist any more.",
	"Unauthorized":                    "Your session has ended. Log in again.",
}

// message is the sentence shown for e, with the API's reason (a password
// policy's "at least 8 characters") when it gave one.
func (e *apiError) message() string {
	msg, ok := messages[e.code]
	switch {
	case e.reason != "":
		return e.reason
	case ok:
		return msg
	case e.status >= 500:
		return "Something went wrong on our side. Try again in a moment."
	}
	return "The request could not be completed. Check what you entered and try again."
}
