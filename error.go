package gatehouse

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Code classifies an error. Codes that reach clients are the contract's
// "detail" strings, so a Code is exactly what an HTTP client sees.
type Code string

// Codes of the HTTP contract (FastAPI Users' ErrorCode).
const (
	CodeRegisterInvalidPassword      Code = "REGISTER_INVALID_PASSWORD"
	CodeRegisterUserAlreadyExists    Code = "REGISTER_USER_ALREADY_EXISTS"
	CodeOAuthNotAvailableEmail       Code = "OAUTH_NOT_AVAILABLE_EMAIL"
	CodeOAuthUserAlreadyExists       Code = "OAUTH_USER_ALREADY_EXISTS"
	CodeOAuthInvalidState            Code = "OAUTH_INVALID_STATE"
	CodeLoginBadCredentials          Code = "LOGIN_BAD_CREDENTIALS" // #nosec G101 -- an error code, not a credential
	CodeLoginUserNotVerified         Code = "LOGIN_USER_NOT_VERIFIED"
	CodeResetPasswordBadToken        Code = "RESET_PASSWORD_BAD_TOKEN"
	CodeResetPasswordInvalidPassword Code = "RESET_PASSWORD_INVALID_PASSWORD"
	CodeVerifyUserBadToken           Code = "VERIFY_USER_BAD_TOKEN" // #nosec G101 -- an error code, not a credential
	CodeVerifyUserAlreadyVerified    Code = "VERIFY_USER_ALREADY_VERIFIED"
	CodeUpdateUserEmailAlreadyExists Code = "UPDATE_USER_EMAIL_ALREADY_EXISTS"
	CodeUpdateUserInvalidPassword    Code = "UPDATE_USER_INVALID_PASSWORD" // #nosec G101 -- an error code, not a credential
	CodeAccessTokenAlreadyExpired    Code = "ACCESS_TOKEN_ALREADY_EXPIRED"
	CodeAccessTokenDecodeError       Code = "ACCESS_TOKEN_DECODE_ERROR"
)

// Codes of Gatehouse's additions to the contract.
const (
	CodeRefreshTokenInvalid Code = "REFRESH_TOKEN_INVALID"
	// CodeRefreshTokenReused answers a refresh token presented again after
	// it was rotated: a sign it was stolen, so its session has been ended.
	CodeRefreshTokenReused Code = "REFRESH_TOKEN_REUSED" // #nosec G101 -- an error code, not a credential

	CodeRoleAlreadyExists     Code = "ROLE_ALREADY_EXISTS"
	CodeRoleNotFound          Code = "ROLE_NOT_FOUND"
	CodeAPIKeyScopeNotAllowed Code = "API_KEY_SCOPE_NOT_ALLOWED" // #nosec G101 -- an error code, not a credential
	// CodeOAuthLastLoginMethod refuses to unlink the only way a user
	// without a usable password can log in.
	CodeOAuthLastLoginMethod Code = "OAUTH_LAST_LOGIN_METHOD"
	// CodeBadGateway answers when an identity provider fails.
	CodeBadGateway Code = "BAD_GATEWAY"

	// CodeLoginMFARequired answers a right password of a user with a
	// second factor (401): the answer also carries an mfa_token, for the
	// second step of the login.
	CodeLoginMFARequired Code = "LOGIN_MFA_REQUIRED"
	// CodeMFABadCode refuses a wrong, malformed or replayed one-time code
	// or recovery code.
	CodeMFABadCode Code = "MFA_BAD_CODE"
	// CodeMFABadToken refuses an mfa_token that is unknown, expired or
	// already used.
	CodeMFABadToken Code = "MFA_BAD_TOKEN" // #nosec G101 -- an error code, not a credential
	// CodeMFATOTPAlreadyEnabled refuses to enrol a second TOTP.
	CodeMFATOTPAlreadyEnabled Code = "MFA_TOTP_ALREADY_ENABLED"
	// CodeMFATOTPNotEnabled answers what needs a TOTP when there is none.
	CodeMFATOTPNotEnabled Code = "MFA_TOTP_NOT_ENABLED"
	// CodeMFABadPasskey refuses a passkey (WebAuthn) answer that does not
	// verify, or a passkey registered already.
	CodeMFABadPasskey Code = "MFA_BAD_PASSKEY" // #nosec G101 -- an error code, not a credential
	// CodeMFAPasskeyNotEnabled answers what needs a passkey when the user
	// has none, or when passkeys are not configured.
	CodeMFAPasskeyNotEnabled Code = "MFA_PASSKEY_NOT_ENABLED" // #nosec G101 -- an error code, not a credential
	// CodeLoginMFASetupRequired answers a right password of a user who
	// must have a second factor and has none (401): the answer carries an
	// mfa_token with which to add one, and the login completes once it is.
	CodeLoginMFASetupRequired Code = "LOGIN_MFA_SETUP_REQUIRED"
	// CodeMFARequired refuses to remove the last second factor of a user
	// who must have one.
	CodeMFARequired Code = "MFA_REQUIRED"
)

// Generic codes. Their values are the contract's generic "detail" strings.
const (
	CodeBadRequest       Code = "Bad Request"
	CodeUnauthorized     Code = "Unauthorized"
	CodeForbidden        Code = "Forbidden"
	CodeNotFound         Code = "Not Found"
	CodeMethodNotAllowed Code = "Method Not Allowed"
	CodeTooLarge         Code = "Request Entity Too Large"
	CodeTooManyRequests  Code = "TOO_MANY_REQUESTS"
	CodeUnavailable      Code = "SERVICE_UNAVAILABLE"
	CodeInternal         Code = "Internal Server Error"

	// CodeConflict is what a UserStore answers when an e-mail is taken.
	// The Manager turns it into the code of the route that caused it.
	CodeConflict Code = "Conflict"

	// CodeInvalidPassword is what a PasswordValidator answers, with the
	// reason. The Manager turns it into the code of the route (for example
	// REGISTER_INVALID_PASSWORD), keeping the reason.
	CodeInvalidPassword Code = "INVALID_PASSWORD"
)

// statuses is the one table from Code to HTTP status. Every code not listed
// is a 400: the contract's own codes all are.
var statuses = map[Code]int{
	CodeUnauthorized:          http.StatusUnauthorized,
	CodeRefreshTokenInvalid:   http.StatusUnauthorized,
	CodeRefreshTokenReused:    http.StatusUnauthorized,
	CodeLoginMFARequired:      http.StatusUnauthorized,
	CodeLoginMFASetupRequired: http.StatusUnauthorized,
	CodeForbidden:             http.StatusForbidden,
	CodeNotFound:              http.StatusNotFound,
	CodeMethodNotAllowed:      http.StatusMethodNotAllowed,
	CodeConflict:              http.StatusConflict,
	CodeTooLarge:              http.StatusRequestEntityTooLarge,
	CodeTooManyRequests:       http.StatusTooManyRequests,
	CodeUnavailable:           http.StatusServiceUnavailable,
	CodeInternal:              http.StatusInternalServerError,
}

// Status returns the HTTP status that answers an error with this code.
func (c Code) Status() int {
	if s, ok := statuses[c]; ok {
		return s
	}
	return http.StatusBadRequest
}

// Error is the one error type of Gatehouse. Code and Reason are safe to show
// to a client; Err is the cause and is only ever logged.
type Error struct {
	Code   Code
	Reason string // optional, user-safe; sent as {"code","reason"} when set
	Err    error  // optional cause, never sent to a client
	// RetryAfter, when positive, tells the client when to try again
	// (429, 503): WriteError sends it as Retry-After in whole seconds,
	// rounded up.
	RetryAfter time.Duration
}

// Errorf returns an *Error with the given code whose cause is formatted from
// format and args; %w works as in fmt.Errorf.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Err: fmt.Errorf(format, args...)}
}

func (e *Error) Error() string {
	msg := "gatehouse: " + string(e.Code)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &gatehouse.Error{Code: gatehouse.CodeNotFound}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrorCode returns the code of the first *Error in err's chain, "" for a nil
// error and CodeInternal for any other error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorReason returns the user-safe reason of the first *Error in err's
// chain, or "".
func ErrorReason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// WriteError answers a request with err as the contract wants it:
// {"detail":"CODE"}, or {"detail":{"code":"CODE","reason":"…"}} when the
// error has a reason. Errors that are not *Error become a fixed 500 body, so
// no internal detail reaches a client; logging them is the caller's job.
// A 401 carries WWW-Authenticate: Bearer.
func WriteError(w http.ResponseWriter, err error) {
	code := ErrorCode(err)
	var body struct {
		Detail any `json:"detail"`
	}
	body.Detail = code
	if reason := ErrorReason(err); reason != "" && code != CodeInternal {
		body.Detail = struct {
			Code   Code   `json:"code"`
			Reason string `json:"reason"`
		}{code, reason}
	}
	status := code.Status()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", "Bearer")
	}
	w.WriteHeader(status)
	b, _ := json.Marshal(body) // cannot fail: strings only
	_, _ = w.Write(b)          // a failed write means the client has gone
}
