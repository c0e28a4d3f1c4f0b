package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestRegister(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{maxBody: 4096})
		s.register("taken@example.com", "password123")

		const tooShort = `{"detail":{"code":"REGISTER_INVALID_PASSWORD","reason":"Password should be at least 8 characters"}}`
		for _, tc := range []struct {
			name   string
			ct     string
			body   string
			status int
			want   string // exact body, or for 201 the e-mail it must show
		}{
			{"ok", "application/json", `{"email":"new@example.com","password":"password123"}`, 201, "new@example.com"},
			{"no content type is read as JSON", "", `{"email":"nocontent@example.com","password":"password123"}`, 201, "nocontent@example.com"},
			{"json subtype", "application/vnd.api+json; charset=utf-8", `{"email":"subtype@example.com","password":"password123"}`, 201, "subtype@example.com"},
			{"flags are ignored", "application/json", `{"email":"flags@example.com","password":"password123","is_active":false,"is_superuser":true,"is_verified":true}`, 201, "flags@example.com"},
			{"unknown keys are ignored", "application/json", `{"email":"extra@example.com","password":"password123","hashed_password":"x","id":"00000000-0000-0000-0000-000000000000"}`, 201, "extra@example.com"},
			{"e-mail is normalized", "application/json", `{"email":"  Alice Smith <Alice@EXAMPLE.com> ","password":"password123"}`, 201, "Alice@example.com"},
			{"existing e-mail in other case", "application/json", `{"email":"TAKEN@example.com","password":"password123"}`, 400, `{"detail":"REGISTER_USER_ALREADY_EXISTS"}`},
			{"password too short", "application/json", `{"email":"short@example.com","password":"1234567"}`, 400, tooShort},
			{"bad password wins over existing e-mail", "application/json", `{"email":"taken@example.com","password":"1234567"}`, 400, tooShort},
			{"password equal to e-mail", "application/json", `{"email":"same@example.com","password":"same@example.com"}`, 400, ""},
			{"missing fields", "application/json", `{}`, 422,
				`{"detail":[{"type":"missing","loc":["body","email"],"msg":"Field required","input":null},{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"null password", "application/json", `{"email":"n@example.com","password":null}`, 422,
				`{"detail":[{"type":"missing","loc":["body","password"],"msg":"Field required","input":null}]}`},
			{"password not a string", "application/json", `{"email":"n@example.com","password":12345678}`, 422,
				`{"detail":[{"type":"string_type","loc":["body","password"],"msg":"Input should be a valid string","input":12345678}]}`},
			{"not an e-mail", "application/json", `{"email":"not-an-email","password":"password123"}`, 422,
				`{"detail":[{"type":"value_error","loc":["body","email"],"msg":"value is not a valid email address: The email address is not valid. It must have exactly one @-sign.","input":"not-an-email"}]}`},
			{"special-use domain", "application/json", `{"email":"a@host.test","password":"password123"}`, 422, ""},
			{"no dot in domain", "application/json", `{"email":"a@localhost","password":"password123"}`, 422, ""},
			{"control character in e-mail", "application/json", "{\"email\":\"a\\u0000b@example.com\",\"password\":\"password123\"}", 422, ""},
			{"newline in e-mail", "application/json", `{"email":"a@example.com\nBcc: x@example.com","password":"password123"}`, 422, ""},
			{"malformed JSON", "application/json", `{"email":`, 422,
				`{"detail":[{"type":"json_invalid","loc":["body",0],"msg":"JSON decode error","input":{}}]}`},
			{"invalid UTF-8", "application/json", "{\"email\":\"\xff@example.com\",\"password\":\"password123\"}", 422, ""},
			{"array body", "application/json", `[1,2]`, 422,
				`{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":[1,2]}]}`},
			{"form body", "application/x-www-form-urlencoded", `email=a@example.com&password=password123`, 422,
				`{"detail":[{"type":"model_attributes_type","loc":["body"],"msg":"Input should be a valid dictionary or object to extract fields from","input":null}]}`},
			{"empty body", "application/json", ``, 422,
				`{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
			{"oversized body", "application/json", `{"email":"big@example.com","password":"` + strings.Repeat("x", 5000) + `"}`, 413,
				`{"detail":"Request Entity Too Large"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.do(http.MethodPost, "/auth/register", tc.ct, tc.body, "")
				if res.status != tc.status {
					t.Fatalf("status = %d, want %d (%s)", res.status, tc.status, res.body)
				}
				if tc.status == 201 {
					u := res.json(t)
					if u["email"] != tc.want || u["is_active"] != true || u["is_superuser"] != false || u["is_verified"] != false {
						t.Fatalf("body = %s", res.body)
					}
					if _, err := gatehouse.ParseID(u["id"].(string)); err != nil {
						t.Fatalf("id: %v", err)
					}
					want := `{"id":"` + u["id"].(string) + `","email":"` + tc.want + `","is_active":true,"is_superuser":false,"is_verified":false}`
					if res.body != want {
						t.Fatalf("body = %s\nwant   %s", res.body, want)
					}
					return
				}
				if tc.want != "" && res.body != tc.want {
					t.Fatalf("body = %s\nwant   %s", res.body, tc.want)
				}
			})
		}
		// Nothing the failures above sent was stored.
		users, total, err := s.users.FindUsers(context.Background(), gatehouse.UserFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if total != 7 {
			var emails []string
			for _, u := range users {
				emails = append(emails, u.Email)
			}
			t.Fatalf("%d users stored, want 7: %v", total, emails)
		}
	})
}

func TestCustomFields(t *testing.T) {
	fields := []gatehouse.Field{
		{Name: "first_name", Type: gatehouse.FieldString, Nullable: true},
		{Name: "age", Type: gatehouse.FieldInteger, Nullable: true, Validate: func(v any) string {
			if v.(float64) < 0 {
				return "age must not be negative"
			}
			return ""
		}},
		{Name: "newsletter", Type: gatehouse.FieldBoolean, Required: true},
		{Name: "born", Type: gatehouse.FieldTime, Nullable: true},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := newServer(t, e, options{fields: fields})
		res := s.json(http.MethodPost, "/auth/register", `{"email":"f@example.com","password":"password123","first_name":"Ann","newsletter":true,"born":"1990-05-06T07:08:09+02:00"}`, "")
		if res.status != 201 {
			t.Fatalf("register: %d %s", res.status, res.body)
		}
		id := res.json(t)["id"].(string)
		want := `{"id":"` + id + `","email":"f@example.com","is_active":true,"is_superuser":false,"is_verified":false,"first_name":"Ann","age":null,"newsletter":true,"born":"1990-05-06T05:08:09Z"}`
		if res.body != want {
			t.Fatalf("body = %s\nwant   %s", res.body, want)
		}
		for _, tc := range []struct {
			body string
			want string
		}{
			{`{"email":"g@example.com","password":"password123"}`,
				`{"detail":[{"type":"missing","loc":["body","newsletter"],"msg":"Field required","input":null}]}`},
			{`{"email":"g@example.com","password":"password123","newsletter":"yes","age":1.5,"first_name":7}`,
				`{"detail":[{"type":"string_type","loc":["body","first_name"],"msg":"Input should be a valid string","input":7},{"type":"int_type","loc":["body","age"],"msg":"Input should be a valid integer","input":1.5},{"type":"bool_type","loc":["body","newsletter"],"msg":"Input should be a valid boolean","input":"yes"}]}`},
			{`{"email":"g@example.com","password":"password123","newsletter":false,"age":-1}`,
				`{"detail":[{"type":"value_error","loc":["body","age"],"msg":"Value error, age must not be negative","input":-1}]}`},
			{`{"email":"g@example.com","password":"password123","newsletter":false,"born":"yesterday"}`,
				`{"detail":[{"type":"datetime_type","loc":["body","born"],"msg":"Input should be a valid datetime","input":"yesterday"}]}`},
		} {
			res := s.json(http.MethodPost, "/auth/register", tc.body, "")
			if res.status != 422 || res.body != tc.want {
				t.Fatalf("%s:\n got %d %s\nwant 422 %s", tc.body, res.status, res.body, tc.want)
			}
		}
		tok := s.login("f@example.com", "password123")
		res = s.json(http.MethodPatch, "/users/me", `{"age":42,"first_name":null}`, tok)
		want = `{"id":"` + id + `","email":"f@example.com","is_active":true,"is_superuser":false,"is_verified":false,"first_name":null,"age":42,"newsletter":true,"born":"1990-05-06T05:08:09Z"}`
		if res.status != 200 || res.body != want {
			t.Fatalf("patch: %d %s\nwant %s", res.status, res.body, want)
		}
		if res := s.do(http.MethodGet, "/users/me", "", "", tok); res.body != want {
			t.Fatalf("stored: %s", res.body)
		}
	})
}
