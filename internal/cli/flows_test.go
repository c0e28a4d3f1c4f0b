package cli

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/jwt"
)

func TestFlowSettingsDefaults(t *testing.T) {
	c, err := resolve(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifyTokenTTL != time.Hour || c.ResetTokenTTL != time.Hour {
		t.Errorf("VerifyTokenTTL, ResetTokenTTL = %s, %s; want 1h, 1h", c.VerifyTokenTTL, c.ResetTokenTTL)
	}
	if c.SMTPURL != "" || c.SMTP != nil || c.MailDir != "" || c.WebhookURL != "" || c.WebhookSecret != "" || c.UserFields != nil {
		t.Errorf("mail, webhook or fields configured by default: %+v", c)
	}
	if c.MailFrom != "Gatehouse <noreply@127.0.0.1>" {
		t.Errorf("MailFrom = %q, want Gatehouse <noreply@127.0.0.1> (the listen address's host)", c.MailFrom)
	}
	if c.MailTemplates == nil {
		t.Error("MailTemplates is nil, want the built-in templates")
	}
}

func TestFlowSettings(t *testing.T) {
	tmpl := t.TempDir()
	if err := os.WriteFile(filepath.Join(tmpl, "verify.txt"), []byte("Hello {{.Email}}, open {{.Link}} within {{.ExpiresIn}}.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := strings.Repeat("w", 32)
	c, err := resolve(t, map[string]string{
		"GATEHOUSE_VERIFY_TOKEN_TTL": "24h",
		"GATEHOUSE_RESET_TOKEN_TTL":  "1h", // the flag wins
		"GATEHOUSE_SMTP_URL":         "smtps://user:pass@mail.example.com:2465",
		"GATEHOUSE_PUBLIC_URL":       "https://auth.example.com/",
		"GATEHOUSE_WEBHOOK_URL":      "https://hooks.example.com/gatehouse?key=k",
		"GATEHOUSE_WEBHOOK_SECRET":   secret,
		"GATEHOUSE_USER_FIELDS":      "first_name:string:required, age:int,score:number,newsletter:bool,birthday:time",
	}, "--reset-token-ttl", "15m", "--mail-templates", tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if c.VerifyTokenTTL != 24*time.Hour || c.ResetTokenTTL != 15*time.Minute {
		t.Errorf("VerifyTokenTTL, ResetTokenTTL = %s, %s; want 24h, 15m", c.VerifyTokenTTL, c.ResetTokenTTL)
	}
	if c.SMTP == nil || c.SMTPURL != "smtps://user:pass@mail.example.com:2465" {
		t.Errorf("SMTP = %v, SMTPURL = %q", c.SMTP, c.SMTPURL)
	}
	if c.PublicURL != "https://auth.example.com" || c.MailFrom != "Gatehouse <noreply@auth.example.com>" {
		t.Errorf("PublicURL, MailFrom = %q, %q; want the public URL's host in the sender", c.PublicURL, c.MailFrom)
	}
	if c.WebhookURL != "https://hooks.example.com/gatehouse?key=k" || c.WebhookSecret != secret {
		t.Errorf("WebhookURL, WebhookSecret = %q, %q", c.WebhookURL, c.WebhookSecret)
	}
	m, err := c.MailTemplates.Verify("ann@example.com", "https://auth.example.com/verify?token=t", time.Hour)
	if err != nil || m.Text != "Hello ann@example.com, open https://auth.example.com/verify?token=t within 1 hour.\n" {
		t.Errorf("the template of --mail-templates was not used: %q, %v", m.Text, err)
	}
	want := []gatehouse.Field{
		{Name: "first_name", Type: gatehouse.FieldString, Required: true},
		{Name: "age", Type: gatehouse.FieldInteger, Nullable: true},
		{Name: "score", Type: gatehouse.FieldNumber, Nullable: true},
		{Name: "newsletter", Type: gatehouse.FieldBoolean, Nullable: true},
		{Name: "birthday", Type: gatehouse.FieldTime, Nullable: true},
	}
	if !slices.EqualFunc(c.UserFields, want, sameField) {
		t.Errorf("UserFields = %+v, want %+v", c.UserFields, want)
	}

	c, err = resolve(t, map[string]string{"GATEHOUSE_MAIL_DIR": "mails", "GATEHOUSE_MAIL_FROM": "Acme <no-reply@acme.example>"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MailDir != "mails" || c.MailFrom != "Acme <no-reply@acme.example>" || c.SMTP != nil {
		t.Errorf("MailDir, MailFrom, SMTP = %q, %q, %v", c.MailDir, c.MailFrom, c.SMTP)
	}
}

func TestDefaultMailFrom(t *testing.T) {
	for _, tc := range []struct{ publicURL, addr, want string }{
		{"", "127.0.0.1:8000", "Gatehouse <noreply@127.0.0.1>"},
		{"", "0.0.0.0:8000", "Gatehouse <noreply@localhost>"},
		{"", ":8000", "Gatehouse <noreply@localhost>"},
		{"", "[::1]:8000", "Gatehouse <noreply@[::1]>"},
		{"https://auth.example.com:8443/gatehouse", "0.0.0.0:8000", "Gatehouse <noreply@auth.example.com>"},
		{"http://[2001:db8::1]:8000", "[::]:8000", "Gatehouse <noreply@[2001:db8::1]>"},
	} {
		got := defaultMailFrom(tc.publicURL, tc.addr)
		if got != tc.want {
			t.Errorf("defaultMailFrom(%q, %q) = %q, want %q", tc.publicURL, tc.addr, got, tc.want)
		}
		if err := checkMailAddress(got); err != nil {
			t.Errorf("defaultMailFrom(%q, %q) = %q: %v", tc.publicURL, tc.addr, got, err)
		}
	}
}

func TestParseUserFields(t *testing.T) {
	for _, s := range []string{"", "a:string", "a:int:required", "a_1:number, b:bool ,c:time:required"} {
		if _, err := parseUserFields(s); err != nil {
			t.Errorf("parseUserFields(%q): %v", s, err)
		}
	}
	bad := []string{
		",", "a:string,", " ", "a", "a:", ":string", "a:string:required:x", "a:String", "a:integer", "a:float",
		"a:string:Required", "a:string:", "A:string", "1a:string", "_a:string", "a-b:string", "a b:string",
		"a:string,a:int", strings.Repeat("a", 64) + ":string", "a:str ing", "a :string", "é:string",
	}
	for _, name := range reservedFields {
		bad = append(bad, name+":string")
	}
	var many []string
	for i := range maxUserFields + 1 {
		many = append(many, "f"+strings.Repeat("x", i)+":bool")
	}
	bad = append(bad, strings.Join(many, ","))
	for _, s := range bad {
		if f, err := parseUserFields(s); err == nil {
			t.Errorf("parseUserFields(%q) = %+v, want an error", s, f)
		}
	}
	if _, err := parseUserFields(strings.Repeat("a", 63) + ":string"); err != nil {
		t.Errorf("a 63-character name: %v", err)
	}
}

// FuzzParseUserFields checks that whatever parseUserFields accepts is a
// valid field list, which httpapi.New would take, and that it round-trips.
func FuzzParseUserFields(f *testing.F) {
	for _, s := range []string{
		"", "first_name:string", "age:int:required", "a:number,b:bool,c:time", " a:string , b:int ",
		"email:string", "a:string,a:string", "a:string:required:extra", "A:int", "a::required", ",,", "a:time:",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields, err := parseUserFields(s)
		if err != nil {
			return
		}
		seen := make(map[string]bool)
		for _, fd := range fields {
			switch {
			case !fieldName.MatchString(fd.Name):
				t.Fatalf("%q: bad name %q accepted", s, fd.Name)
			case slices.Contains(reservedFields, fd.Name):
				t.Fatalf("%q: reserved name %q accepted", s, fd.Name)
			case seen[fd.Name]:
				t.Fatalf("%q: %q twice", s, fd.Name)
			case fd.Type < gatehouse.FieldString || fd.Type > gatehouse.FieldTime:
				t.Fatalf("%q: field %q has type %d", s, fd.Name, fd.Type)
			case fd.Nullable == fd.Required:
				t.Fatalf("%q: field %q is Required=%v Nullable=%v", s, fd.Name, fd.Required, fd.Nullable)
			}
			seen[fd.Name] = true
		}
		again, err := parseUserFields(formatUserFields(fields))
		if err != nil || !slices.EqualFunc(again, fields, sameField) {
			t.Fatalf("%q: round trip through %q gave %+v, %v", s, formatUserFields(fields), again, err)
		}
	})
}

func sameField(a, b gatehouse.Field) bool {
	return a.Name == b.Name && a.Type == b.Type && a.Required == b.Required && a.Nullable == b.Nullable && a.Validate == nil && b.Validate == nil
}

// TestFlowSigner checks that the account-flow tokens are signed with a key
// derived from the secret (HKDF-SHA256, info "gatehouse account tokens
// v1"), not with the secret itself, which signs the access tokens.
func TestFlowSigner(t *testing.T) {
	secret := strings.Repeat("k", 40)
	s, err := flowSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(gatehouse.AudienceVerify, map[string]string{"sub": "x"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "gatehouse account tokens v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	derived, _ := jwt.NewSigner(key)
	if claims, err := derived.Parse(tok, gatehouse.AudienceVerify); err != nil || claims["sub"] != "x" {
		t.Errorf("the token does not verify under the derived key: %v", err)
	}
	plain, _ := jwt.NewSigner([]byte(secret))
	if _, err := plain.Parse(tok, gatehouse.AudienceVerify); err == nil {
		t.Error("the token verifies under the secret itself")
	}
}

// TestAccountHooksClose checks that closing the hooks is bounded by its
// context and happens once.
func TestAccountHooksClose(t *testing.T) {
	calls := 0
	h := &accountHooks{closers: []func(context.Context) error{
		func(ctx context.Context) error { calls++; <-ctx.Done(); return ctx.Err() },
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := h.Close(ctx); err == nil {
		t.Error("Close returned nil although its closer gave up")
	}
	h.Close(context.Background())
	if calls != 1 {
		t.Errorf("the closer ran %d times, want 1", calls)
	}
}
