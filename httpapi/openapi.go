package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/apikey"
	"github.com/gatehouse/gatehouse/bearer"
	"github.com/gatehouse/gatehouse/jwt"
)

// route is one entry of the route table. The mux is mounted from the table
// and GET /openapi.json is rendered from it, so a route cannot be served
// without being documented, or documented without being served.
type route struct {
	method, path string
	handler      http.Handler
	// op documents the route. It is nil only for the /docs/ subtree,
	// whose asset files are the documentation's, not the API's.
	op *operation
}

// access is who may call an operation; it becomes the operation's
// security requirement.
type access int

const (
	// accessNone is the zero value: an open operation.
	_ access = iota
	// accessUser needs an active user (verified too with
	// RequireVerification), by any backend's credential.
	accessUser
	accessSuperuser
	// accessForwarded reads the credential of the request a reverse proxy
	// forwards, by any backend's transport.
	accessForwarded
)

// operation describes a route for the OpenAPI document.
type operation struct {
	id, summary, description, tag string
	access                        access
	params                        []param // path parameters are derived from the path
	body                          *requestBody
	replies                       []reply // the answers that are not errors
	// errs are the codes the operation may answer with besides the ones
	// implied by the rest (401/403 by access, 413/422 by a body, 500 and
	// 503 everywhere); their statuses come from gatehouse's one table.
	errs []gatehouse.Code
	// validation marks a 422 without a body (query parameters, or one the
	// FastAPI Users document lists).
	validation bool
	// providerErrors marks a 400 whose detail may be the identity
	// provider's own error code, so no enum can list them all.
	providerErrors bool
	// standalone marks operations that use no store: no 503.
	standalone bool
	// throttled marks operations a Config.Limiter limits (429).
	// Authenticated operations need no mark: failed credentials are
	// throttled on all of them.
	throttled bool
}

type param struct {
	name, in, description string
	schema                schema
	repeated              bool
}

type requestBody struct {
	required bool
	content  map[string]schema // media type → schema
}

type reply struct {
	status      int
	description string
	media       string            // "" for an answer without a body
	schema      schema            // nil for a body that is no JSON Schema's business (HTML)
	headers     map[string]string // name → description
}

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses it).
type schema = map[string]any

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }

func arrayOf(items schema) schema { return schema{"type": "array", "items": items} }

func objectSchema(required []string, props schema) schema {
	s := schema{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// closed forbids keys beyond props: an answer growing a field (a password
// hash, say) must be a deliberate change of the document.
func closed(s schema) schema {
	s["additionalProperties"] = false
	return s
}

func nullable(typ string) schema { return schema{"type": []string{typ, "null"}} }

var (
	str       = schema{"type": "string"}
	boolean   = schema{"type": "boolean"}
	integer   = schema{"type": "integer"}
	dateTime  = schema{"type": "string", "format": "date-time"}
	strList   = arrayOf(str)
	jsonNull  = schema{"type": "null"}
	mediaJSON = "application/json"
	mediaForm = "application/x-www-form-urlencoded"
	mediaMult = "multipart/form-data"
)

// reasoned are the codes sent as {"code","reason"}; all others are sent
// as a bare string.
var reasoned = map[gatehouse.Code]bool{
	gatehouse.CodeRegisterInvalidPassword:      true,
	gatehouse.CodeResetPasswordInvalidPassword: true,
	gatehouse.CodeUpdateUserInvalidPassword:    true,
}

// SecuritySchemer may be implemented by a Transport to describe, as an
// OpenAPI Security Scheme Object ({"type":"apiKey","in":"cookie",
// "name":"…"}, say), where it reads its credential (cookie.Transport
// does). The bearer and API-key transports are described from what they
// export; a transport that is neither and lacks the method is left out.
type SecuritySchemer interface {
	OpenAPISecurityScheme() map[string]any
}

// securitySchemes describes each backend's transport, keyed by backend
// name; alternatives lists them as the alternatives an authenticated
// operation accepts, in the order the Authenticator tries them.
func (a *api) securitySchemes() (schemes map[string]any, alternatives []map[string][]string) {
	schemes = make(map[string]any)
	add := func(name string, s map[string]any) {
		schemes[name] = s
		alternatives = append(alternatives, map[string][]string{name: {}})
	}
	for _, b := range a.Authenticator.Backends() {
		if s, ok := b.Transport.(SecuritySchemer); ok {
			add(b.Name, s.OpenAPISecurityScheme())
			continue
		}
		switch t := b.Transport.(type) {
		case bearer.Transport, *bearer.Transport:
			format := "opaque"
			if _, ok := b.Strategy.(*jwt.Strategy); ok {
				format = "JWT"
			}
			add(b.Name, schema{"type": "http", "scheme": "bearer", "bearerFormat": format})
		case apikey.Transport:
			a.addAPIKeySchemes(add, b.Name, t)
		case *apikey.Transport:
			a.addAPIKeySchemes(add, b.Name, *t)
		}
	}
	return schemes, alternatives
}

func (a *api) addAPIKeySchemes(add func(string, map[string]any), name string, t apikey.Transport) {
	header := t.Header
	if header == "" {
		header = "X-API-Key"
	}
	add(name, schema{"type": "apiKey", "in": "header", "name": header})
	if t.AllowQuery {
		add(name+"_query", schema{"type": "apiKey", "in": "query", "name": "api_key"})
	}
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// openAPI renders the OpenAPI 3.1 document of the routes.
func (a *api) openAPI(routes []route) ([]byte, error) {
	schemes, alternatives := a.securitySchemes()
	paths := make(map[string]map[string]any)
	for _, rt := range routes {
		if rt.op == nil {
			continue
		}
		item := paths[rt.path]
		if item == nil {
			item = make(map[string]any)
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = a.renderOperation(rt.path, rt.op, alternatives)
	}
	return json.Marshal(map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "Gatehouse",
			"version":     "1",
			"description": "Authentication and user management, compatible with FastAPI Users.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         a.schemas(),
			"securitySchemes": schemes,
		},
	})
}

func (a *api) renderOperation(path string, op *operation, alternatives []map[string][]string) map[string]any {
	out := map[string]any{
		"operationId": op.id,
		"summary":     op.summary,
		"tags":        []string{op.tag},
	}
	if op.description != "" {
		out["description"] = op.description
	}
	var params []map[string]any
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str})
	}
	for _, p := range op.params {
		s := p.schema
		if p.repeated {
			s = arrayOf(s)
		}
		pm := map[string]any{"name": p.name, "in": p.in, "schema": s}
		if p.description != "" {
			pm["description"] = p.description
		}
		params = append(params, pm)
	}
	if params != nil {
		out["parameters"] = params
	}
	errs := slices.Clone(op.errs)
	errs = append(errs, gatehouse.CodeInternal)
	if !op.standalone {
		errs = append(errs, gatehouse.CodeUnavailable)
	}
	switch op.access {
	case accessUser, accessSuperuser, accessForwarded:
		out["security"] = alternatives
		errs = append(errs, gatehouse.CodeUnauthorized, gatehouse.CodeForbidden)
	}
	if a.limits != nil && (op.throttled || op.access == accessUser || op.access == accessSuperuser) {
		errs = append(errs, gatehouse.CodeTooManyRequests)
	}
	validation := op.validation
	if op.body != nil {
		content := make(map[string]any)
		for media, s := range op.body.content {
			content[media] = map[string]any{"schema": s}
		}
		out["requestBody"] = map[string]any{"required": op.body.required, "content": content}
		errs = append(errs, gatehouse.CodeTooLarge)
		validation = true
	}
	responses := make(map[string]any)
	for _, r := range op.replies {
		resp := map[string]any{"description": r.description}
		if r.media != "" {
			media := map[string]any{}
			if r.schema != nil {
				media["schema"] = r.schema
			}
			resp["content"] = map[string]any{r.media: media}
		}
		if len(r.headers) > 0 {
			resp["headers"] = renderHeaders(r.headers)
		}
		responses[strconv.Itoa(r.status)] = resp
	}
	if validation {
		responses["422"] = map[string]any{
			"description": "Validation Error",
			"content":     map[string]any{mediaJSON: map[string]any{"schema": ref("HTTPValidationError")}},
		}
	}
	byStatus := make(map[int][]gatehouse.Code)
	for _, c := range errs {
		if s := c.Status(); !slices.Contains(byStatus[s], c) {
			byStatus[s] = append(byStatus[s], c)
		}
	}
	for status, codes := range byStatus {
		free := op.providerErrors && status == http.StatusBadRequest
		resp := map[string]any{
			"description": errorDescription(codes, free),
			"content":     map[string]any{mediaJSON: map[string]any{"schema": errorSchema(codes, free)}},
		}
		switch status {
		case http.StatusUnauthorized:
			resp["headers"] = renderHeaders(map[string]string{"WWW-Authenticate": "Bearer"})
		case http.StatusTooManyRequests:
			resp["headers"] = map[string]any{"Retry-After": map[string]any{
				"description": "Seconds to wait before trying again, rounded up",
				"required":    true,
				"schema":      schema{"type": "integer", "minimum": 1},
			}}
		}
		responses[strconv.Itoa(status)] = resp
	}
	out["responses"] = responses
	return out
}

func renderHeaders(headers map[string]string) map[string]any {
	out := make(map[string]any, len(headers))
	for name, desc := range headers {
		out[name] = map[string]any{"description": desc, "schema": str}
	}
	return out
}

func errorDescription(codes []gatehouse.Code, free bool) string {
	names := make([]string, 0, len(codes))
	for _, c := range codes {
		names = append(names, string(c))
	}
	slices.Sort(names)
	desc := "detail: " + strings.Join(names, ", ")
	if free {
		desc += ", or the identity provider's error code"
	}
	return desc
}

// errorSchema is ErrorModel narrowed to the codes an answer can carry.
func errorSchema(codes []gatehouse.Code, free bool) schema {
	var plain, withReason []string
	for _, c := range codes {
		if reasoned[c] {
			withReason = append(withReason, string(c))
		} else {
			plain = append(plain, string(c))
		}
	}
	slices.Sort(plain)
	slices.Sort(withReason)
	var alts []schema
	if free {
		alts = append(alts, str)
	} else if len(plain) > 0 {
		alts = append(alts, schema{"type": "string", "enum": plain})
	}
	if len(withReason) > 0 {
		alts = append(alts, closed(objectSchema([]string{"code", "reason"}, schema{
			"code":   schema{"type": "string", "enum": withReason},
			"reason": str,
		})))
	}
	detail := alts[0]
	if len(alts) > 1 {
		detail = schema{"anyOf": alts}
	}
	props := schema{"detail": detail}
	if slices.Contains(codes, gatehouse.CodeLoginMFARequired) {
		props["mfa_token"] = schema{"type": "string", "description": "With LOGIN_MFA_REQUIRED and LOGIN_MFA_SETUP_REQUIRED: the token of the login's second step"}
	}
	return closed(objectSchema([]string{"detail"}, props))
}

// fieldSchema is the JSON Schema of a custom field's value.
func fieldSchema(f gatehouse.Field, null bool) schema {
	typ, format := "string", ""
	switch f.Type {
	case gatehouse.FieldNumber:
		typ = "number"
	case gatehouse.FieldInteger:
		typ = "integer"
	case gatehouse.FieldBoolean:
		typ = "boolean"
	case gatehouse.FieldTime:
		format = "date-time"
	}
	s := schema{"type": typ}
	if null {
		s = nullable(typ)
	}
	if format != "" {
		s["format"] = format
	}
	return s
}

// schemas are the document's components.schemas.
func (a *api) schemas() map[string]any {
	read := schema{
		"id":           schema{"type": "string", "format": "uuid"},
		"email":        schema{"type": "string", "format": "email"},
		"is_active":    boolean,
		"is_superuser": boolean,
		"is_verified":  boolean,
	}
	readRequired := []string{"id", "email", "is_active", "is_superuser", "is_verified"}
	create := schema{
		"email":        schema{"type": "string", "format": "email"},
		"password":     str,
		"is_active":    schema{"type": []string{"boolean", "null"}, "description": "Ignored: a registration is always active."},
		"is_superuser": schema{"type": []string{"boolean", "null"}, "description": "Ignored."},
		"is_verified":  schema{"type": []string{"boolean", "null"}, "description": "Ignored."},
	}
	createRequired := []string{"email", "password"}
	update := schema{
		"email":        schema{"type": []string{"string", "null"}, "format": "email"},
		"password":     nullable("string"),
		"is_active":    schema{"type": []string{"boolean", "null"}, "description": "Applied by PATCH /users/{id} only."},
		"is_superuser": schema{"type": []string{"boolean", "null"}, "description": "Applied by PATCH /users/{id} only."},
		"is_verified":  schema{"type": []string{"boolean", "null"}, "description": "Applied by PATCH /users/{id} only."},
	}
	for _, f := range a.Fields {
		// Users made by an identity provider have no custom values: null.
		read[f.Name] = fieldSchema(f, true)
		readRequired = append(readRequired, f.Name)
		create[f.Name] = fieldSchema(f, f.Nullable)
		if f.Required {
			createRequired = append(createRequired, f.Name)
		}
		update[f.Name] = fieldSchema(f, f.Nullable)
	}
	if a.Roles != nil {
		read["roles"], read["permissions"] = strList, strList
		readRequired = append(readRequired, "roles", "permissions")
	}
	if len(a.OAuth) > 0 {
		read["oauth_accounts"] = schema{
			"type": "array", "items": ref("OAuthAccount"),
			"description": "FastAPI Users' field; Gatehouse lists linked accounts at GET /users/me/oauth-accounts instead.",
		}
	}
	return map[string]any{
		"UserRead":   closed(objectSchema(readRequired, read)),
		"UserCreate": objectSchema(createRequired, create),
		"UserUpdate": objectSchema(nil, update),
		"UserPage":   closed(objectSchema([]string{"items", "total"}, schema{"items": arrayOf(ref("UserRead")), "total": integer})),
		"BearerResponse": closed(objectSchema([]string{"access_token", "token_type"}, schema{
			"access_token":  str,
			"token_type":    schema{"type": "string", "const": "bearer"},
			"refresh_token": str,
			"expires_in":    schema{"type": "integer", "minimum": 0},
		})),
		"LoginForm": objectSchema([]string{"username", "password"}, schema{
			"username":      schema{"type": "string", "description": "The e-mail address."},
			"password":      str,
			"grant_type":    schema{"type": "string", "pattern": "^password$"},
			"scope":         str,
			"client_id":     str,
			"client_secret": str,
		}),
		"RefreshRequest": objectSchema([]string{"refresh_token"}, schema{"refresh_token": str}),
		"RefreshForm": objectSchema([]string{"grant_type", "refresh_token"}, schema{
			"grant_type":    schema{"type": "string", "const": "refresh_token"},
			"refresh_token": str,
		}),
		"EmailRequest":         objectSchema([]string{"email"}, schema{"email": schema{"type": "string", "format": "email"}}),
		"VerifyRequest":        objectSchema([]string{"token"}, schema{"token": str}),
		"ResetPasswordRequest": objectSchema([]string{"token", "password"}, schema{"token": str, "password": str}),
		"ErrorModel": closed(objectSchema([]string{"detail"}, schema{"detail": schema{"anyOf": []schema{
			str,
			closed(objectSchema([]string{"code", "reason"}, schema{"code": str, "reason": str})),
		}}})),
		"ValidationError": objectSchema([]string{"type", "loc", "msg"}, schema{
			"type": str,
			"loc":  arrayOf(schema{"type": []string{"string", "integer"}}),
			"msg":  str,
			"input": schema{
				"description": "What the client sent, or null.",
				"type":        []string{"string", "number", "boolean", "object", "array", "null"},
			},
		}),
		"HTTPValidationError": closed(objectSchema([]string{"detail"}, schema{"detail": arrayOf(ref("ValidationError"))})),
		"Session": closed(objectSchema([]string{"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "backend", "current"}, schema{
			"id":           schema{"type": "string", "format": "uuid"},
			"created_at":   dateTime,
			"last_used_at": dateTime,
			"expires_at":   dateTime,
			"user_agent":   str,
			"ip":           str,
			"backend":      str,
			"current":      boolean,
		})),
		"Role": closed(objectSchema([]string{"name", "description", "permissions"}, schema{
			"name": str, "description": str, "permissions": strList,
		})),
		"RoleCreate": objectSchema([]string{"name"}, schema{
			"name":        schema{"type": "string", "pattern": roleName.String()},
			"description": str,
			"permissions": arrayOf(schema{"type": "string", "pattern": permissionName.String(), "maxLength": 128}),
		}),
		"RoleUpdate": objectSchema(nil, schema{
			"description": str,
			"permissions": arrayOf(schema{"type": "string", "pattern": permissionName.String(), "maxLength": 128}),
		}),
		"UserRoles": objectSchema([]string{"roles"}, schema{"roles": arrayOf(schema{"type": "string", "pattern": roleName.String()})}),
		"APIKey": closed(objectSchema([]string{"id", "name", "prefix", "scopes", "created_at", "expires_at"}, schema{
			"id":           schema{"type": "string", "format": "uuid"},
			"name":         str,
			"prefix":       str,
			"scopes":       strList,
			"created_at":   dateTime,
			"last_used_at": schema{"type": []string{"string", "null"}, "format": "date-time"},
			"expires_at":   schema{"type": []string{"string", "null"}, "format": "date-time"},
			"key":          schema{"type": "string", "description": "The key itself: only in the answer that creates it."},
		})),
		"APIKeyCreate": objectSchema([]string{"name", "scopes"}, schema{
			"name":       schema{"type": "string", "minLength": 1, "maxLength": 100},
			"scopes":     arrayOf(schema{"type": "string", "pattern": permissionName.String(), "maxLength": 128}),
			"expires_at": schema{"type": []string{"string", "null"}, "format": "date-time"},
		}),
		"OAuthAccount": closed(objectSchema([]string{"id", "oauth_name", "account_id", "account_email"}, schema{
			"id": schema{"type": "string", "format": "uuid"}, "oauth_name": str, "account_id": str, "account_email": str,
		})),
		"AuthorizationURL":  closed(objectSchema([]string{"authorization_url"}, schema{"authorization_url": schema{"type": "string", "format": "uri"}})),
		"AuthorizeRequest":  objectSchema([]string{"action"}, schema{"action": str, "resource": schema{"type": "object"}}),
		"AuthorizeResponse": closed(objectSchema([]string{"allow", "reason"}, schema{"allow": boolean, "reason": str})),
		"Health":            closed(objectSchema([]string{"status"}, schema{"status": schema{"type": "string", "const": "ok"}})),
		"MFALogin": objectSchema([]string{"mfa_token"}, schema{"mfa_token": str, "code": str,
			"credential": schema{"type": "object", "description": "A passkey's answer: the PublicKeyCredential of navigator.credentials.get, as JSON"}}),
		"MFAToken":     objectSchema([]string{"mfa_token"}, schema{"mfa_token": str}),
		"MFALoginCode": objectSchema([]string{"mfa_token", "code"}, schema{"mfa_token": str, "code": str}),
		"MFAPolicy": objectSchema([]string{"required"}, schema{"required": schema{"type": "string", "enum": []string{
			gatehouse.MFARequiredNobody, gatehouse.MFARequiredSuperusers, gatehouse.MFARequiredEveryone}}}),
		"PasskeyCeremony": closed(objectSchema([]string{"options"}, schema{
			"options": schema{"type": "object", "description": "The argument of navigator.credentials.create or .get, with binary members in base64url"},
			"state":   schema{"type": "string", "description": "Sealed; send it back with the browser's answer"},
		})),
		"PasskeyCreate": objectSchema([]string{"state", "credential"}, schema{"state": str, "name": str,
			"credential": schema{"type": "object", "description": "The PublicKeyCredential of navigator.credentials.create, as JSON"}}),
		"SetupPasskey": objectSchema([]string{"mfa_token", "state", "credential"}, schema{"mfa_token": str, "state": str, "name": str,
			"credential": schema{"type": "object", "description": "The PublicKeyCredential of navigator.credentials.create, as JSON"}}),
		"PasskeyLogin": objectSchema([]string{"state", "credential"}, schema{"state": str,
			"credential": schema{"type": "object", "description": "The PublicKeyCredential of navigator.credentials.get, as JSON"}}),
		"Passkey":        passkeySchema(false),
		"PasskeyCreated": passkeySchema(true),
		"MFACode":        objectSchema([]string{"code"}, schema{"code": schema{"type": "string", "description": "Six digits of the app, or a recovery code"}}),
		"MFADisable":     objectSchema(nil, schema{"code": str, "password": str}),
		"MFAStatus": closed(objectSchema([]string{"totp", "passkeys", "recovery_codes", "required"}, schema{
			"totp": boolean, "passkeys": arrayOf(ref("Passkey")), "recovery_codes": integer,
			"required": schema{"type": "boolean", "description": "Whether the user must have a second factor"}})),
		"TOTPEnrolment": closed(objectSchema([]string{"secret", "otpauth_uri"}, schema{"secret": str, "otpauth_uri": str})),
		"RecoveryCodes": closed(objectSchema([]string{"recovery_codes"}, schema{"recovery_codes": strList})),
		"Readiness": closed(objectSchema([]string{"status", "checks"}, schema{
			"status": schema{"type": "string", "enum": []string{"ok", "unavailable"}},
			"checks": schema{"type": "object", "additionalProperties": schema{"type": "string", "enum": []string{"ok", "unavailable"}}},
		})),
		"AuditEvent": closed(objectSchema([]string{"id", "time", "event", "user_id", "actor_id", "ip", "user_agent", "outcome", "detail", "attrs"}, schema{
			"id":         schema{"type": "string", "format": "uuid"},
			"time":       dateTime,
			"event":      str,
			"user_id":    schema{"type": []string{"string", "null"}, "format": "uuid", "description": "The user the event is about; null when unknown."},
			"actor_id":   schema{"type": []string{"string", "null"}, "format": "uuid", "description": "Who acted, when not the user: an administrator."},
			"ip":         str,
			"user_agent": str,
			"outcome":    schema{"type": "string", "enum": []string{"success", "failure", "denied"}},
			"detail":     schema{"type": "string", "description": "Why, as an error code; empty on success."},
			"attrs":      schema{"type": "object", "additionalProperties": str, "description": "Identifiers such as backend, key_id, roles, provider; never a secret."},
		})),
		"AuditPage": closed(objectSchema([]string{"items", "total"}, schema{"items": arrayOf(ref("AuditEvent")), "total": integer})),
		"JWKS":      objectSchema([]string{"keys"}, schema{"keys": arrayOf(objectSchema([]string{"kty"}, schema{"kty": str, "kid": str}))}),
	}
}

// passkeySchema is a passkey as listed, or as just added (with the
// recovery codes of a first second factor).
func passkeySchema(created bool) schema {
	props := schema{
		"id": schema{"type": "string", "format": "uuid"}, "name": str, "created_at": dateTime,
		"last_used_at": schema{"type": []string{"string", "null"}, "format": "date-time"},
	}
	if created {
		props["recovery_codes"] = strList
	}
	return closed(objectSchema([]string{"id", "name", "created_at", "last_used_at"}, props))
}
