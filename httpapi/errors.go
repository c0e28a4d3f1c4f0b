package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// fieldError is one entry of a FastAPI (pydantic) validation error.
type fieldError struct {
	Type  string `json:"type"`
	Loc   []any  `json:"loc"`
	Msg   string `json:"msg"`
	Input any    `json:"input"`
}

// validationError is a 422: {"detail":[fieldError…]}.
type validationError []fieldError

func (v validationError) Error() string {
	if len(v) == 0 {
		return "httpapi: invalid request"
	}
	return "httpapi: invalid request: " + v[0].Msg
}

func invalid(typ, msg string, input any, loc ...any) validationError {
	return validationError{{Type: typ, Loc: loc, Msg: msg, Input: input}}
}

func missing(loc ...any) validationError {
	return invalid("missing", "Field required", nil, loc...)
}

// writeError answers with err. Validation errors are 422 lists, oversized
// bodies 413, and everything else goes through gatehouse.WriteError (one
// code-to-status table); a throttled request's wait becomes Retry-After. Server-side failures are logged with their cause;
// the client sees only the code.
func (a *api) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var v validationError
	if errors.As(err, &v) {
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			Detail validationError `json:"detail"`
		}{v})
		return
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		err = &gatehouse.Error{Code: gatehouse.CodeTooLarge, Err: err}
	}
	var wait throttled
	if errors.As(err, &wait) {
		w.Header().Set("Retry-After", wait.retryAfter())
	}
	code := gatehouse.ErrorCode(err)
	if status := code.Status(); status >= 500 {
		a.Logger.ErrorContext(r.Context(), "request failed",
			"method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	gatehouse.WriteError(w, err)
}

// writeJSON writes v compactly, without the trailing newline of
// json.Encoder, so bodies match the contract byte for byte.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own wire types reach here; failing to encode one is a
		// bug, answered generically rather than with half a body.
		gatehouse.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b) // a failed write means the client has gone
}
