package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
)

// object is a JSON request body as FastAPI sees it before validation.
// A body that is not JSON at all is not an immediate error: FastAPI reports
// it only after the route's dependencies (authentication) ran, so shapeErr
// keeps it until then.
type object struct {
	fields   map[string]json.RawMessage
	shapeErr error
}

// readObject reads a JSON body. Immediate errors are those FastAPI raises
// before authentication: unreadable or oversized bodies and malformed JSON.
func (a *api) readObject(w http.ResponseWriter, r *http.Request) (object, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.MaxBodyBytes))
	if err != nil {
		return object{}, err
	}
	if len(body) == 0 {
		return object{shapeErr: missing("body")}, nil
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) {
		return object{shapeErr: notAnObject(nil)}, nil
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return object{}, invalid("json_invalid", "JSON decode error", map[string]any{}, "body", 0)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		var input any
		_ = json.Unmarshal(body, &input) // invalid JSON is echoed as null, as FastAPI does
		return object{shapeErr: notAnObject(input)}, nil
	}
	return object{fields: fields}, nil
}

// readDecoder reads a JSON body for a route without authentication, where
// every body problem is reported at once. It writes the error itself and
// returns false when there is one.
func (a *api) readDecoder(w http.ResponseWriter, r *http.Request) (*decoder, bool) {
	obj, err := a.readObject(w, r)
	if err == nil {
		err = obj.shapeErr
	}
	if err != nil {
		a.writeError(w, r, err)
		return nil, false
	}
	return &decoder{obj: obj.fields}, true
}

// readAuthed reads a JSON body and authenticates, in FastAPI's order:
// malformed JSON first (even without a token), then who asks (401/403),
// leaving the body's shape and fields to be checked after any lookup the
// route makes (shapeErr). It writes the error itself and returns false
// when there is one.
func (a *api) readAuthed(w http.ResponseWriter, r *http.Request, req gatehouse.Requirement) (*gatehouse.Auth, object, bool) {
	obj, err := a.readObject(w, r)
	var auth *gatehouse.Auth
	if err == nil {
		auth, err = a.authenticate(r, req)
	}
	if err != nil {
		a.writeError(w, r, err)
		return nil, object{}, false
	}
	return auth, obj, true
}

// done reports the decoder's problems, if any, as the answer; it returns
// false when it wrote one.
func (a *api) done(w http.ResponseWriter, r *http.Request, d *decoder) bool {
	if err := d.err(); err != nil {
		a.writeError(w, r, err)
		return false
	}
	return true
}

func notAnObject(input any) validationError {
	return invalid("model_attributes_type",
		"Input should be a valid dictionary or object to extract fields from", input, "body")
}

// isJSON reports whether a Content-Type names JSON: application/json or
// any application/*+json.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	sub, ok := strings.CutPrefix(mt, "application/")
	return ok && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// decoder validates the fields of an object, collecting every problem the
// way pydantic does, so one 422 lists them all.
type decoder struct {
	obj  map[string]json.RawMessage
	errs validationError
}

// present reports whether key was sent with a non-null value.
func (d *decoder) present(key string) bool {
	raw, ok := d.obj[key]
	return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func (d *decoder) fail(typ, msg string, input any, key string) {
	d.errs = append(d.errs, fieldError{Type: typ, Loc: []any{"body", key}, Msg: msg, Input: input})
}

// str decodes a string field; ok is false when absent, null or invalid.
func (d *decoder) str(key string, required bool) (string, bool) {
	if !d.present(key) {
		if required {
			d.errs = append(d.errs, missing("body", key)...)
		}
		return "", false
	}
	var s string
	if err := json.Unmarshal(d.obj[key], &s); err != nil {
		d.fail("string_type", "Input should be a valid string", rawInput(d.obj[key]), key)
		return "", false
	}
	return s, true
}

// rawObject returns a JSON object field as sent, for a caller that
// parses it itself (a WebAuthn answer); ok is false when absent, null or
// not an object.
func (d *decoder) rawObject(key string, required bool) (json.RawMessage, bool) {
	if !d.present(key) {
		if required {
			d.errs = append(d.errs, missing("body", key)...)
		}
		return nil, false
	}
	raw := bytes.TrimSpace(d.obj[key])
	if len(raw) == 0 || raw[0] != '{' {
		d.fail("dict_type", "Input should be a valid dictionary", rawInput(d.obj[key]), key)
		return nil, false
	}
	return raw, true
}

// email decodes and normalizes an e-mail field.
func (d *decoder) email(key string, required bool) (string, bool) {
	s, ok := d.str(key, required)
	if !ok {
		return "", false
	}
	addr, problem := normalizeEmail(s)
	if problem != "" {
		d.fail("value_error", "value is not a valid email address: "+problem, s, key)
		return "", false
	}
	return addr, true
}

// boolean decodes a JSON boolean field.
func (d *decoder) boolean(key string) (bool, bool) {
	if !d.present(key) {
		return false, false
	}
	var b bool
	if err := json.Unmarshal(d.obj[key], &b); err != nil {
		d.fail("bool_type", "Input should be a valid boolean", rawInput(d.obj[key]), key)
		return false, false
	}
	return b, true
}

// custom decodes the app-defined fields that are present. With create set,
// required fields must be there.
func (d *decoder) custom(fields []gatehouse.Field, create bool) map[string]any {
	out := make(map[string]any)
	for _, f := range fields {
		raw, sent := d.obj[f.Name]
		if !sent {
			if create && f.Required {
				d.errs = append(d.errs, missing("body", f.Name)...)
			}
			continue
		}
		if !d.present(f.Name) {
			if !f.Nullable {
				d.fail(typeName(f.Type)+"_type", "Input should be "+article(f.Type), nil, f.Name)
				continue
			}
			out[f.Name] = nil
			continue
		}
		v, ok := decodeField(f.Type, raw)
		if !ok {
			d.fail(typeName(f.Type)+"_type", "Input should be "+article(f.Type), rawInput(raw), f.Name)
			continue
		}
		if f.Validate != nil {
			if msg := f.Validate(v); msg != "" {
				d.fail("value_error", "Value error, "+msg, v, f.Name)
				continue
			}
		}
		out[f.Name] = v
	}
	return out
}

func decodeField(t gatehouse.FieldType, raw json.RawMessage) (any, bool) {
	switch t {
	case gatehouse.FieldString:
		var s string
		// NUL cannot be stored in PostgreSQL text; refuse it for every store.
		if json.Unmarshal(raw, &s) != nil || strings.ContainsRune(s, 0) {
			return nil, false
		}
		return s, true
	case gatehouse.FieldBoolean:
		var b bool
		return b, json.Unmarshal(raw, &b) == nil
	case gatehouse.FieldTime:
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, false
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, false
		}
		return t.UTC().Format(time.RFC3339Nano), true
	case gatehouse.FieldNumber, gatehouse.FieldInteger:
		var n float64
		if json.Unmarshal(raw, &n) != nil || math.IsInf(n, 0) {
			return nil, false
		}
		if t == gatehouse.FieldInteger && (n != math.Trunc(n) || math.Abs(n) > 1<<53) {
			return nil, false
		}
		return n, true
	}
	return nil, false
}

func typeName(t gatehouse.FieldType) string {
	switch t {
	case gatehouse.FieldString:
		return "string"
	case gatehouse.FieldNumber:
		return "float"
	case gatehouse.FieldInteger:
		return "int"
	case gatehouse.FieldTime:
		return "datetime"
	default:
		return "bool"
	}
}

func article(t gatehouse.FieldType) string {
	switch t {
	case gatehouse.FieldString:
		return "a valid string"
	case gatehouse.FieldNumber:
		return "a valid number"
	case gatehouse.FieldInteger:
		return "a valid integer"
	case gatehouse.FieldTime:
		return "a valid datetime"
	default:
		return "a valid boolean"
	}
}

// rawInput echoes what the client sent in a 422, as FastAPI does.
func rawInput(raw json.RawMessage) any {
	var v any
	_ = json.Unmarshal(raw, &v) // invalid JSON is echoed as null, as FastAPI does
	return v
}

// err returns the collected problems, or nil.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	return d.errs
}

// readForm reads an x-www-form-urlencoded or multipart body's fields, only
// from the body (never the query string), as FastAPI's Form() does. Any
// other body gives an empty form, so the fields are reported missing.
func (a *api) readForm(w http.ResponseWriter, r *http.Request) (map[string][]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, a.MaxBodyBytes)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, formError(err)
		}
		return r.PostForm, nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(a.MaxBodyBytes); err != nil { // #nosec G120 -- the body is capped by http.MaxBytesReader above
			return nil, formError(err)
		}
		return r.MultipartForm.Value, nil
	}
	// Drain (within the limit) so an oversized body still gets its 413.
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return nil, err
	}
	return map[string][]string{}, nil
}

func formError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return invalid("value_error", "Invalid form data", nil, "body")
}

// formValue returns a form field; an empty value counts as missing.
func formValue(form map[string][]string, key string) (string, bool) {
	if v := form[key]; len(v) > 0 && v[0] != "" {
		return v[0], true
	}
	return "", false
}

func jsonUnmarshal(raw json.RawMessage, v any) error { return json.Unmarshal(raw, v) }
